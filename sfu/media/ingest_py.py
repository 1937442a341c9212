"""RTP in from one publish connection, parsed once and handed to every subscription: the spec of
cython_ext/ingest.pyx.

``Ingest.on_rtp`` parses the header and the negotiated extensions, finds the packet's layer by
SSRC and hands it to that ``Layer``, which updates the layer's statistics, reads the VP8
descriptor (keyframe, picture ids, the keyframe's size), builds the one ``RtpPacket`` everyone
shares, stores it and fans it out; a layer's RTX stream is unwrapped into the packets it
repairs first (``Repair``). In the compiled twin none of that is Python. Python is asked only
what needs a decision: a new SSRC (``learn``), the subscriptions the fan-out did not handle
(``DownTrack.handle``: a switch, a keyframe to wait for), and a video packet that is out of order
or starts a keyframe (``Layer.notable``: the NACK requester's reporting contract).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sfu.media.counters import DropReason
from sfu.media.counts_py import Counts
from sfu.media.fanout_py import Subscription, fan_out
from sfu.media.packet_py import RtpPacket
from sfu.media.stats_py import StreamStats
from sfu.media.store_py import PacketStore
from sfu.rtp.rtp_py import h264_keyframe, parse_rtp, unwrap_rtx, vp8_descriptor
from sfu.rtp.vp8 import keyframe_size


class Handler(Subscription, Protocol):
    """A subscription as the ingest sees it (``DownTrack``)."""

    def handle(self, code: int, packet: RtpPacket, now_ms: int) -> None:
        """What the fan-out left to it: a forwarder's verdict other than forwarded/paused."""


class Layer:
    """One received layer (one SSRC) of a published track: what each of its packets updates."""

    __slots__ = (
        "_counts",
        "downtracks",
        "h264",
        "height",
        "index",
        "is_video",
        "keyframe_seq",
        "last_arrival_ms",
        "muted",
        "notable",
        "octets",
        "payload_type",
        "ssrc",
        "stats",
        "store",
        "width",
    )

    def __init__(
        self,
        index: int,
        *,
        is_video: bool,
        payload_type: int,
        clock_rate: int,
        downtracks: list[Any],
        counts: Counts,
        h264: bool = False,
    ) -> None:
        self.index = index
        self.is_video = is_video
        self.h264 = h264  # the video is H.264 (RFC 6184), else VP8
        self.payload_type = payload_type  # the one the publisher negotiated for the track
        self.downtracks: list[Handler] = downtracks  # the track's, shared by its layers
        self._counts = counts
        self.ssrc = 0
        self.stats = StreamStats(clock_rate)
        self.store = PacketStore()
        self.last_arrival_ms = -1
        self.octets = 0  # received since the track last measured its bit rates
        self.width = self.height = 0  # from the last keyframe's header (VP8)
        self.keyframe_seq = -1  # the extended seq of the last keyframe's first packet
        # Muted by the server (REST API): audio is dropped here, video paused per subscription.
        self.muted = False
        # A video layer's NACK requester's ear (sfu.media.nack_requester's reporting contract):
        # called with (index, ext_seq, keyframe, now_ms, highest before it) for a packet that is
        # not the next in order or that starts a keyframe; None: nobody asks.
        self.notable: Callable[[int, int, bool, int, int], object] | None = None

    def bind(self, ssrc: int) -> None:
        """A new SSRC carries this layer: its numbering starts afresh."""
        self.ssrc = ssrc
        self.stats = StreamStats(self.stats.clock_rate)
        self.store = PacketStore()

    def receive(
        self,
        data: bytes,
        payload_type: int,
        seq: int,
        timestamp: int,
        marker: bool,
        offset: int,
        end: int,
        audio_level: int,
        now_ms: int,
        repaired: bool = False,
    ) -> None:
        """One packet of this layer; ``repaired``: unwrapped from the publisher's RTX."""
        if not 12 <= offset <= end <= len(data):
            raise ValueError("rtp payload offset out of range")
        counts = self._counts
        if payload_type != self.payload_type:  # before the statistics: not this stream's packet
            counts.add_drop(DropReason.UNKNOWN_PAYLOAD_TYPE.code)
            return
        highest = self.stats.highest
        ext_seq = self.stats.extend(seq)
        if ext_seq <= highest and self.store.get(ext_seq) is not None:
            counts.add_drop(DropReason.DUPLICATE.code)
            return
        self.stats.account(ext_seq, timestamp, now_ms, repaired)
        self.last_arrival_ms = now_ms
        self.octets += len(data)
        if self.muted and not self.is_video:
            counts.add_drop(DropReason.MUTED.code)
            return
        keyframe, picture_id, tl0picidx = not self.is_video, -1, -1  # audio: every packet starts
        if self.is_video and end > offset and self.h264:
            try:
                keyframe = h264_keyframe(data, offset, end)
            except ValueError:
                counts.add_drop(DropReason.MALFORMED_H264.code)
                return
        elif self.is_video and end > offset:  # padding-only packets are forwarded as they are
            try:
                keyframe, _, picture_id, tl0picidx, _, _ = vp8_descriptor(data, offset, end)
            except ValueError:
                counts.add_drop(DropReason.MALFORMED_VP8.code)
                return
            if keyframe:
                self.width, self.height = keyframe_size(data, offset, end) or (
                    self.width,
                    self.height,
                )
        if keyframe and self.is_video:
            self.keyframe_seq = ext_seq
        if self.notable is not None and (ext_seq != highest + 1 or keyframe):
            self.notable(self.index, ext_seq, keyframe, now_ms, highest)
        packet = RtpPacket(
            data, self.ssrc, ext_seq, timestamp, marker, offset, audio_level, self.index,
            keyframe, now_ms, picture_id, tl0picidx,
        )  # fmt: skip
        self.store.put(packet)
        if not self.downtracks:
            return
        sent, octets, other, paused, slow = fan_out(self.downtracks, packet, now_ms)
        counts.packets_out += sent
        counts.bytes_out += octets
        if other:
            counts.add_drop(DropReason.LAYER_NOT_SELECTED.code, other)
        if paused:
            counts.add_drop(DropReason.PAUSED.code, paused)
        for downtrack, code in slow or ():
            downtrack.handle(code, packet, now_ms)


