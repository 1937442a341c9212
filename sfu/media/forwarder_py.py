"""One subscription's per-packet step in pure Python: the spec cython_ext/forwarder.pyx matches.

Decide (``LayerSelector``), renumber (``Munger``, ``Vp8Munger``) and rewrite (``rewrite_rtp``)
are composed here exactly as the compiled twin inlines them, so that each part keeps its own
readable spec and unit tests. Both implementations take the same arguments, return the same
values and raise the same errors; tests run against both. Import through sfu.media.kernels.

The compiled twin types the integers as C ints (layers, ids) or long long (sequence numbers,
timestamps, picture ids, times): values outside those ranges raise OverflowError there. Times are
a monotonic clock in ms, never negative.
"""

from __future__ import annotations

from collections.abc import Callable

from sfu.media.counters import DropReason
from sfu.media.history_py import HISTORY_SIZE, PacketHistory
from sfu.media.munger import Munger
from sfu.media.packet_py import RtpPacket
from sfu.media.selector import FORWARD, NO_LAYER, LayerSelector
from sfu.media.vp8munger import Vp8Munger
from sfu.rtp.rtp_py import rewrite_rtp


def abs_send_time(now_ms: int) -> int:
    """abs-send-time: seconds in 6.18 fixed point, 24 bits (webrtc.org/experiments/rtp-hdrext)."""
    return ((now_ms << 18) // 1000) & 0xFFFFFF


class Forwarder:
    """Forwards one published track's packets as one subscriber's stream.

    The subscriber's SSRC, payload type, extension ids (``transport_cc_id``: a slot for the
    transport to stamp) and ``send_rtp`` are fixed at construction; ``target`` is the layer to
    converge on (``NO_LAYER`` pauses), ``current`` the layer being sent. ``history`` remembers
    how each sent packet was numbered, for NACKs.
    """

    __slots__ = (
        "_abs_send_time_id",
        "_audio_level_id",
        "_clock_rate",
        "_frame_ended",
        "_mid",
        "_mid_id",
        "_munger",
        "_payload_type",
        "_selector",
        "_send_rtp",
        "_ssrc",
        "_transport_cc_id",
        "_vp8",
        "history",
        "octets_sent",
        "packets_sent",
    )

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        mid_id: int,
        mid: bytes,
        abs_send_time_id: int,
        audio_level_id: int,
        clock_rate: int,
        first_seq: int,
        first_ts: int,
        target: int,
        send_rtp: Callable[[bytes], bool],
        history_size: int = HISTORY_SIZE,
        transport_cc_id: int = 0,
    ) -> None:
        # rewrite_rtp's checks, made once here rather than on a packet
        if max(mid_id, abs_send_time_id, audio_level_id, transport_cc_id) > 14:
            raise ValueError("rtp extension id out of range")
        if len(mid) > 16:
            raise ValueError("rtp mid too long")
        self._ssrc = ssrc
        self._payload_type = payload_type
        self._mid_id = mid_id
        self._mid = mid
        self._abs_send_time_id = abs_send_time_id
        self._audio_level_id = audio_level_id
        self._transport_cc_id = transport_cc_id
        self._clock_rate = clock_rate
        self._selector = LayerSelector(target)
        self._munger = Munger(first_seq=first_seq, first_ts=first_ts)
        self._vp8 = Vp8Munger()
        self._send_rtp = send_rtp
        self.history = PacketHistory(history_size)
        self._frame_ended = False  # the last packet numbered had the marker bit
        self.packets_sent = 0
        self.octets_sent = 0  # payload and padding, for sender reports

    def forward(self, packet: RtpPacket, now_ms: int) -> bytes | int:
        """The packet to send for this received one, or why not (a ``DropReason.code``), or
        ``SWITCH`` (the target layer's keyframe: call switch(), then forward() again). What is
        to be sent is kept in the history."""
        decision = self._selector.decide(packet.layer, packet.keyframe)
        if decision != FORWARD:
            return decision
        last_seq = self._munger.last_seq
        translated = self._munger.translate(packet.ext_seq, packet.timestamp, now_ms)
        if translated is None:
            return DropReason.TOO_OLD.code  # from before the current layer's start point
        if self._munger.last_seq != last_seq:
            self._frame_ended = packet.marker
        seq, ts = translated
        picture_id, tl0picidx = self._vp8.translate(packet.picture_id, packet.tl0picidx)
        out = self.rewrite(packet, seq, ts, picture_id, tl0picidx, now_ms)
        self.history.put(seq & 0xFFFF, packet.layer, packet.ext_seq, ts, picture_id, tl0picidx)
        return out

    def forward_late(self, packet: RtpPacket, now_ms: int) -> bytes | None:
        """The packet to send for one of the layer a congestion cut stopped (``pause``) that
        was reordered behind the cut: older than the last one sent, it completes a frame the
        subscriber has begun. None for any other packet, or once a layer started again (the
        numbering is then the new layer's). Kept in the history, as ``forward`` does."""
        if self._selector.current != NO_LAYER:
            return None
        translated = self._munger.translate_late(packet.ext_seq, packet.timestamp)
        if translated is None:
            return None
        seq, ts = translated
        picture_id, tl0picidx = self._vp8.translate(packet.picture_id, packet.tl0picidx)
        out = self.rewrite(packet, seq, ts, picture_id, tl0picidx, now_ms)
        self.history.put(seq, packet.layer, packet.ext_seq, ts, picture_id, tl0picidx)
        return out

    def send(self, out: bytes) -> bool:
        """Send a forwarded packet; count it if it went."""
        if not self._send_rtp(out):
            return False
        self.packets_sent += 1
        self.octets_sent += len(out) - 12
        return True

    def rewrite(
        self,
        packet: RtpPacket,
        seq: int,
        timestamp: int,
        picture_id: int,
        tl0picidx: int,
        now_ms: int,
    ) -> bytes:
        """``packet`` as this subscriber gets it under this numbering (a history entry's, for a
        NACK)."""
        return self._build(
            packet.data,
            packet.payload_offset,
            seq,
            timestamp,
            packet.marker,
            packet.audio_level,
            picture_id,
            tl0picidx,
            now_ms,
        )

    def _build(
        self,
        data: bytes,
        payload_offset: int,
        seq: int,
        timestamp: int,
        marker: bool,
        audio_level: int,
        picture_id: int,
        tl0picidx: int,
        now_ms: int,
    ) -> bytes:
        return rewrite_rtp(
            data,
            payload_offset,
            self._ssrc,
            self._payload_type,
            seq,
            timestamp,
            marker,
            self._mid_id,
            self._mid,
            self._abs_send_time_id,
            abs_send_time(now_ms),
            self._audio_level_id,
            audio_level,
            picture_id,
            tl0picidx,
            self._transport_cc_id,
        )

    def pad(self, size: int, now_ms: int) -> bytes | None:
        """A padding-only packet (RFC 3550 §5.1: ``size`` bytes of padding, 1-255) numbered
        right after the last packet sent, or None unless that packet ended a frame (a number
        taken inside a frame would keep the subscriber from completing it) or nothing is sent.
        What a bandwidth probe sends when the subscriber has no RTX stream, as libwebrtc does:
        new numbers, since SRTP's replay check drops a packet sent twice before anyone counts it.
        """
        if not 1 <= size <= 255:
            raise ValueError("padding size out of range")
        if not self._frame_ended or self._selector.current == NO_LAYER:
            return None
        seq, ts = self._munger.pad()
        padding = bytes([0xA0]) + bytes(11) + bytes(size - 1) + bytes([size])  # P bit, no payload
        return self._build(padding, 12, seq, ts, False, -1, -1, -1, now_ms)

    def switch(
        self,
        ext_seq: int,
        timestamp: int,
        picture_id: int,
        tl0picidx: int,
        now_ms: int,
        aligned_ts: int,
    ) -> None:
        """Start the target layer at this packet (its keyframe): ``current`` becomes ``target``.

        ``aligned_ts`` is the output timestamp of this packet's capture time, from the
        publisher's sender reports, or -1 to advance by the wall time (see ``Munger.switch``).
        """
        aligned = None if aligned_ts < 0 else aligned_ts
        self._munger.switch(ext_seq, timestamp, now_ms, self._clock_rate, aligned_ts=aligned)
        self._vp8.switch(picture_id, tl0picidx)
        self._selector.switched()

    def pause(self) -> None:
        """Send nothing until a new target's keyframe (``target`` and ``current`` are unset)."""
        self._selector.pause()

    def rebase(self, first_seq: int, first_ts: int) -> None:
        """Number the first packet ``first_seq`` with timestamp ``first_ts`` rather than as
        constructed (a source taking over an m-line from another goes on from its last packet,
        known only then); ValueError once a packet was forwarded."""
        self._munger.rebase(first_seq, first_ts)

    @property
    def target(self) -> int:
        return self._selector.target

    @target.setter
    def target(self, layer: int) -> None:
        self._selector.target = layer

    @property
    def current(self) -> int:
        return self._selector.current

    @property
    def waiting(self) -> bool:
        """True while the target layer's keyframe is awaited."""
        return self._selector.waiting

    @property
    def ts_offset(self) -> int:
        """Added to the current layer's RTP timestamps (mod 2**32): what sender reports need."""
        return self._munger.ts_offset

    @property
    def last_seq(self) -> int:
        """The highest output sequence number sent, extended (first_seq - 1 before any)."""
        return self._munger.last_seq

    @property
    def last_ts(self) -> int:
        """The output timestamp of that packet."""
        return self._munger.last_ts
