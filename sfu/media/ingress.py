"""Everything a publisher's bundle transport delivers: demultiplexing RTP to tracks and layers,
its sender reports, and the receiver reports and REMB we owe it.

Chrome does not signal simulcast SSRCs, so each new SSRC is learnt from the mid and rid (or
repaired-rid, for RTX) header extensions of its first packet and cached; later packets are routed
by SSRC alone.
"""

from __future__ import annotations

import random

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.receiver import TrackReceiver
from sfu.media.transport import MediaSink
from sfu.rtp.kernels import parse_rtp
from sfu.rtp.rtcp import SenderReport, build_remb, build_rr, parse_compound
from sfu.rtp.rtp_py import ParsedRtp

RTX_ROUTE = -1


class PublisherIngress:
    """Implements ``MediaHandler`` for a publish connection."""

    def __init__(self, counters: MediaCounters, *, remb_bps: int) -> None:
        self._counters = counters
        self._remb_bps = remb_bps
        self.local_ssrc = random.getrandbits(32) or 1
        self.sink: MediaSink | None = None
        self._by_mid: dict[bytes, TrackReceiver] = {}
        self._routes: dict[int, tuple[TrackReceiver, int]] = {}
        self._ids = ExtensionIds()

    def send_rtcp(self, data: bytes) -> bool:
        return self.sink is not None and self.sink.send_rtcp(data)

    def add_track(self, track_id: str, line: MediaLine) -> TrackReceiver:
        receiver = TrackReceiver(
            track_id,
            line,
            send_rtcp=self.send_rtcp,
            local_ssrc=self.local_ssrc,
            counters=self._counters,
        )
        self._by_mid[line.mid.encode()] = receiver
        ids, new = self._ids, line.extensions
        self._ids = ExtensionIds(
            mid=ids.mid or new.mid,
            rid=ids.rid or new.rid,
            repaired_rid=ids.repaired_rid or new.repaired_rid,
            audio_level=ids.audio_level or new.audio_level,
        )
        return receiver

    def remove_track(self, receiver: TrackReceiver) -> None:
        self._by_mid = {mid: r for mid, r in self._by_mid.items() if r is not receiver}
        self._routes = {
            ssrc: route for ssrc, route in self._routes.items() if route[0] is not receiver
        }

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        counters = self._counters
        counters.packets_in += 1
        counters.bytes_in += len(data)
        ids = self._ids
        try:
            info = parse_rtp(data, ids.mid, ids.rid, ids.repaired_rid, ids.audio_level)
        except ValueError:
            counters.drop(DropReason.MALFORMED_RTP)
            return
        route = self._routes.get(info[0]) or self._learn(info)
        if route is None:
            return
        receiver, layer = route
        if layer == RTX_ROUTE:
            counters.drop(DropReason.RTX)
            return
        receiver.on_rtp(data, info, layer, now_ms)

    def _learn(self, info: ParsedRtp) -> tuple[TrackReceiver, int] | None:
        ssrc, mid, rid, repaired_rid = info[0], info[7], info[8], info[9]
        receiver = self._by_mid.get(mid) if mid is not None else None
        if receiver is None:
            self._counters.drop(DropReason.UNKNOWN_SSRC)
            return None
        layer = 0
        if repaired_rid is not None:
            layer = RTX_ROUTE
        elif receiver.line.rids:
            name = (rid or b"").decode(errors="replace")
            if name not in receiver.line.rids:
                self._counters.drop(DropReason.UNKNOWN_RID)
                return None
            layer = receiver.line.rids.index(name)
        if layer != RTX_ROUTE:
            old = receiver.ssrcs[layer]
            if old and old != ssrc:
                self._counters.drop(
                    DropReason.SSRC_COLLISION
                )  # the layer moved: forget the old SSRC
                self._routes.pop(old, None)
            receiver.bind_ssrc(layer, ssrc)
        self._routes[ssrc] = (receiver, layer)
        return receiver, layer

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        try:
            packets = parse_compound(data)
        except ValueError:
            self._counters.drop(DropReason.MALFORMED_RTCP)
            return
        for packet in packets:
            if isinstance(packet, SenderReport):
                route = self._routes.get(packet.ssrc)
                if route is not None and route[1] != RTX_ROUTE:
                    route[0].on_sender_report(route[1], packet.ntp, packet.rtp_timestamp, now_ms)

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
