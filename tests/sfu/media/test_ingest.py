"""The compiled ingest against its pure-Python twin: the same packets in, through a whole publish
connection (parse, route, statistics, store, fan-out to several subscriptions, switches), give
the same packets out and the same counters, malformed packets included; and the node runs the
compiled one, called by the datapath without Python."""

from __future__ import annotations

import random
import struct
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.ingress import PublisherIngress
from sfu.media.selector import NO_LAYER
from sfu.rtp import rtp_py
from sfu.rtp.rtcp import build_nack
from tests.support.kernels import Kernels, kernels
from tests.support.packets import MID_ID, RID_ID, fu_a, h264_packet, stap_a, vp8_packet
from tests.support.sinks import Sink
from tests.support.tracks import subscribe

RIDS = ("q", "h", "f")
RRID_ID, LEVEL_ID = 11, 12
VIDEO_PT, RTX_PT, AUDIO_PT = 96, 97, 111
VIDEO = MediaLine(
    "0",
    "video",
    VIDEO_PT,
    "video/vp8",
    90000,
    ExtensionIds(mid=MID_ID, rid=RID_ID, repaired_rid=RRID_ID),
    RIDS,
    nack=True,
    rtx_payload_type=RTX_PT,
)
AUDIO = MediaLine(
    "1", "audio", AUDIO_PT, "audio/opus", 48000, ExtensionIds(mid=MID_ID, audio_level=LEVEL_ID), ()
)


def _audio(seq: int, level: int, *, ssrc: int = 2000) -> bytes:
    ext = bytes([MID_ID << 4, ord("1"), LEVEL_ID << 4, 0x80 | level])
    header = struct.pack("!BBHII", 0x90, AUDIO_PT, seq & 0xFFFF, (960 * seq) & 0xFFFFFFFF, ssrc)
    return header + struct.pack("!HH", 0xBEDE, 1) + ext + b"opus" * 5


def _rtx(original: bytes, seq: int) -> bytes:
    """The publisher's RTX packet (repaired-rid q) that resends ``original``."""
    offset, end = rtp_py.parse_rtp(original, 0, 0, 0, 0)[5:7]
    ext = bytes([MID_ID << 4, ord("0"), RRID_ID << 4, ord("q"), 0, 0, 0, 0])
    b1 = (original[1] & 0x80) | RTX_PT
    header = struct.pack("!BBH", 0x90, b1, seq & 0xFFFF) + original[4:8] + struct.pack("!I", 3000)
    return header + struct.pack("!HH", 0xBEDE, 2) + ext + original[2:4] + original[offset:end]


# Ways to break a valid packet, each caught at a different check (or not at all: the ingest
# must agree either way).
def _malformed(data: bytes, how: int) -> bytes:
    if how == 0:
        return data[:11]  # shorter than a header
    if how == 1:
        return bytes([data[0] | 0x0F]) + data[1:]  # 15 CSRCs announced
    if how == 2:
        return data[:14] + b"\x00\x40" + data[16:]  # extension block longer than the packet
    if how == 3:
        return bytes([data[0] | 0x20]) + data[1:-1] + b"\xff"  # padding longer than the packet
    if how == 4:
        return bytes([data[0] | 0x20]) + data[1:-1] + b"\x00"  # padding count 0
    if how == 5:  # a VP8 descriptor cut short: X, I, M set and the picture id missing
        offset = rtp_py.parse_rtp(data, 0, 0, 0, 0)[5]
        return data[:offset] + b"\x90\x80"
    if how == 6:
        return data[:1] + bytes([(data[1] & 0x80) | 35]) + data[2:]  # an unknown payload type
    if how == 7:
        return bytes([0x40]) + data[1:]  # version 1
    return data[:-3]  # cut inside the payload: still a packet


@st.composite
def streams(draw: st.DrawFn) -> dict[str, Any]:
    frames = draw(st.integers(5, 30))
    return {
        "frames": frames,
        "seq0": draw(st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4)),
        "per_frame": draw(st.lists(st.integers(1, 3), min_size=3, max_size=3)),
        "keyframes": draw(st.sets(st.tuples(st.integers(0, 2), st.integers(1, frames - 1)))),
        "targets": draw(
            st.dictionaries(
                st.integers(0, frames - 1), st.sampled_from([0, 1, 2, NO_LAYER]), max_size=6
            )
        ),
        "lost": draw(st.sets(st.integers(0, frames * 12))),
        "swaps": draw(st.sets(st.integers(0, frames * 12))),
        "broken": draw(st.dictionaries(st.integers(0, frames * 12), st.integers(0, 8))),
        "rtx": draw(st.sets(st.integers(0, frames * 12), max_size=8)),
        "muted": draw(st.sets(st.integers(0, frames - 1), max_size=3)),
        "nacks": draw(st.dictionaries(st.integers(0, frames - 1), st.integers(0, 0xFFFF))),
    }


