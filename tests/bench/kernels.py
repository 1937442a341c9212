"""ns/packet of the per-packet kernels, compiled and pure Python: `python -m tests.bench.kernels`.

1200-byte Chrome-like VP8 packets; each figure is the median of 5 timeit runs of process CPU
time (the machine is shared, so wall time is noisy). Forwarder.forward and DownTrack.write run
the steady path (the layer being sent: decide, renumber, rewrite, record in the history;
DownTrack.write adds a sink that sends nowhere). Not collected by pytest (no test_ prefix).
"""

import statistics
import time
import timeit
from typing import Any

from cython_ext.twins import IMPLEMENTATIONS
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.receiver import TrackReceiver
from tests.sfu.rtp import vectors as v
from tests.support.kernels import Kernels, kernels
from tests.support.sinks import Sink

PACKET = v.VP8_KEYFRAME
OFFSET, END = v.VP8_KEYFRAME_OFFSET, len(PACKET)
CALLS = {
    "parse_rtp": f"k.parse_rtp(data, {', '.join(map(str, v.VIDEO_IDS))})",
    "rewrite_rtp": (
        f"k.rewrite_rtp(data, {OFFSET}, 0x11223344, 96, 7, 90000, False, "
        "1, b'0', 2, 0x123456, 0, -1, 0x1234, 9)"
    ),
    "vp8_descriptor": f"k.vp8_descriptor(data, {OFFSET}, {END})",
    "classify": "classify(data)",
    "Forwarder.forward": "forward(packet, 1000)",
    "DownTrack.write": "write(packet, 1000)",
}


def _subjects(implementation: Kernels) -> dict[str, Any]:
    """The names CALLS use: a DownTrack forwarding layer 0, its Forwarder, one packet of it."""
    publisher = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=9), ("q",))
    receiver = TrackReceiver(
        "T",
        publisher,
        send_rtcp=lambda _: True,
        local_ssrc=1,
        counters=MediaCounters(),
        layer_class=implementation.ingest.Layer,
    )
    line = MediaLine(
        "1", "video", 97, "video/vp8", 90000, ExtensionIds(mid=1, abs_send_time=3), (), 0xABC
    )
    downtrack = DownTrack(
        receiver,
        Sink(),
        line,
        initial_layer=0,
        counters=MediaCounters(),
        on_layer=lambda _: None,
        forwarder_class=implementation.forwarder.Forwarder,
    )
    rtp = implementation.rtp
    keyframe, _, picture_id, tl0picidx, _, _ = rtp.vp8_descriptor(PACKET, OFFSET, END)
    packet = implementation.packet.RtpPacket(
        PACKET, 1, 70_000, 90000, False, OFFSET, -1, 0, keyframe, 1000, picture_id, tl0picidx
    )
    downtrack.write(packet, 1000)  # the keyframe starts the layer
    assert downtrack.packets_sent == 1
    return {
        "k": rtp,
        "classify": implementation.demux.classify,
        "data": PACKET,
        "forward": downtrack.forwarder.forward,
        "write": downtrack.write,
        "packet": packet,
    }


def ns_per_call(names: dict[str, Any], stmt: str, number: int) -> float:
    runs = timeit.repeat(stmt, time.process_time, number=number, repeat=5, globals=names)
    return statistics.median(runs) / number * 1e9


def main() -> None:
    numbers = {"cython": 200_000, "python": 20_000}
    implementations = {i: (_subjects(kernels(i)), numbers[i]) for i in IMPLEMENTATIONS}
    print(f"{'kernel':<18}" + "".join(f"{name:>12}" for name in implementations) + "  (ns/packet)")
    for kernel, stmt in CALLS.items():
        row = [ns_per_call(names, stmt, n) for names, n in implementations.values()]
        print(f"{kernel:<18}" + "".join(f"{ns:>12.0f}" for ns in row))
    empty = ns_per_call({"k": kernels("cython").rtp}, "k.__name__", 200_000)
    print(f"(an attribute lookup + statement costs {empty:.0f} ns)")


if __name__ == "__main__":
    main()
