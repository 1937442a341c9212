"""Dynacast: the publisher encodes only the layers someone receives, and a subscription moved
to a layer it paused waits for that layer, on both kernel implementations."""

from __future__ import annotations

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.receiver import TrackReceiver
from sfu.rtp import rtp_py
from tests.support.kernels import Kernels
from tests.support.packets import MID_ID, RID_ID, vp8_packet
from tests.support.sinks import Sink
from tests.support.tracks import published, subscribe

RIDS = ("q", "h", "f")


def keyframe(receiver: TrackReceiver, layer: int, now_ms: int) -> None:
    """A one-packet keyframe of ``layer`` (SSRC 1000 + layer) arrives."""
    seq = now_ms // 33
    data = vp8_packet(
        seq=seq, ts=3000 * seq, ssrc=1000 + layer, picture_id=seq, tl0picidx=0,
        keyframe=True, start=True, marker=True, body=b"k", mid=b"0", rid=RIDS[layer].encode(),
    )  # fmt: skip
    _, pt, seq, ts, marker, offset, end, *_ = rtp_py.parse_rtp(data, MID_ID, RID_ID, 0, 0)
    receiver.layers[layer].receive(data, pt, seq, ts, marker, offset, end, -1, now_ms)


def test_a_subscription_moved_to_a_paused_layer_asks_for_it_and_waits_for_it(
    kernels: Kernels,
) -> None:
    line = MediaLine(
        "0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID, rid=RID_ID), RIDS
    )
    counters = MediaCounters()
    receiver = published(line, counters, layer_class=kernels.ingest.Layer)
    for layer in range(3):
        receiver.bind_ssrc(layer, 1000 + layer)
    asked: list[list[str]] = []
    receiver.on_needed = asked.append
    downtrack = subscribe(
        receiver, Sink(), counters, forwarder_class=kernels.forwarder.Forwarder, initial_layer=2
    )
    receiver.refresh_needed(0)
    assert asked == [["f"]]  # h is paused from here on; q runs regardless (not ours to say)
    keyframe(receiver, 2, 0)
    keyframe(receiver, 0, 0)
    assert downtrack.forwarder.current == 2
    now_ms = 5_000  # long after h last came
    keyframe(receiver, 2, now_ms)
    keyframe(receiver, 0, now_ms)
    assert receiver.active_layers(now_ms) == [True, False, True]

    downtrack.set_target(1, now_ms)  # e.g. the downlink narrowed

    assert asked[-1] == ["h", "f"]  # h asked for; f until h's keyframe comes
    assert downtrack.forwarder.target == 1  # not q, the nearest layer still coming
    keyframe(receiver, 1, now_ms + 100)  # the publisher restarts h
    assert downtrack.forwarder.current == 1
