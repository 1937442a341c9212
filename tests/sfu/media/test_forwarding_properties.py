"""Properties of one subscription over random simulcast streams, on both kernel implementations
(the VP8 descriptor reader and the Forwarder).

A publisher sends three layers (own SSRCs, sequence, timestamp and PictureID origins, keyframes at
random, wraparound anywhere); packets are lost and reordered; the subscription's target layer
changes at random. Whatever happens, the subscriber must see one seamless stream:
- only the current layer's packets leave, and each layer run starts at a keyframe;
- sequence numbers continue across switches, with gaps only where packets were really lost
  (also when a step down for congestion stops the old layer before the new one's keyframe);
- timestamps and picture ids never go backwards across a switch (and with sender reports,
  the new layer lands exactly on the old layer's timeline).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER
from sfu.rtp import rtp_py
from sfu.rtp.seqnum import diff32, unwrap16
from tests.support.kernels import Kernels
from tests.support.packets import MID_ID, RID_ID, vp8_packet
from tests.support.sinks import Sink
from tests.support.tracks import published

RIDS = ("q", "h", "f")
FRAME_TICKS = 3000  # 30 fps at 90 kHz
NTP_BASE = 0xE000_0000_0000_0000


@dataclass(frozen=True)
class Sent:
    layer: int
    k: int  # the packet's index in its layer (an unwrapped input sequence number)
    frame: int
    ts: int
    picture_id: int
    starts_keyframe: bool


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    frames = draw(st.integers(10, 40))
    return {
        "frames": frames,
        "seq0": draw(st.lists(st.integers(0, 0xFFFF), min_size=3, max_size=3)),
        "ts0": draw(st.lists(st.integers(0, 0xFFFFFFFF), min_size=3, max_size=3)),
        "pid0": draw(st.lists(st.integers(0, 0x7FFF), min_size=3, max_size=3)),
        "per_frame": draw(st.lists(st.integers(1, 3), min_size=3, max_size=3)),
        "keyframes": draw(st.sets(st.tuples(st.integers(0, 2), st.integers(1, frames - 1)))),
        "targets": draw(st.dictionaries(st.integers(0, frames - 1), st.integers(0, 2))),
        # a step down for congestion stops the current layer before the next one's keyframe
        "congested": draw(st.sets(st.integers(0, frames - 1))),
        "lost": draw(st.sets(st.integers(0, frames * 9))),
        "swaps": draw(st.sets(st.integers(0, frames * 9))),
        "sender_reports": draw(st.booleans()),
        "start": draw(st.integers(0, 2)),
    }


def _stream(sc: dict) -> list[tuple[bytes, Sent]]:
    packets: list[tuple[bytes, Sent]] = []
    counts = [0, 0, 0]
    for frame in range(sc["frames"]):
        for layer in range(3):
            keyframe = frame == 0 or (layer, frame) in sc["keyframes"]
            n = sc["per_frame"][layer]
            for i in range(n):
                k = counts[layer]
                counts[layer] += 1
                meta = Sent(
                    layer,
                    k,
                    frame,
                    (sc["ts0"][layer] + frame * FRAME_TICKS) & 0xFFFFFFFF,
                    (sc["pid0"][layer] + frame) & 0x7FFF,
                    keyframe and i == 0,
                )
                data = vp8_packet(
                    seq=sc["seq0"][layer] + k,
                    ts=meta.ts,
                    ssrc=1000 + layer,
                    picture_id=meta.picture_id,
                    tl0picidx=frame,
                    keyframe=keyframe,
                    start=i == 0,
                    marker=i == n - 1,
                    body=f"|{layer}:{k}|".encode().ljust(24, b"."),
                    rid=RIDS[layer].encode(),
                )
                packets.append((data, meta))
    for i in sorted(sc["swaps"]):
        if i + 1 < len(packets):
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
    return [p for i, p in enumerate(packets) if i not in sc["lost"]]


def _receiver(counters: MediaCounters, kernels: Kernels) -> TrackReceiver:
    """The published track: three simulcast layers on SSRCs 1000-1002."""
    publisher = MediaLine(
        "0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID, rid=RID_ID), RIDS
    )
    receiver = published(publisher, counters, layer_class=kernels.ingest.Layer)
    for layer in range(3):
        receiver.bind_ssrc(layer, 1000 + layer)
    return receiver


def _receive(receiver: TrackReceiver, layer: int, data: bytes, now_ms: int) -> None:
    """One packet of ``layer``, as the ingest hands it over."""
    _, pt, seq, ts, marker, offset, end, *_ = rtp_py.parse_rtp(data, MID_ID, RID_ID, 0, 0)
    receiver.layers[layer].receive(data, pt, seq, ts, marker, offset, end, -1, now_ms)


def _forward(
    sc: dict, kernels: Kernels
) -> tuple[list[bytes], dict[bytes, Sent], dict[tuple[int, int], int]]:
    counters = MediaCounters()
    receiver = _receiver(counters, kernels)
    for layer in range(3):
        if sc["sender_reports"]:  # all layers capture on one clock: frame f is at f/30 s
            receiver.on_sender_report(layer, NTP_BASE, sc["ts0"][layer], 0)
    sink = Sink(record=True)
    line = MediaLine(
        "1", "video", 97, "video/vp8", 90000, ExtensionIds(mid=1, abs_send_time=3), (), 0xABC
    )
    downtrack = DownTrack(
        receiver,
        sink,
        line,
        initial_layer=sc["start"],
        counters=counters,
        on_layer=lambda _: None,
        forwarder_class=kernels.forwarder.Forwarder,
    )
    receiver.downtracks.append(downtrack)
    by_body: dict[bytes, Sent] = {}
    delivered: dict[tuple[int, int], int] = {}  # (layer, k) -> arrival order
    frame_now = -1
    for data, meta in _stream(sc):
        if meta.frame != frame_now:
            frame_now = meta.frame
            if frame_now in sc["targets"]:
                downtrack.set_target(
                    sc["targets"][frame_now],
                    frame_now * 33,
                    congested=frame_now in sc.get("congested", ()),
                )
        by_body[data[-24:]] = meta
        delivered[meta.layer, meta.k] = len(delivered)
        _receive(receiver, meta.layer, data, meta.frame * 33)
    return sink.rtp, by_body, delivered


@settings(max_examples=150)
@given(sc=scenarios())
@example(  # a packet of the old layer arrives just after the new layer's keyframe
    sc={
        "frames": 29,
        "seq0": [0, 0, 0],
        "ts0": [0, 0, 0],
        "pid0": [0, 0, 0],
        "per_frame": [1, 3, 1],
        "keyframes": {(2, 4)},
        "targets": {0: 1, 1: 2},
        "lost": set(),
        "swaps": {22, 23},
        "sender_reports": False,
        "start": 0,
    }
)
@example(  # f's packet 4, reordered behind the congestion cut to q, is still sent: f's frame 1
    sc={
        "frames": 10,
        "seq0": [0, 0, 0],
        "ts0": [0, 0, 0],
        "pid0": [0, 0, 0],
        "per_frame": [1, 3, 3],
        "keyframes": set(),
        "targets": {2: 0},
        "congested": {2},
        "lost": set(),
        "swaps": {0, 1, 2, 3, 12, 13},
        "sender_reports": False,
        "start": 2,
    }
)
@example(  # a congestion cut of h, then h again before q's keyframe came: h restarts at a keyframe
    sc={
        "frames": 27,
        "seq0": [0, 0, 0],
        "ts0": [0, 0, 0],
        "pid0": [0, 0, 0],
        "per_frame": [1, 1, 1],
        "keyframes": {(1, 1), (1, 26)},
        "targets": {0: 0, 1: 1, 2: 0, 25: 0, 26: 1},
        "congested": {25},
        "lost": set(),
        "swaps": set(),
        "sender_reports": False,
        "start": 0,
    }
)
def test_one_seamless_stream(kernels: Kernels, sc: dict) -> None:
    out, by_body, delivered = _forward(sc, kernels)

    runs: list[list[tuple[Sent, int, int, int]]] = []  # per layer run: (input, seq, ts, pid)
    last_seq = -1
    for data in out:
        ssrc, pt, seq, ts, _, offset, end, *_ = rtp_py.parse_rtp(data, 1, 0, 0, 0)
        assert (ssrc, pt) == (0xABC, 97)
        pid = rtp_py.vp8_descriptor(data, offset, end)[2]
        meta = by_body[data[-24:]]
        last_seq = unwrap16(last_seq, seq)
        # A run ends where the layer changes, or where a congestion cut stopped it and the same
        # layer started again (its output numbering then skips what was not sent).
        run_seq_offset = runs[-1][0][1] - runs[-1][0][0].k if runs else None
        restarted = meta.starts_keyframe and last_seq - meta.k != run_seq_offset
        if not runs or runs[-1][0][0].layer != meta.layer or restarted:
            assert meta.starts_keyframe, "a layer run must start at a keyframe"
            runs.append([])
        runs[-1].append((meta, last_seq, ts, pid))

    switched_at = [delivered[r[0][0].layer, r[0][0].k] for r in runs[1:]] + [len(delivered)]
    for before, run, run_ends in zip([None, *runs], runs, switched_at, strict=False):
        first = run[0]
        seq_offsets = {seq - m.k for m, seq, _, _ in run}
        ts_offsets = {(ts - m.ts) & 0xFFFFFFFF for m, _, ts, _ in run}
        pid_offsets = {(pid - m.picture_id) & 0x7FFF for m, _, _, pid in run}
        assert len(seq_offsets) == len(ts_offsets) == len(pid_offsets) == 1
        ks = {m.k for m, *_ in run}
        missing = set(range(min(ks), max(ks) + 1)) - ks
        # A gap is a loss, or a packet that arrived only after the next layer's keyframe had
        # taken over (its frame is superseded; known limitation: it is not sent late).
        arrived_in_time = {
            k for k in missing if delivered.get((first[0].layer, k), run_ends) < run_ends
        }
        assert not arrived_in_time, "a gap without a loss"
        if before is None:
            continue
        prev_last = max(before, key=lambda r: r[1])
        assert first[1] == prev_last[1] + 1, "sequence numbers must continue across a switch"
        assert diff32(first[2], prev_last[2]) > 0, "timestamps must move forward"
        assert first[3] == (prev_last[3] + 1) & 0x7FFF, "picture ids must continue"
        if sc["sender_reports"]:
            # on the old layer's timeline; the same capture time as the last frame sent moves on
            # by one tick, so no two frames share a timestamp
            frames_later = first[0].frame - prev_last[0].frame
            assert diff32(first[2], prev_last[2]) == max(frames_later * FRAME_TICKS, 1)


def _fan_out_run(sc: dict, kernels: Kernels, *, each: bool) -> tuple[list, MediaCounters]:
    """Several subscriptions fed by the layer's fan-out, or (``each``) by writing each
    subscription in turn, the reference."""
    random.seed(7)  # the subscriptions' random first sequence numbers and timestamps
    counters = MediaCounters()
    receiver = _receiver(counters, kernels)
    sinks = [Sink(record=True, connected=i != 3) for i in range(5)]  # one not connected yet
    line = MediaLine("1", "video", 97, "video/vp8", 90000, ExtensionIds(mid=1), (), 0xABC)
    for i, sink in enumerate(sinks):
        receiver.downtracks.append(
            DownTrack(
                receiver,
                sink,
                line,
                initial_layer=(sc["start"] + i) % 3,
                counters=counters,
                on_layer=lambda _: None,
                forwarder_class=kernels.forwarder.Forwarder,
            )
        )
    receiver.downtracks[4].set_target(NO_LAYER, 0)  # paused
    subscriptions = list(receiver.downtracks)
    highest = [-1, -1, -1]
    frame_now = -1
    for data, meta in _stream(sc):
        if meta.frame != frame_now:
            frame_now = meta.frame
            if frame_now in sc["targets"]:
                for i, downtrack in enumerate(subscriptions[:4]):
                    downtrack.set_target((sc["targets"][frame_now] + i) % 3, frame_now * 33)
        if each:
            receiver.downtracks.clear()  # the layer only stores it
        _receive(receiver, meta.layer, data, meta.frame * 33)
        ext_seq = unwrap16(highest[meta.layer], int.from_bytes(data[2:4]))
        highest[meta.layer] = max(highest[meta.layer], ext_seq)
        if each:
            receiver.downtracks.extend(subscriptions)
            packet = receiver.stored(meta.layer, ext_seq)
            assert packet is not None and packet.data is data
            for downtrack in subscriptions:
                downtrack.write(packet, meta.frame * 33)
    pairs = zip(sinks, subscriptions, strict=True)
    return [(sink.rtp, d.packets_sent, d.octets_sent) for sink, d in pairs], counters


@settings(max_examples=60)
@given(sc=scenarios())
def test_fan_out_is_each_subscription_written_in_turn(kernels: Kernels, sc: dict) -> None:
    """Several subscriptions (other layers, one paused, one not connected): the fan-out sends,
    keeps and counts exactly what writing each subscription in turn does."""
    sent, counters = _fan_out_run(sc, kernels, each=False)
    expected, expected_counters = _fan_out_run(sc, kernels, each=True)
    assert sent == expected
    assert (counters.packets_out, counters.bytes_out) == (
        expected_counters.packets_out,
        expected_counters.bytes_out,
    )
    assert counters.drops == expected_counters.drops
