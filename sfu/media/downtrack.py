"""One subscription: a published track forwarded to one subscriber as one seamless stream.

The selector decides which packets go, the mungers renumber them (sequence, timestamp, VP8
picture ids), the kernel rewrites the header (SSRC, payload type, extensions with the
subscriber's ids), and the history keeps them for NACKs. Which layer to aim for is decided
elsewhere (``Allocator``) and handed in with ``set_target``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import MediaLine
from sfu.media.history import PacketHistory
from sfu.media.munger import Munger
from sfu.media.packet import RtpPacket
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER, Decision, LayerSelector, fallback_layer
from sfu.media.transport import MediaSink
from sfu.media.vp8munger import Vp8Munger
from sfu.rtp.fastpath import rewrite_rtp
from sfu.rtp.rtcp import SenderReport, build_sr
from sfu.rtp.seqnum import diff32

# Keyframe requests go out every 500 ms while waiting; after this long we stop waiting.
KEYFRAME_WAIT_MS = 3_000


def abs_send_time(now_ms: int) -> int:
    """abs-send-time: seconds in 6.18 fixed point, 24 bits (webrtc.org/experiments/rtp-hdrext)."""
    return ((now_ms << 18) // 1000) & 0xFFFFFF


class DownTrack:
    """Forwards one ``TrackReceiver`` to one subscriber's ``MediaSink``."""

    def __init__(
        self,
        receiver: TrackReceiver,
        sink: MediaSink,
        line: MediaLine,
        *,
        initial_layer: int,
        counters: MediaCounters,
        on_layer: Callable[[DownTrack], None],
    ) -> None:
        self.receiver = receiver
        self.line = line
        self._sink = sink
        self._counters = counters
        self._on_layer = on_layer
        self._mid = line.mid.encode()
        self.allocated = min(initial_layer, receiver.layer_count - 1)
        self.selector = LayerSelector(self.allocated)
        # Start below 2**15 so the subscriber's SRTP rollover counter is never ambiguous.
        self.munger = Munger(first_seq=random.randint(1, 0x7FFF), first_ts=random.getrandbits(32))
        self.vp8 = Vp8Munger()
        self.history = PacketHistory()
        self.packets_sent = 0
        self.octets_sent = 0
        self.switches = 0
        self.keyframe_timeouts = 0
        self._waiting_since_ms = -1

    @property
    def ssrc(self) -> int:
        return self.line.ssrc

    def write(self, packet: RtpPacket, now_ms: int) -> None:
        decision = self.selector.decide(packet.layer, packet.keyframe)
        if decision is Decision.SWITCH:
            if not self._sink.connected:
                self._counters.drop(DropReason.TRANSPORT_NOT_READY)
                return
            self._switch(packet, now_ms)
            self._send(packet, now_ms)
            for early in self.receiver.arrived_before(packet):
                self._send(early, now_ms)  # reordered ahead of the keyframe: not a loss
        elif decision is Decision.FORWARD:
            self._send(packet, now_ms)
        else:
            self._drop_unselected(decision, now_ms)

    def _send(self, packet: RtpPacket, now_ms: int) -> None:
        translated = self.munger.translate(packet.ext_seq, packet.timestamp, now_ms)
        if translated is None:
            self._counters.drop(DropReason.TOO_OLD)
            return
        seq, ts = translated
        picture_id, tl0picidx = self.vp8.translate(packet.picture_id, packet.tl0picidx)
        ext = self.line.extensions
        out = rewrite_rtp(
            packet.data,
            packet.payload_offset,
            self.line.ssrc,
            self.line.payload_type,
            seq,
            ts,
            packet.marker,
            ext.mid,
            self._mid,
            ext.abs_send_time,
            abs_send_time(now_ms),
            ext.audio_level,
            packet.audio_level,
            picture_id,
            tl0picidx,
        )
        self.history.put(seq, out)
        if self._sink.send_rtp(out):
            self.packets_sent += 1
            self.octets_sent += len(out) - 12
            self._counters.packets_out += 1
            self._counters.bytes_out += len(out)

    def _switch(self, packet: RtpPacket, now_ms: int) -> None:
        old = self.selector.current
        aligned = None if old == NO_LAYER else self._aligned_timestamp(old, packet.layer, packet)
        self.munger.switch(
            packet.ext_seq, packet.timestamp, now_ms, self.line.clock_rate, aligned_ts=aligned
        )
        self.vp8.switch(packet.picture_id, packet.tl0picidx)
        self.selector.switched()
        self.switches += 1
        self._waiting_since_ms = -1
        self._on_layer(self)

    def _aligned_timestamp(self, old: int, new: int, packet: RtpPacket) -> int | None:
        """The output timestamp of this packet's capture time on the old layer's timeline.

        Layers have unrelated RTP timestamp origins; the publisher's sender reports map each
        to its NTP clock, which is common to all of them.
        """
        old_stats, new_stats = self.receiver.stats[old], self.receiver.stats[new]
        if old_stats.last_sr_at_ms < 0 or new_stats.last_sr_at_ms < 0:
            return None
        # on_old = old SR's RTP time + (this packet's NTP time - old SR's NTP time) * rate
        since_new_sr = diff32(packet.timestamp, new_stats.last_sr_rtp)
        sr_gap = new_stats.last_sr_ntp - old_stats.last_sr_ntp
        gap_ticks = (sr_gap * self.line.clock_rate + (1 << 31)) >> 32  # NTP is 32.32 fixed point
        on_old = old_stats.last_sr_rtp + since_new_sr + gap_ticks
        return (on_old + self.munger.ts_offset) & 0xFFFFFFFF

    def _drop_unselected(self, decision: Decision, now_ms: int) -> None:
        if decision is Decision.DROP_PAUSED:
            self._counters.drop(DropReason.PAUSED)
            return
        if decision is Decision.DROP_WAIT_KEYFRAME:
            self._counters.drop(DropReason.WAITING_FOR_KEYFRAME)
            if not self._sink.connected:
                return
        else:
            self._counters.drop(DropReason.LAYER_NOT_SELECTED)
            if not self.selector.waiting:
                return
        if self._waiting_since_ms < 0:
            self._waiting_since_ms = now_ms
        self.receiver.request_keyframe(self.selector.target, now_ms)

    def set_target(self, layer: int, now_ms: int) -> None:
        """The allocator's decision; ``NO_LAYER`` pauses the subscription."""
        self.allocated = layer
        self._aim(now_ms)

    def _aim(self, now_ms: int) -> None:
        """Aim the selector at the allocated layer, or the nearest one the publisher sends."""
        target = fallback_layer(self.allocated, self.receiver.active_layers(now_ms))
        if target == self.selector.target:
            return
        if target == NO_LAYER:
            self.selector.pause()
            self._on_layer(self)
            return
        self.selector.target = target
        self._waiting_since_ms = -1
        if self._sink.connected:
            self.receiver.request_keyframe(target, now_ms)

    def retransmit(self, seqs: tuple[int, ...]) -> None:
        """Answer a NACK from our own history (the publisher is not asked)."""
        for seq in seqs:
            packet = self.history.get(seq)
            if packet is not None and self._sink.send_rtp(packet):
                self._counters.retransmits += 1

    def request_keyframe(self, now_ms: int) -> None:
        """The subscriber asked (PLI/FIR): relay to the layer it is getting or waiting for."""
        layer = self.selector.current if self.selector.current != NO_LAYER else self.selector.target
        self.receiver.request_keyframe(layer, now_ms)

    def tick(self, now_ms: int) -> None:
        """Once a second: follow layers that stopped or came back, give up a keyframe that does
        not come (keep the old layer), and send a sender report."""
        if (
            self.selector.waiting
            and self.selector.current != NO_LAYER
            and self._waiting_since_ms >= 0
            and now_ms - self._waiting_since_ms > KEYFRAME_WAIT_MS
        ):
            self.keyframe_timeouts += 1
            self.selector.target = self.selector.current
            self._waiting_since_ms = -1
        else:
            self._aim(now_ms)
        report = self._sender_report(now_ms)
        if report is not None:
            self._sink.send_rtcp(build_sr(report))

    def _sender_report(self, now_ms: int) -> SenderReport | None:
        """An SR in the publisher's NTP time base, so the subscriber can lip-sync audio and video.

        The publisher's last SR for the layer being sent maps its NTP clock to RTP time; both are
        extrapolated to now and the RTP time is shifted by our timestamp offset.
        """
        layer = self.selector.current
        if layer == NO_LAYER or not self.packets_sent:
            return None
        stats = self.receiver.stats[layer]
        if stats.last_sr_at_ms < 0:
            return None
        elapsed_ms = now_ms - stats.last_sr_at_ms
        ntp = stats.last_sr_ntp + (elapsed_ms << 32) // 1000
        rtp = stats.last_sr_rtp + elapsed_ms * self.line.clock_rate // 1000 + self.munger.ts_offset
        return SenderReport(
            self.ssrc, ntp, rtp & 0xFFFFFFFF, self.packets_sent, self.octets_sent, ()
        )

    def close(self) -> None:
        if self in self.receiver.downtracks:
            self.receiver.downtracks.remove(self)
