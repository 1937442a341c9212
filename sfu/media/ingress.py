"""Everything a publisher's bundle transport delivers: demultiplexing RTP to tracks and layers,
its sender reports, and the receiver reports and REMB we owe it.

Chrome does not signal simulcast SSRCs, so each new SSRC is learnt from the mid and rid (or
repaired-rid, for RTX) header extensions of its first packet and cached; later packets are routed
by SSRC alone, by the ``Ingest`` kernel. A publisher that negotiated no mid extension (FFmpeg's
WHIP muxer) is known by the SSRCs its offer signalled instead. A layer's RTX stream is unwrapped
into the layer (``Repair``), so what the publisher resends for our NACKs reaches subscribers as
the original.
"""

from __future__ import annotations

import random
from typing import Protocol

from sfu.media import kernels
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.kernels import Ingest, Layer, Repair
from sfu.media.receiver import TrackReceiver
from sfu.media.transport import MediaSink
from sfu.rtp.rtcp import SenderReport, build_remb, build_rr, parse_compound


class IngestKernel(Protocol):
    """The classes of the ingest kernel: compiled (cython_ext.ingest), or its twin."""

    Ingest: type[Ingest]
    Layer: type[Layer]
    Repair: type[Repair]


class PublisherIngress:
    """Implements ``MediaHandler`` for a publish connection."""

    def __init__(
        self,
        counters: MediaCounters,
        *,
        remb_bps: int,
        repair: bool = True,
        kernel: IngestKernel = kernels,
    ) -> None:
        """``repair``: unwrap the publisher's RTX (and NACK its losses); ``kernel``: the ingest
        kernel, for tests that run both."""
        self._counters = counters
        self._remb_bps = remb_bps
        self._repair = repair
        self._kernel = kernel
        self.local_ssrc = random.getrandbits(32) or 1
        self.sink: MediaSink | None = None
        self._by_mid: dict[bytes, TrackReceiver] = {}
        self._by_ssrc: dict[int, TrackReceiver] = {}  # signalled, for packets without a mid
        self._ids = ExtensionIds()
        self._ingest = kernel.Ingest(counters, self._learn)
        # RTP goes straight to the kernel: the compiled datapath calls it in C
        self.on_rtp = self._ingest.on_rtp

    def send_rtcp(self, data: bytes) -> bool:
        return self.sink is not None and self.sink.send_rtcp(data)

    def add_track(self, track_id: str, line: MediaLine) -> TrackReceiver:
        receiver = TrackReceiver(
            track_id,
            line,
            send_rtcp=self.send_rtcp,
            local_ssrc=self.local_ssrc,
            counters=self._counters,
            layer_class=self._kernel.Layer,
            repair=self._repair,
        )
        self._by_mid[line.mid.encode()] = receiver
        for ssrc in (line.ssrc, line.rtx_ssrc):
            if ssrc:
                self._by_ssrc[ssrc] = receiver
        ids, new = self._ids, line.extensions
        self._ids = ExtensionIds(
            mid=ids.mid or new.mid,
            rid=ids.rid or new.rid,
            repaired_rid=ids.repaired_rid or new.repaired_rid,
            audio_level=ids.audio_level or new.audio_level,
        )
        self._ingest.set_extension_ids(
            self._ids.mid, self._ids.rid, self._ids.repaired_rid, self._ids.audio_level
        )
        return receiver

    def remove_track(self, receiver: TrackReceiver) -> None:
        self._by_mid = {mid: r for mid, r in self._by_mid.items() if r is not receiver}
        self._by_ssrc = {ssrc: r for ssrc, r in self._by_ssrc.items() if r is not receiver}
        for layer in receiver.layers:
            self._ingest.forget(layer.ssrc)

    def _learn(
        self,
        ssrc: int,
        payload_type: int,
        mid: bytes | None,
        rid: bytes | None,
        repaired_rid: bytes | None,
    ) -> Layer | Repair | int | None:
        """The layer of a new SSRC, from its first packet's mid and rid; or, for the publisher's
        RTX stream of a layer (its repaired-rid, or the RTX payload type without simulcast), the
        repair that unwraps it into that layer."""
        receiver = self._by_mid.get(mid) if mid is not None else self._by_ssrc.get(ssrc)
        if receiver is None:
            self._counters.drop(DropReason.UNKNOWN_SSRC)
            return None
        line = receiver.line
        rtx = repaired_rid is not None or payload_type == line.rtx_payload_type > 0
        index = 0
        if line.rids:
            name = ((repaired_rid if rtx else rid) or b"").decode(errors="replace")
            if name not in line.rids:
                self._counters.drop(DropReason.UNKNOWN_RID)
                return None
            index = line.rids.index(name)
        layer = receiver.layers[index]
        if rtx:
            if not self._repair or not line.rtx_payload_type:
                return DropReason.RTX.code
            if not layer.ssrc:  # a repair before any media of its layer: ask again
                self._counters.drop(DropReason.RTX)
                return None
            return self._kernel.Repair(
                layer, payload_type=line.rtx_payload_type, counts=self._counters
            )
        if layer.ssrc and layer.ssrc != ssrc:  # the layer moved: forget the old SSRC
            self._counters.drop(DropReason.SSRC_COLLISION)
            self._ingest.forget(layer.ssrc)
        layer.bind(ssrc)
        return layer

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        try:
            packets = parse_compound(data)
        except ValueError:
            self._counters.drop(DropReason.MALFORMED_RTCP)
            return
        for packet in packets:
            if isinstance(packet, SenderReport):
                layer = self._ingest.route(packet.ssrc)
                if isinstance(layer, Layer):
                    layer.stats.on_sender_report(packet.ntp, packet.rtp_timestamp, now_ms)

    def tick(self, now_ms: int) -> None:
        """Receiver reports for every layer, and REMB: without both, Chrome's bandwidth estimate
        stays at 300 kbps and it never sends its top layers."""
        receivers = list(self._by_mid.values())
        for receiver in receivers:
            receiver.measure_bitrates(now_ms)
        blocks = [block for r in receivers for block in r.report_blocks(now_ms)]
        ssrcs = [ssrc for r in receivers for ssrc in r.ssrcs if ssrc and r.is_video]
        if not blocks and not ssrcs:
            return
        packet = build_rr(self.local_ssrc, blocks)
        if ssrcs:
            packet += build_remb(self.local_ssrc, self._remb_bps, ssrcs)
        self.send_rtcp(packet)
