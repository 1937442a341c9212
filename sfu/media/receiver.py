"""One published track: its layers, keyframe requests, dynacast, receiver reports.

Every packet of the track passes its ``Layer`` once (sfu.media.kernels: statistics, store,
fan-out); each subscription (``DownTrack``) then decides for itself. Keyframe requests from all
subscriptions are merged and throttled per layer, so the publisher's encoder is never asked more
than it needs.
"""

from __future__ import annotations

from collections.abc import Callable

from sfu.media.counters import MediaCounters
from sfu.media.description import MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.kernels import Layer, RtpPacket, StreamStats
from sfu.media.nack_requester import NackRequester
from sfu.media.selector import NO_LAYER
from sfu.media.store_py import STORE_SIZE
from sfu.rtp import h264
from sfu.rtp.rtcp import ReportBlock, build_nack, build_pli

# A keyframe takes a round trip plus encode time; asking more often only costs bitrate.
KEYFRAME_REQUEST_INTERVAL_MS = 500
# A layer with no packet for this long is treated as stopped (the publisher may pause it).
LAYER_TIMEOUT_MS = 1500
# How far back a packet may be reordered and still be forwarded after a switch.
REORDER_DEPTH = 16
# Sequence numbers per NACK packet: at most as many 4-byte FCIs, so an RTCP packet stays well
# under an MTU however the losses are spread.
NACK_BATCH = 250


