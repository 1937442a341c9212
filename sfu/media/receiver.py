"""One published track: its layers' SSRCs and statistics, keyframe requests, fan-out.

Every packet of the track passes here once; each subscription (``DownTrack``) then decides for
itself. Keyframe requests from all subscriptions are merged and throttled per layer, so the
publisher's encoder is never asked more than it needs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.kernels import fan_out
from sfu.media.packet import RtpPacket
from sfu.media.selector import NO_LAYER
from sfu.media.stats import StreamStats
from sfu.rtp.kernels import vp8_descriptor
from sfu.rtp.rtcp import ReportBlock, build_pli
from sfu.rtp.rtp_py import ParsedRtp
from sfu.rtp.vp8 import keyframe_size

if TYPE_CHECKING:
    from sfu.media.fanout_py import Outcome

# A keyframe takes a round trip plus encode time; asking more often only costs bitrate.
KEYFRAME_REQUEST_INTERVAL_MS = 500
# A layer with no packet for this long is treated as stopped (the publisher may pause it).
LAYER_TIMEOUT_MS = 1500
# How far back a packet may be reordered and still be forwarded after a switch.
REORDER_DEPTH = 16


class TrackReceiver:
    """Ingest side of one published track; the ``TrackSource`` of its subscriptions."""

    def __init__(
        self,
        track_id: str,
        line: MediaLine,
        *,
        send_rtcp: Callable[[bytes], bool],
        local_ssrc: int,
        counters: MediaCounters,
        fan_out: Callable[
            [list[DownTrack[TrackReceiver]], RtpPacket, int], Outcome[DownTrack[TrackReceiver]]
        ] = fan_out,
    ) -> None:
        self.track_id = track_id
        self._fan_out = fan_out
        self.line = line
        self.is_video = line.kind == "video"
        layers = max(1, len(line.rids))
        self.ssrcs = [0] * layers
        self.stats = [StreamStats(line.clock_rate) for _ in range(layers)]
        self.last_arrival_ms = [-1] * layers
        self.downtracks: list[DownTrack[TrackReceiver]] = []
        self._send_rtcp = send_rtcp
        self._local_ssrc = local_ssrc
        self._counters = counters
        self._last_request_ms = [-KEYFRAME_REQUEST_INTERVAL_MS] * layers
        self.layer_sizes: list[tuple[int, int]] = [(0, 0)] * layers  # from keyframe headers
        self.layer_bps = [0] * layers
        self._bytes = [0] * layers
        self._bytes_since_ms = -1
        self._requested_ms = [-LAYER_TIMEOUT_MS] * layers
        self._needed: list[int] | None = None
        self.on_needed: Callable[[list[str]], None] | None = None  # dynacast, set by the publisher
        # Muted by the server (REST API): its subscriptions get nothing, whatever the client does.
        self.muted = False
        self._recent: list[deque[RtpPacket]] = [deque(maxlen=REORDER_DEPTH) for _ in range(layers)]

    @property
    def layer_count(self) -> int:
        return len(self.ssrcs)

    def bind_ssrc(self, layer: int, ssrc: int) -> None:
        """A new SSRC carries this layer (learnt from the rid extension)."""
        self.ssrcs[layer] = ssrc
        self.stats[layer] = StreamStats(self.line.clock_rate)

    def on_rtp(self, data: bytes, info: ParsedRtp, layer: int, now_ms: int) -> None:
        ssrc, _pt, seq, ts, marker, offset, end, _mid, _rid, _rrid, level = info
        ext_seq = self.stats[layer].update(seq, ts, now_ms)
        self.last_arrival_ms[layer] = now_ms
        self._bytes[layer] += len(data)
        if self.muted and not self.is_video:  # video is paused per subscription (no false gaps)
            self._counters.drop(DropReason.MUTED)
            return
        keyframe, picture_id, tl0picidx = not self.is_video, -1, -1  # audio: every packet starts
        if self.is_video and end > offset:  # padding-only packets are forwarded as they are
            try:
                keyframe, _, picture_id, tl0picidx, _, _ = vp8_descriptor(data, offset, end)
            except ValueError:
                self._counters.drop(DropReason.MALFORMED_VP8)
                return
            if keyframe:
                self.layer_sizes[layer] = (
                    keyframe_size(data, offset, end) or self.layer_sizes[layer]
                )
        packet = RtpPacket(
            data, ssrc, ext_seq, ts, marker, offset, level, layer, keyframe, now_ms, picture_id,
            tl0picidx,
        )  # fmt: skip
        self._recent[layer].append(packet)
        if not self.downtracks:
            return
        sent, octets, other, paused, slow = self._fan_out(self.downtracks, packet, now_ms)
        counters = self._counters
        counters.packets_out += sent
        counters.bytes_out += octets
        if other:
            counters.drop(DropReason.LAYER_NOT_SELECTED, other)
        if paused:
            counters.drop(DropReason.PAUSED, paused)
        for downtrack in slow or ():
            downtrack.write(packet, now_ms)

    def arrived_before(self, packet: RtpPacket) -> list[RtpPacket]:
        """Packets of the same layer that came before ``packet`` but follow it in sequence.

        A subscription that starts at a keyframe must still forward them, or the subscriber
        would see a gap that no retransmission can fill.
        """
        later = [p for p in self._recent[packet.layer] if p.ext_seq > packet.ext_seq]
        return sorted(later, key=lambda p: p.ext_seq)

    def on_sender_report(self, layer: int, ntp: int, rtp_timestamp: int, now_ms: int) -> None:
        self.stats[layer].on_sender_report(ntp, rtp_timestamp, now_ms)

    def request_keyframe(self, layer: int, now_ms: int) -> None:
        if not self.is_video or not 0 <= layer < len(self.ssrcs) or not self.ssrcs[layer]:
            return
        if now_ms - self._last_request_ms[layer] < KEYFRAME_REQUEST_INTERVAL_MS:
            return
        self._last_request_ms[layer] = now_ms
        self._send_rtcp(build_pli(self._local_ssrc, self.ssrcs[layer]))

    def active_layers(self, now_ms: int) -> list[bool]:
        """Layers arriving now, or just asked for (dynacast): the publisher is starting them."""
        return [
            (arrival >= 0 and now_ms - arrival < LAYER_TIMEOUT_MS)
            or now_ms - requested < LAYER_TIMEOUT_MS
            for arrival, requested in zip(self.last_arrival_ms, self._requested_ms, strict=True)
        ]

    def refresh_needed(self, now_ms: int) -> None:
        """Dynacast: tell the publisher which layers anyone receives or is about to receive.

        A layer stays needed while a subscription still forwards it, so the publisher never stops
        the old layer before the new one's keyframe has arrived.
        """
        needed = sorted(
            {
                layer
                for d in self.downtracks
                for layer in (d.allocated, d.forwarder.current)
                if layer != NO_LAYER
            }
        )
        if needed == self._needed or not self.line.rids:
            return
        for layer in set(needed) - set(self._needed or ()):
            self._requested_ms[layer] = now_ms
        self._needed = needed
        if self.on_needed is not None:
            self.on_needed([self.line.rids[layer] for layer in needed])

    def measure_bitrates(self, now_ms: int) -> None:
        """Per-layer bit rates since the last call (once a second, from the node's tick)."""
        elapsed = now_ms - self._bytes_since_ms
        if self._bytes_since_ms >= 0 and elapsed > 0:
            self.layer_bps = [b * 8000 // elapsed for b in self._bytes]
        self._bytes = [0] * len(self._bytes)
        self._bytes_since_ms = now_ms

    def report_blocks(self, now_ms: int) -> list[ReportBlock]:
        return [
            stats.report_block(ssrc, now_ms)
            for ssrc, stats in zip(self.ssrcs, self.stats, strict=True)
            if ssrc and stats.received
        ]