def _packets(sc: dict[str, Any]) -> list[tuple[int, bytes]]:
    """(frame, datagram) in arrival order: three layers and audio, lost, swapped, broken."""
    out: list[tuple[int, bytes]] = []
    counts = [0, 0, 0, 0]
    for frame in range(sc["frames"]):
        for layer in range(3):
            n = sc["per_frame"][layer]
            keyframe = frame == 0 or (layer, frame) in sc["keyframes"]
            for i in range(n):
                out.append(
                    (
                        frame,
                        vp8_packet(
                            seq=sc["seq0"][layer] + counts[layer],
                            ts=3000 * frame + 777 * layer,
                            ssrc=1000 + layer,
                            picture_id=frame + 100 * layer,
                            tl0picidx=frame,
                            keyframe=keyframe,
                            start=i == 0,
                            marker=i == n - 1,
                            body=bytes([layer, i]) * 12,
                            rid=RIDS[layer].encode(),
                            size=(320 << layer, 180 << layer),
                        ),
                    )
                )
                counts[layer] += 1
        out.append((frame, _audio(sc["seq0"][3] + frame, frame % 127)))
    for i in sorted(sc["swaps"]):
        if i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    # repairs of layer q's packets: of lost ones, of ones received before or after, and of ones
    # not received yet
    originals = [data for _, data in out if data[8:12] == (1000).to_bytes(4)]
    for n, i in enumerate(sorted(sc["rtx"])):
        at = min(i, len(out))
        out.insert(at, (out[min(i, len(out) - 1)][0], _rtx(originals[i % len(originals)], n)))
    broken = [
        (frame, _malformed(data, sc["broken"][i]) if i in sc["broken"] else data)
        for i, (frame, data) in enumerate(out)
    ]
    return [p for i, p in enumerate(broken) if i not in sc["lost"]]


def _run(sc: dict[str, Any], k: Kernels) -> tuple[object, ...]:
    random.seed(3)  # the subscriptions' first sequence numbers and timestamps
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1_000_000, kernel=k.ingest)
    video, audio = ingress.add_track("V", VIDEO), ingress.add_track("A", AUDIO)
    ingress.sink = publisher = Sink(record=True)  # NACKs (uplink repair) and keyframe requests
    sinks = [Sink(record=True, connected=i != 2) for i in range(4)]
    out_video = MediaLine(
        "2",
        "video",
        98,
        "video/vp8",
        90000,
        ExtensionIds(mid=1, abs_send_time=3),
        (),
        0xABC,
        nack=True,
    )
    out_audio = MediaLine("3", "audio", 109, "audio/opus", 48000, ExtensionIds(mid=1), (), 0xDEF)
    subscriptions = []
    for i, sink in enumerate(sinks):
        track, line = (audio, out_audio) if i == 3 else (video, out_video)
        downtrack = DownTrack(
            track,
            sink,
            line,
            initial_layer=i % 3,
            counters=counters,
            on_layer=lambda _: None,
            forwarder_class=k.forwarder.Forwarder,
        )
        track.downtracks.append(downtrack)
        subscriptions.append(downtrack)
    frame_now = -1
    for frame, data in _packets(sc):
        now_ms = 1000 + 33 * frame
        if frame != frame_now:
            frame_now = frame
            if frame in sc["targets"]:
                subscriptions[0].set_target(sc["targets"][frame], now_ms)
                subscriptions[1].set_target(2 - max(sc["targets"][frame], 0), now_ms)
            audio.muted = video.muted = frame in sc["muted"]
            if frame in sc["nacks"]:
                seq = sc["nacks"][frame] % 40
                for d in subscriptions:
                    first = d.forwarder.last_seq - seq
                    d.retransmit(build_nack(1, d.ssrc, [first & 0xFFFF])[12:], now_ms)
        ingress.on_rtp(data, now_ms)
    return (
        [sink.rtp for sink in sinks],
        [(d.packets_sent, d.octets_sent, d.forwarder.current) for d in subscriptions],
        (counters.packets_in, counters.bytes_in, counters.packets_out, counters.bytes_out),
        counters.retransmits,
        (counters.uplink_nacked, counters.uplink_recovered, counters.uplink_unrecovered),
        publisher.rtcp,
        counters.drops,
        [(layer.ssrc, layer.stats.highest, layer.stats.received) for layer in video.layers],
        video.layer_sizes,
        video.report_blocks(now_ms) + audio.report_blocks(now_ms),
    )