# Packets an H.264 keyframe's SPS may precede its IDR by (SPS, PPS, IDR as single units)
SPS_BEFORE_IDR = 2


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
        layer_class: type[Layer] = Layer,
        repair: bool = False,
    ) -> None:
        """``repair``: NACK the publisher's lost packets (when its codec negotiated NACK)."""
        self.track_id = track_id
        self.line = line
        self.is_video = line.kind == "video"
        self.h264 = line.mime == "video/h264"
        self.downtracks: list[DownTrack[TrackReceiver]] = []
        self.layers = [
            layer_class(
                index,
                is_video=self.is_video,
                payload_type=line.payload_type,
                clock_rate=line.clock_rate,
                downtracks=self.downtracks,
                counts=counters,
                h264=self.h264,
            )
            for index in range(max(1, len(line.rids)))
        ]
        # H.264 sizes, read from each layer's last keyframe when asked: (its seq, the size)
        self._h264_sizes = [(-1, (0, 0)) for _ in self.layers]
        self._send_rtcp = send_rtcp
        self._local_ssrc = local_ssrc
        self._last_request_ms = [-KEYFRAME_REQUEST_INTERVAL_MS] * len(self.layers)
        self.layer_bps = [0] * len(self.layers)
        self._bytes_since_ms = -1
        self._requested_ms = [-LAYER_TIMEOUT_MS] * len(self.layers)
        self._needed: list[int] | None = None
        self.on_needed: Callable[[list[str]], None] | None = None  # dynacast, set by the publisher
        self._counters = counters
        # Uplink repair: a requester per video layer, renewed with the layer's SSRC.
        self._requesters: list[tuple[int, NackRequester]] = []
        self.round_trip_ms: int | None = None  # to the publisher, when RTCP measured it
        self._levels_read = (0, -1)  # audio_levels(): the SSRC and extended seq read up to
        # When repair() is next due, for a timer (set by the publisher): in-order packets reach
        # no Python, so without a timer nothing would retry a NACK.
        self.on_repair_due: Callable[[int], None] | None = None
        if repair and self.is_video and line.nack:
            self._requesters = [(0, NackRequester()) for _ in self.layers]
            for layer in self.layers:
                layer.notable = self._on_notable

    @property
    def layer_count(self) -> int:
        return len(self.layers)

    @property
    def ssrcs(self) -> list[int]:
        return [layer.ssrc for layer in self.layers]

    @property
    def stats(self) -> list[StreamStats]:
        return [layer.stats for layer in self.layers]

    @property
    def last_arrival_ms(self) -> list[int]:
        return [layer.last_arrival_ms for layer in self.layers]

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        """(width, height) per layer, from its last keyframe's header (VP8) or its SPS (H.264,
        read here: the compiled ingest only notes where the keyframe is); (0, 0) before one."""
        if not self.h264:
            return [(layer.width, layer.height) for layer in self.layers]
        for index, layer in enumerate(self.layers):
            seq, size = self._h264_sizes[index]
            if layer.keyframe_seq != seq:
                self._h264_sizes[index] = layer.keyframe_seq, self._sps_size(layer) or size
        return [size for _, size in self._h264_sizes]

    @staticmethod
    def _sps_size(layer: Layer) -> tuple[int, int] | None:
        """From the SPS of the layer's last keyframe: in its flagged packet, or (SPS, PPS and
        IDR sent as single units, each flagged but the PPS) up to two packets before it."""
        for back in range(SPS_BEFORE_IDR + 1):
            packet = layer.store.get(layer.keyframe_seq - back)
            if packet is not None:
                size = h264.keyframe_size(packet.data, packet.payload_offset, len(packet.data))
                if size is not None:
                    return size
        return None

    @property
    def muted(self) -> bool:
        """Muted by the server (REST API): its subscriptions get nothing, whatever the client
        does (audio is dropped at ingress, video paused per subscription: no false gaps)."""
        return self.layers[0].muted

    @muted.setter
    def muted(self, muted: bool) -> None:
        for layer in self.layers:
            layer.muted = muted

    def bind_ssrc(self, layer: int, ssrc: int) -> None:
        """A new SSRC carries this layer (learnt from the rid extension)."""
        self.layers[layer].bind(ssrc)

    def arrived_before(self, packet: RtpPacket) -> list[RtpPacket]:
        """Packets of the same layer that came before ``packet`` but follow it in sequence.

        A subscription that starts at a keyframe must still forward them, or the subscriber
        would see a gap that no retransmission can fill.
        """
        return self.layers[packet.layer].store.after(packet.ext_seq, REORDER_DEPTH)

    def stored(self, layer: int, ext_seq: int) -> RtpPacket | None:
        """A received packet still in its layer's store (for a subscription's resend)."""
        if not 0 <= layer < len(self.layers):
            return None
        return self.layers[layer].store.get(ext_seq)

    def on_sender_report(self, layer: int, ntp: int, rtp_timestamp: int, now_ms: int) -> None:
        self.layers[layer].stats.on_sender_report(ntp, rtp_timestamp, now_ms)

    def request_keyframe(self, layer: int, now_ms: int) -> None:
        if not self.is_video or not 0 <= layer < len(self.layers) or not self.layers[layer].ssrc:
            return
        if now_ms - self._last_request_ms[layer] < KEYFRAME_REQUEST_INTERVAL_MS:
            return
        self._last_request_ms[layer] = now_ms
        self._send_rtcp(build_pli(self._local_ssrc, self.layers[layer].ssrc))

    def repair(self, now_ms: int) -> None:
        """Send the NACKs due now, one per layer, and say when the next ones are due."""
        next_ms: int | None = None
        for ssrc, requester in self._requesters:
            given_up = requester.given_up
            lost = requester.due(now_ms, self.round_trip_ms)
            self._counters.uplink_unrecovered += requester.given_up - given_up
            if lost and ssrc:
                self._counters.uplink_nacked += len(lost)
                for start in range(0, len(lost), NACK_BATCH):
                    batch = [s & 0xFFFF for s in lost[start : start + NACK_BATCH]]
                    self._send_rtcp(build_nack(self._local_ssrc, ssrc, batch))
            due = requester.next_due_ms
            if due is not None and (next_ms is None or due < next_ms):
                next_ms = due
        if next_ms is not None and self.on_repair_due is not None:
            self.on_repair_due(next_ms)

    def _on_notable(
        self, index: int, ext_seq: int, keyframe: bool, now_ms: int, highest: int
    ) -> None:
        """A video packet out of order or starting a keyframe (the layer's reporting contract)."""
        ssrc, requester = self._requesters[index]
        if ssrc != self.layers[index].ssrc:  # a new SSRC numbers afresh
            ssrc, requester = self.layers[index].ssrc, NackRequester()
            self._requesters[index] = ssrc, requester
        recovered = requester.recovered
        unrecovered = requester.superseded + requester.overflowed + requester.given_up
        if requester.on_packet(ext_seq, keyframe, now_ms, highest):
            self.request_keyframe(index, now_ms)  # cheaper than repairing that much loss
        self._counters.uplink_recovered += requester.recovered - recovered
        self._counters.uplink_unrecovered += (
            requester.superseded + requester.overflowed + requester.given_up - unrecovered
        )
        self.repair(now_ms)  # a new gap is asked for at once

    def audio_levels(self) -> list[int]:
        """The RFC 6464 levels (0 loud to 127 silent) of the packets stored since the last call,
        in the order sent: read from the store at the speaker tick, so that the packet path
        does nothing for them (a packet without the extension has none)."""
        layer = self.layers[0]
        ssrc, read = self._levels_read
        if ssrc != layer.ssrc:  # a new SSRC numbers afresh
            read = -1
        highest = layer.stats.highest
        self._levels_read = layer.ssrc, max(read, highest)
        levels = []
        for ext_seq in range(max(read + 1, highest - STORE_SIZE + 1), highest + 1):
            packet = layer.store.get(ext_seq)
            if packet is not None and packet.audio_level >= 0:
                levels.append(packet.audio_level & 0x7F)  # the top bit is the voice flag
        return levels

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
        if not self.line.rids:
            return  # one layer (audio, or video without simulcast): nothing to pause
        needed = sorted(
            {
                layer
                for d in self.downtracks
                for layer in (d.allocated, d.forwarder.current)
                if layer != NO_LAYER
            }
        )
        if needed == self._needed:
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
            self.layer_bps = [layer.octets * 8000 // elapsed for layer in self.layers]
        for layer in self.layers:
            layer.octets = 0
        self._bytes_since_ms = now_ms

    def report_blocks(self, now_ms: int) -> list[ReportBlock]:
        return [
            ReportBlock(layer.ssrc, *layer.stats.report(now_ms))
            for layer in self.layers
            if layer.ssrc and layer.stats.received
        ]
