"""One subscription: a published track forwarded to one subscriber as one seamless stream.

The selector decides which packets go, the munger renumbers them, the kernel rewrites the header
(SSRC, payload type, sequence number, timestamp, extensions with the subscriber's ids), and the
history keeps them for NACKs. The downtrack never decides layers by itself beyond the selector.
"""

from __future__ import annotations

import random

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import MediaLine
from sfu.media.history import PacketHistory
from sfu.media.munger import Munger
from sfu.media.packet import RtpPacket
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER, Decision, LayerSelector, fallback_layer
from sfu.media.transport import MediaSink
from sfu.rtp.fastpath import rewrite_rtp
from sfu.rtp.rtcp import SenderReport, build_sr


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
        preferred_layer: int,
        counters: MediaCounters,
    ) -> None:
        self.receiver = receiver
        self.line = line
        self._sink = sink
        self._counters = counters
        self._mid = line.mid.encode()
        self._preferred = min(preferred_layer, receiver.layer_count - 1)
        self.selector = LayerSelector(self._preferred)
        # Start below 2**15 so the subscriber's SRTP rollover counter is never ambiguous.
        self.munger = Munger(first_seq=random.randint(1, 0x7FFF), first_ts=random.getrandbits(32))
        self.history = PacketHistory()
        self.packets_sent = 0
        self.octets_sent = 0
        self.switches = 0

    @property
    def ssrc(self) -> int:
        return self.line.ssrc

    def write(self, packet: RtpPacket, now_ms: int) -> None:
        decision = self.selector.decide(packet.layer, packet.keyframe)
        if decision is Decision.SWITCH:
            if not self._sink.connected:
                self._counters.drop(DropReason.TRANSPORT_NOT_READY)
                return
            self.munger.switch(packet.ext_seq, packet.timestamp, now_ms, self.line.clock_rate)
            self.selector.switched()
            self.switches += 1
        elif decision is not Decision.FORWARD:
            self._drop_unselected(decision, now_ms)
            return
        translated = self.munger.translate(packet.ext_seq, packet.timestamp, now_ms)
        if translated is None:
            self._counters.drop(DropReason.TOO_OLD)
            return
        seq, ts = translated
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
            -1,
            -1,
        )
        self.history.put(seq, out)
        if self._sink.send_rtp(out):
            self.packets_sent += 1
            self.octets_sent += len(out) - 12
            self._counters.packets_out += 1
            self._counters.bytes_out += len(out)

    def _drop_unselected(self, decision: Decision, now_ms: int) -> None:
        if decision is Decision.DROP_WAIT_KEYFRAME:
            self._counters.drop(DropReason.WAITING_FOR_KEYFRAME)
            if self._sink.connected:
                self.receiver.request_keyframe(self.selector.target, now_ms)
        else:
            self._counters.drop(DropReason.LAYER_NOT_SELECTED)
            if self.selector.waiting:
                self.receiver.request_keyframe(self.selector.target, now_ms)

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
        """Once a second: fall back if the aimed-for layer stopped, and send a sender report."""
        target = fallback_layer(self._preferred, self.receiver.active_layers(now_ms))
        if target != self.selector.target:
            self.selector.target = target
            self.receiver.request_keyframe(target, now_ms)
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