# No explain phase: on long inputs it takes minutes after a failure.
@settings(
    max_examples=150,
    phases=[p for p in Phase if p is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(sc=streams())
def test_the_compiled_ingest_is_its_twin(sc: dict[str, Any]) -> None:
    compiled, twin = _run(sc, kernels("cython")), _run(sc, kernels("python"))
    assert compiled == twin
    assert twin[2][0] > 0  # packets were received (and the outcome compared is not empty)


def test_malformed_packets_are_counted_by_name() -> None:
    """Each way of breaking a packet is caught where the spec says, in both implementations."""
    valid = vp8_packet(
        seq=1, ts=0, ssrc=1000, picture_id=0, tl0picidx=0, keyframe=True, start=True,
        marker=True, body=b"x" * 20, rid=b"q",
    )  # fmt: skip
    expected = {
        0: DropReason.MALFORMED_RTP,
        1: DropReason.MALFORMED_RTP,
        2: DropReason.MALFORMED_RTP,
        3: DropReason.MALFORMED_RTP,
        4: DropReason.MALFORMED_RTP,
        5: DropReason.MALFORMED_VP8,
        6: DropReason.UNKNOWN_PAYLOAD_TYPE,
        7: DropReason.MALFORMED_RTP,
    }
    for implementation in ("cython", "python"):
        k = kernels(implementation)
        for how, reason in expected.items():
            counters = MediaCounters()
            ingress = PublisherIngress(counters, remb_bps=1, kernel=k.ingest)
            ingress.add_track("V", VIDEO)
            ingress.on_rtp(valid, 0)  # the SSRC is learnt
            ingress.on_rtp(_malformed(valid[:2] + b"\x00\x02" + valid[4:], how), 0)
            dropped = {r: n for r, n in counters.drops.items() if n}
            assert dropped == {reason: 1}, (implementation, how)


def _ingress(k: Kernels, sink: Sink) -> tuple[PublisherIngress, MediaCounters]:
    """A publish connection with the video track learnt on SSRC 1000 (layer q), subscribed."""
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1, kernel=k.ingest)
    video = ingress.add_track("V", VIDEO)
    random.seed(5)
    subscribe(video, sink, counters, forwarder_class=k.forwarder.Forwarder)
    first = vp8_packet(
        seq=1, ts=0, ssrc=1000, picture_id=0, tl0picidx=0, keyframe=True, start=True,
        marker=True, body=b"x" * 20, rid=b"q",
    )  # fmt: skip
    ingress.on_rtp(first, 0)
    return ingress, counters


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=120),
            st.sampled_from(["raw", "rtp", "rtp with our ssrc"]),
            st.integers(0, 255),
        ),
        max_size=12,
    )
)
def test_random_bytes_are_dropped_alike(datagrams: list[tuple[bytes, str, int]]) -> None:
    """Arbitrary bytes, or bytes behind a plausible header (version 2, the learnt SSRC): both
    implementations count the same drops and send the same packets, and neither raises."""
    outcomes = []
    for implementation in ("cython", "python"):
        sink = Sink(record=True)
        ingress, counters = _ingress(kernels(implementation), sink)
        for i, (body, kind, first) in enumerate(datagrams):
            data = body
            if kind != "raw":
                ssrc = 1000 if kind == "rtp with our ssrc" else 77
                header = struct.pack("!BBHII", 0x80 | first & 0x3F, VIDEO_PT, 2 + i, 0, ssrc)
                data = header + body
            ingress.on_rtp(data, 10 * i)
        outcomes.append((sink.rtp, counters.packets_in, counters.packets_out, counters.drops))
    assert outcomes[0] == outcomes[1]


H264 = MediaLine(
    "0", "video", 102, "video/h264", 90000, ExtensionIds(mid=MID_ID), (), profile="42e01f"
)
OUT_H264 = MediaLine("2", "video", 104, "video/h264", 90000, ExtensionIds(mid=1), (), 0xABC)
IDR_UNIT, SLICE_UNIT = b"\x65\x88\x84" + b"i" * 30, b"\x41\x9a\x02" + b"p" * 30


def _h264_frames(frames: int, sps: bytes, pps: bytes, keyframes: set[int]) -> list[bytes]:
    """A Chrome-like H.264 stream: a keyframe is a STAP-A (SPS, PPS) then its IDR in FU-As,
    other frames one slice each."""
    payloads: list[tuple[int, bytes, bool]] = []
    for frame in range(frames):
        keyframe = [stap_a(sps, pps), *fu_a(IDR_UNIT, 12)]
        parts = keyframe if frame in keyframes else [SLICE_UNIT]
        payloads += [(frame, p, i == len(parts) - 1) for i, p in enumerate(parts)]
    return [
        h264_packet(seq=100 + i, ts=3000 * frame, ssrc=5000, payload=p, marker=marker)
        for i, (frame, p, marker) in enumerate(payloads)
    ]


