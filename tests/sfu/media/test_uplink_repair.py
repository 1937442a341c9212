"""Uplink repair: what a publisher resends on its RTX stream (RFC 4588) is unwrapped into the
layer it repairs and reaches subscribers as the original; duplicates, probes and repairs we
cannot place are dropped and counted. Both implementations of the ingest, the same outcomes."""

from __future__ import annotations

import random
import struct
from dataclasses import replace

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.egress import SubscriberFeedback
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import NACK_BATCH, TrackReceiver
from sfu.rtp import rtp_py
from sfu.rtp.rtcp import (
    Nack,
    ReportBlock,
    SenderReport,
    build_rr,
    nack_seqs,
    ntp_middle32,
    parse_compound,
)
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


# FFmpeg's WHIP muxer: no header extension negotiated, its SSRCs (and RTX's) signalled instead
SIGNALLED = MediaLine(
    "0", "video", 96, "video/vp8", 90000, ExtensionIds(), (), ssrc=1000, nack=True,
    rtx_payload_type=RTX_PT, rtx_ssrc=3000,
)  # fmt: skip


def _media(i: int, *, rid: bytes = b"q", ssrc: int = 1000) -> bytes:
    return vp8_packet(
        seq=65530 + i, ts=3000 * (i // 2), ssrc=ssrc, picture_id=i // 2, tl0picidx=0,
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


def test_a_publisher_without_the_mid_extension_is_known_by_its_signalled_ssrcs(
    kernels: Kernels,
) -> None:
    ingress, video, counters, sink = _publish(kernels, SIGNALLED)
    packets = [_media(i, rid=b"") for i in range(3)]  # their mid element is not negotiated
    ingress.on_rtp(packets[0], 1000)
    ingress.on_rtp(packets[2], 1020)
    ingress.on_rtp(_rtx(packets[1], 1, rrid=None), 1030)
    ingress.on_rtp(_media(3, rid=b"", ssrc=999), 1040)  # an SSRC nobody signalled
    assert len(sink.rtp) == 3 and video.layers[0].ssrc == 1000
    assert [payload[-1] for _, payload in _sent(sink)] == [0, 2, 1]  # the RTX one unwrapped
    assert _drops(counters) == {DropReason.UNKNOWN_SSRC: 1}
    ingress.remove_track(video)
    ingress.on_rtp(_media(4, rid=b"", ssrc=1001), 1050)  # a new SSRC: its line is gone
    assert _drops(counters) == {DropReason.UNKNOWN_SSRC: 2}


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


def _nacked(sink: Sink) -> list[list[int]]:
    """The sequence numbers of each NACK sent to the publisher (other RTCP left out)."""
    out = []
    for data in sink.rtcp:
        for packet in parse_compound(data):
            if isinstance(packet, Nack):
                out.append(nack_seqs(packet.fci, 1000)[0])
    return out


def _publish_with_rtcp(
    k: Kernels, **kw: bool
) -> tuple[PublisherIngress, TrackReceiver, MediaCounters, Sink, list[int]]:
    ingress, video, counters, _ = _publish(k, **kw)
    publisher = Sink(record=True)
    ingress.sink = publisher
    timers: list[int] = []
    video.on_repair_due = timers.append
    return ingress, video, counters, publisher, timers


def test_a_gap_is_nacked_at_once_then_each_round_trip_until_repaired(kernels: Kernels) -> None:
    ingress, video, counters, publisher, timers = _publish_with_rtcp(kernels)
    packets = [_media(i) for i in range(8)]
    for i in (0, 1, 2, 5):  # 3 and 4 lost (across the 16-bit wrap: 65533, 65534)
        ingress.on_rtp(packets[i], 1000 + i)
    assert _nacked(publisher) == [[65533, 65534]]
    assert timers[-1] == 1005 + 100  # no round trip measured yet: 100 ms
    video.round_trip_ms = 40
    ingress.on_rtp(packets[6], 1050)  # in order: no Python, no NACK
    video.repair(1105)
    assert _nacked(publisher)[1:] == [[65533, 65534]] and timers[-1] == 1145
    ingress.on_rtp(_rtx(packets[4], 1), 1120)
    video.repair(1145)
    assert _nacked(publisher)[2:] == [[65533]] and timers[-1] == 1185
    armed = len(timers)
    ingress.on_rtp(packets[3], 1150)  # the original, late
    video.repair(2000)
    assert len(_nacked(publisher)) == 3 and len(timers) == armed  # nothing left to ask
    assert (counters.uplink_nacked, counters.uplink_recovered) == (5, 2)
    assert counters.uplink_unrecovered == 0


def test_a_keyframe_ends_the_repair_of_what_was_lost_before_it(kernels: Kernels) -> None:
    ingress, video, counters, publisher, _ = _publish_with_rtcp(kernels)
    ingress.on_rtp(_media(0), 1000)
    ingress.on_rtp(_media(4), 1010)  # 1 to 3 lost: asked for
    keyframe = vp8_packet(
        seq=65530 + 6, ts=9000, ssrc=1000, picture_id=3, tl0picidx=0, keyframe=True,
        start=True, marker=False, body=b"k" * 20, rid=b"q",
    )  # fmt: skip
    ingress.on_rtp(keyframe, 1020)  # 5 lost too, but before a keyframe: never asked for
    video.repair(1500)
    assert _nacked(publisher) == [[65531, 65532, 65533]]
    assert (counters.uplink_recovered, counters.uplink_unrecovered) == (0, 4)


def test_without_repair_or_nack_feedback_nothing_is_asked(kernels: Kernels) -> None:
    for kw, line in (({"repair": False}, SIMULCAST), ({}, replace(SIMULCAST, nack=False))):
        ingress, video, counters, _ = _publish(kernels, line, **kw)
        publisher = Sink(record=True)
        ingress.sink = publisher
        for i in (0, 3):
            ingress.on_rtp(_media(i), 1000 + i)
        video.repair(5000)
        assert _nacked(publisher) == [] and counters.uplink_nacked == 0


def test_the_round_trip_comes_from_the_subscribers_reports_on_our_sender_reports(
    kernels: Kernels,
) -> None:
    """Our SRs carry the publisher's NTP time; a report block echoing the last one (LSR) and
    the time the subscriber held it (DLSR) gives the round trip to that client."""
    ingress, video, counters, subscriber = _publish(kernels)
    ingress.on_rtp(_media(0), 1000)
    video.on_sender_report(0, 0xE000_0000_8000_0000, 0, 1000)
    (downtrack,) = video.downtracks
    feedback = SubscriberFeedback(counters, lambda _: None)
    feedback.add(downtrack)
    downtrack.tick(1200)
    (sr,) = [p for p in parse_compound(subscriber.rtcp[-1]) if isinstance(p, SenderReport)]
    echo = ntp_middle32(sr.ntp)

    def report(lsr: int, dlsr_ms: int, now_ms: int) -> None:
        block = ReportBlock(downtrack.ssrc, 0, 0, 0, 0, lsr, dlsr_ms * 65536 // 1000)
        feedback.on_rtcp(build_rr(1, [block]), now_ms)

    report(echo ^ 1, 20, 1300)  # echoes an SR we never sent
    report(0, 0, 1300)  # no SR received yet
    assert feedback.round_trip_ms is None
    report(echo, 20, 1300)
    assert feedback.round_trip_ms == 80  # 100 ms since our SR, 20 of them at the subscriber


def test_a_large_loss_is_asked_for_in_nacks_that_fit_a_packet(kernels: Kernels) -> None:
    """Every 17th packet lost: no two losses share a NACK item, so a retry of all of them at
    once would be one 4-byte item each. They go in NACKs of at most NACK_BATCH items."""
    ingress, video, _, publisher, _ = _publish_with_rtcp(kernels)
    data = _media(1)
    for seq in range(17 * 600):
        if seq % 17 != 16:
            ingress.on_rtp(data[:2] + seq.to_bytes(2) + data[4:], 1000)
    publisher.rtcp.clear()
    video.repair(1100)  # the first retry: everything still missing falls due together
    retried = [seq for nack in _nacked(publisher) for seq in nack]
    assert len(retried) > NACK_BATCH and len(publisher.rtcp) > 1
    assert all(len(nack) <= 12 + 4 * NACK_BATCH for nack in publisher.rtcp)
    assert all(seq % 17 == 16 for seq in retried) and len(set(retried)) == len(retried)
