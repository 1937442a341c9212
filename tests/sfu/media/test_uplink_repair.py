"""Uplink repair: what a publisher resends on its RTX stream (RFC 4588) is unwrapped into the
layer it repairs and reaches subscribers as the original; duplicates, probes and repairs we
cannot place are dropped and counted. Both implementations of the ingest, the same outcomes."""

from __future__ import annotations

import random
import struct

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.rtp import rtp_py
from tests.support.kernels import Kernels
from tests.support.packets import MID_ID, RID_ID, vp8_packet
from tests.support.sinks import Sink
from tests.support.tracks import subscribe

RRID_ID, RTX_PT = 11, 97
SIMULCAST = MediaLine(
    "0",
    "video",
    96,
    "video/vp8",
    90000,
    ExtensionIds(mid=MID_ID, rid=RID_ID, repaired_rid=RRID_ID),
    ("q", "h", "f"),
    nack=True,
    rtx_payload_type=RTX_PT,
)
SINGLE = MediaLine(
    "0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID), (), nack=True,
    rtx_payload_type=RTX_PT,
)  # fmt: skip


def _media(i: int, *, rid: bytes = b"q") -> bytes:
    return vp8_packet(
        seq=65530 + i, ts=3000 * (i // 2), ssrc=1000, picture_id=i // 2, tl0picidx=0,
        keyframe=i == 0, start=i % 2 == 0, marker=i % 2 == 1, body=bytes([i]) * 20, rid=rid,
    )  # fmt: skip


def _rtx(
    original: bytes, seq: int, *, rrid: bytes | None = b"q", pt: int = RTX_PT, ssrc: int = 3000
) -> bytes:
    """The RTX packet that resends ``original`` (identified by repaired-rid, or by payload
    type alone without simulcast)."""
    offset, end = rtp_py.parse_rtp(original, 0, 0, 0, 0)[5:7]
    ext = bytes([MID_ID << 4, ord("0")])
    ext += bytes([RRID_ID << 4 | (len(rrid) - 1)]) + rrid if rrid else b""
    ext += bytes(-len(ext) % 4)
    header = struct.pack("!BBH", 0x90, (original[1] & 0x80) | pt, seq) + original[4:8]
    header += struct.pack("!IHH", ssrc, 0xBEDE, len(ext) // 4)
    return header + ext + original[2:4] + original[offset:end]


def _publish(
    k: Kernels, line: MediaLine = SIMULCAST, *, repair: bool = True
) -> tuple[PublisherIngress, TrackReceiver, MediaCounters, Sink]:
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1, repair=repair, kernel=k.ingest)
    video = ingress.add_track("V", line)
    sink = Sink(record=True)
    random.seed(5)
    subscribe(video, sink, counters, forwarder_class=k.forwarder.Forwarder)
    return ingress, video, counters, sink


def _sent(sink: Sink) -> list[tuple[int, bytes]]:
    """(sequence number, payload) of what the subscriber got, in sending order."""
    out = []
    for data in sink.rtp:
        parsed = rtp_py.parse_rtp(data, 0, 0, 0, 0)
        out.append((parsed[2], data[parsed[5] : parsed[6]]))
    return out


def _drops(counters: MediaCounters) -> dict[DropReason, int]:
    return {reason: n for reason, n in counters.drops.items() if n}


def test_a_repaired_packet_reaches_the_subscriber_as_the_original(kernels: Kernels) -> None:
    ingress, video, counters, sink = _publish(kernels)
    packets = [_media(i) for i in range(8)]  # across the 16-bit wrap
    for i, data in enumerate(packets):
        if i not in (3, 5):
            ingress.on_rtp(data, 1000 + 10 * i)
    ingress.on_rtp(_rtx(packets[5], 7), 1100)
    ingress.on_rtp(_rtx(packets[3], 8), 1110)

    sent = _sent(sink)
    first = sent[0][0]
    by_seq = {(seq - first) & 0xFFFF: payload for seq, payload in sent}
    originals = [data[rtp_py.parse_rtp(data, 0, 0, 0, 0)[5] :] for data in packets]
    assert by_seq == dict(enumerate(originals))  # every packet, numbered as sent
    assert [(s - first) & 0xFFFF for s, _ in sent[-2:]] == [5, 3]  # the repairs, late
    layer = video.layers[0]
    assert (layer.stats.received, layer.stats.highest) == (8, 65530 + 7)
    assert _drops(counters) == {}


def test_a_repair_of_a_packet_already_received_is_dropped_as_a_duplicate(
    kernels: Kernels,
) -> None:
    ingress, video, counters, sink = _publish(kernels)
    packets = [_media(i) for i in range(4)]
    for i, data in enumerate(packets):
        ingress.on_rtp(data, 1000 + 10 * i)
    ingress.on_rtp(_rtx(packets[1], 1), 1100)  # the original came after all (or a probe)
    ingress.on_rtp(packets[2], 1110)  # a network duplicate
    assert len(sink.rtp) == 4
    assert video.layers[0].stats.received == 4
    assert _drops(counters) == {DropReason.DUPLICATE: 2}


def test_rtx_without_simulcast_is_known_by_its_payload_type(kernels: Kernels) -> None:
    ingress, video, counters, sink = _publish(kernels, SINGLE)
    packets = [_media(i, rid=b"") for i in range(3)]
    ingress.on_rtp(packets[0], 1000)
    ingress.on_rtp(packets[2], 1020)
    ingress.on_rtp(_rtx(packets[1], 1, rrid=None), 1030)
    assert len(sink.rtp) == 3 and video.layers[0].ssrc == 1000  # the layer kept its SSRC
    assert _drops(counters) == {}


def test_repairs_that_cannot_be_placed_are_dropped_and_counted(kernels: Kernels) -> None:
    ingress, _, counters, sink = _publish(kernels)
    first = _media(0)
    ingress.on_rtp(_rtx(first, 1), 1000)  # before any media of its layer: asked again later
    ingress.on_rtp(first, 1010)
    header = _rtx(first, 2)[:20]  # fixed header, mid and repaired-rid
    probe = bytes([header[0] | 0x20]) + header[1:] + b"\x00\x00\x00\x04"  # padding only
    ingress.on_rtp(probe, 1020)
    ingress.on_rtp(_rtx(first, 3)[:21], 1030)  # one byte of the original sequence number
    # a new RTX stream: for a layer we do not have; of a type never negotiated
    ingress.on_rtp(_rtx(_media(1), 4, rrid=b"x", ssrc=3001), 1040)
    ingress.on_rtp(_rtx(_media(1), 5, pt=99, ssrc=3002), 1050)
    assert len(sink.rtp) == 1
    assert _drops(counters) == {
        DropReason.RTX: 2,
        DropReason.MALFORMED_RTP: 1,
        DropReason.UNKNOWN_RID: 1,
        DropReason.UNKNOWN_PAYLOAD_TYPE: 1,
    }


def test_with_repair_off_the_publishers_rtx_is_dropped(kernels: Kernels) -> None:
    ingress, _, counters, sink = _publish(kernels, repair=False)
    packets = [_media(i) for i in range(3)]
    ingress.on_rtp(packets[0], 1000)
    ingress.on_rtp(packets[2], 1010)
    ingress.on_rtp(_rtx(packets[1], 1), 1020)
    ingress.on_rtp(_rtx(packets[1], 2), 1030)
    assert len(sink.rtp) == 2
    assert _drops(counters) == {DropReason.RTX: 2}