def _h264_run(k: Kernels, packets: list[bytes]) -> tuple[object, ...]:
    random.seed(7)
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1, kernel=k.ingest)
    video = ingress.add_track("V", H264)
    sink = Sink(record=True)
    downtrack = DownTrack(
        video, sink, OUT_H264, initial_layer=0, counters=counters,
        on_layer=lambda _: None, forwarder_class=k.forwarder.Forwarder,
    )  # fmt: skip
    video.downtracks.append(downtrack)
    for i, data in enumerate(packets):
        ingress.on_rtp(data, 1000 + 10 * i)
    layer = video.layers[0]
    return sink.rtp, counters.drops, layer.keyframe_seq, video.layer_sizes, counters.packets_out


def test_h264_is_forwarded_from_its_first_keyframe_with_the_size_of_its_sps() -> None:
    """The subscription starts at the STAP-A carrying the SPS (not at the slices before it, not
    at the IDR's first fragment), the payload untouched; the layer's size is the SPS's."""
    sps = bytes.fromhex("6742c01fd9005005bb011000003e90000ea600f1832a")  # 1280x720
    pps = b"\x68\xce\x3c\x80"
    packets = _h264_frames(6, sps, pps, keyframes={2, 5})
    for implementation in ("cython", "python"):
        sent, drops, keyframe_seq, sizes, packets_out = _h264_run(kernels(implementation), packets)
        first = rtp_py.parse_rtp(sent[0], 0, 0, 0, 0)
        assert sent[0][first[5] :] == stap_a(sps, pps), implementation
        assert len(sent) == packets_out == len(packets) - 2  # frames 0 and 1 before the keyframe
        assert [rtp_py.parse_rtp(p, 0, 0, 0, 0)[1] for p in sent] == [104] * len(sent)
        # frame 5's IDR (its first fragment): the SPS is looked for up to two packets before it
        assert keyframe_seq & 0xFFFF == 109
        assert sizes == [(1280, 720)]
        assert drops[DropReason.WAITING_FOR_KEYFRAME] == 2


def test_malformed_h264_is_dropped_and_counted_alike() -> None:
    sps = bytes.fromhex("6742c01fd9005005bb011000003e90000ea600f1832a")
    packets = _h264_frames(2, sps, b"\x68\xce\x3c\x80", keyframes={0})
    broken = [h264_packet(seq=200 + i, ts=0, ssrc=5000, payload=p, marker=True) for i, p in
              enumerate([b"\x78\x00\x09\x67", b"\x7c\x85", b"\x60\x00", b"\xe5\x00"])]  # fmt: skip
    outcomes = [_h264_run(kernels(i), packets + broken) for i in ("cython", "python")]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1][DropReason.MALFORMED_H264] == 4


@settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=30), st.booleans()), max_size=15))
def test_random_h264_payloads_are_taken_alike(payloads: list[tuple[bytes, bool]]) -> None:
    sps = bytes.fromhex("6742c01fd9005005bb011000003e90000ea600f1832a")
    packets = _h264_frames(1, sps, b"\x68\xce\x3c\x80", keyframes={0}) + [
        h264_packet(seq=300 + i, ts=9000 * i, ssrc=5000, payload=p, marker=m)
        for i, (p, m) in enumerate(payloads)
    ]
    assert _h264_run(kernels("cython"), packets) == _h264_run(kernels("python"), packets)


def test_the_speaker_tick_reads_each_stored_audio_level_once() -> None:
    """The levels the ingest keeps in its packets come back once, in order, without the voice
    flag; reordered, a new SSRC and more than the store holds included."""
    for implementation in ("cython", "python"):
        ingress = PublisherIngress(
            MediaCounters(), remb_bps=1, kernel=kernels(implementation).ingest
        )
        audio = ingress.add_track("A", AUDIO)
        assert audio.audio_levels() == []
        for seq, level in [(10, 5), (12, 7), (11, 6)]:  # 11 arrives late, before the read
            ingress.on_rtp(_audio(seq, level), 20 * seq)
        assert audio.audio_levels() == [5, 6, 7], implementation
        assert audio.audio_levels() == []
        ingress.on_rtp(_audio(13, 127), 300)
        assert audio.audio_levels() == [127]
        ingress.on_rtp(_audio(500, 40, ssrc=2001), 400)  # the publisher restarted its stream
        assert audio.audio_levels() == [40]
        for seq in range(501, 501 + 2000):  # a tick late by 40 s: the store's last 512
            ingress.on_rtp(_audio(seq, seq % 100, ssrc=2001), 400 + seq)
        levels = audio.audio_levels()
        assert levels == [seq % 100 for seq in range(2501 - 512, 2501)], implementation