class Repair:
    """A publisher's RTX stream for one layer (RFC 4588): each packet is unwrapped into the one it
    repairs, which its layer receives like a late packet."""

    __slots__ = ("_counts", "layer", "payload_type")

    def __init__(self, layer: Layer, *, payload_type: int, counts: Counts) -> None:
        self.layer = layer
        self.payload_type = payload_type  # the RTX payload type whose apt is the layer's
        self._counts = counts

    def receive(
        self,
        data: bytes,
        payload_type: int,
        seq: int,
        timestamp: int,
        marker: bool,
        offset: int,
        end: int,
        audio_level: int,
        now_ms: int,
    ) -> None:
        if not 12 <= offset <= end <= len(data):
            raise ValueError("rtp payload offset out of range")
        if payload_type != self.payload_type:
            self._counts.add_drop(DropReason.UNKNOWN_PAYLOAD_TYPE.code)
            return
        if end - offset < 2:  # padding only (a bandwidth probe) or a truncated repair
            self._counts.add_drop(
                (DropReason.RTX if end == offset else DropReason.MALFORMED_RTP).code
            )
            return
        layer = self.layer
        original = unwrap_rtx(data, offset, end, layer.payload_type, layer.ssrc)
        osn = data[offset] << 8 | data[offset + 1]
        layer.receive(
            original, layer.payload_type, osn, timestamp, marker, offset, end - 2, audio_level,
            now_ms, repaired=True,
        )  # fmt: skip


# A new SSRC's payload type, mid, rid and repaired-rid (raw bytes or None) -> its layer, or the
# repair stream of one; or a drop code for every packet of it (a publisher's RTX stream when
# repair is off); or None, counted by the learner, to ask again.
Learn = Callable[
    [int, int, bytes | None, bytes | None, bytes | None], "Layer | Repair | int | None"
]


class Ingest:
    """The ``on_rtp`` of a publish connection (a ``MediaHandler``'s RTP half)."""

    __slots__ = (
        "_audio_level_id",
        "_counts",
        "_learn",
        "_mid_id",
        "_rid_id",
        "_routes",
        "_rrid_id",
    )

    def __init__(self, counts: Counts, learn: Learn) -> None:
        self._counts = counts
        self._learn = learn
        self._routes: dict[int, Layer | Repair | int] = {}
        self._mid_id = self._rid_id = self._rrid_id = self._audio_level_id = 0

    def set_extension_ids(self, mid: int, rid: int, repaired_rid: int, audio_level: int) -> None:
        """The ids the publisher negotiated (0: not negotiated)."""
        self._mid_id, self._rid_id = mid, rid
        self._rrid_id, self._audio_level_id = repaired_rid, audio_level

    def route(self, ssrc: int) -> Layer | Repair | int | None:
        """Where packets of ``ssrc`` go (a layer or a drop code), once learnt."""
        return self._routes.get(ssrc)

    def forget(self, ssrc: int) -> None:
        self._routes.pop(ssrc, None)

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        counts = self._counts
        counts.packets_in += 1
        counts.bytes_in += len(data)
        try:
            info = parse_rtp(data, self._mid_id, self._rid_id, self._rrid_id, self._audio_level_id)
        except ValueError:
            counts.add_drop(DropReason.MALFORMED_RTP.code)
            return
        ssrc, payload_type, seq, timestamp, marker, offset, end, mid, rid, rrid, level = info
        route = self._routes.get(ssrc)
        if route is None:
            route = self._learn(ssrc, payload_type, mid, rid, rrid)
            if route is None:
                return
            self._routes[ssrc] = route
        if isinstance(route, int):
            counts.add_drop(route)
            return
        route.receive(data, payload_type, seq, timestamp, marker, offset, end, level, now_ms)
