"""ns/packet of the RTP kernels, compiled and pure Python: `python -m tests.bench.kernels`.

1200-byte Chrome-like VP8 packets; each figure is the median of 5 timeit runs of process CPU
time (the machine is shared, so wall time is noisy). Not collected by pytest (no test_ prefix).
"""

import statistics
import time
import timeit
from types import ModuleType

import cython_ext.rtp
import sfu.rtp.kernels_py
from tests.rtp import vectors as v

PACKET = v.VP8_KEYFRAME
OFFSET, END = v.VP8_KEYFRAME_OFFSET, len(PACKET)
CALLS = {
    "parse_rtp": f"k.parse_rtp(data, {', '.join(map(str, v.VIDEO_IDS))})",
    "rewrite_rtp": (
        f"k.rewrite_rtp(data, {OFFSET}, 0x11223344, 96, 7, 90000, False, "
        "1, b'0', 2, 0x123456, 0, -1, 0x1234, 9)"
    ),
    "vp8_descriptor": f"k.vp8_descriptor(data, {OFFSET}, {END})",
}


def ns_per_call(kernels: ModuleType, stmt: str, number: int) -> float:
    runs = timeit.repeat(
        stmt, time.process_time, number=number, repeat=5, globals={"k": kernels, "data": PACKET}
    )
    return statistics.median(runs) / number * 1e9


def main() -> None:
    implementations = {"cython": (cython_ext.rtp, 200_000), "python": (sfu.rtp.kernels_py, 20_000)}
    print(f"{'kernel':<16}" + "".join(f"{name:>12}" for name in implementations) + "  (ns/packet)")
    for kernel, stmt in CALLS.items():
        row = [ns_per_call(module, stmt, n) for module, n in implementations.values()]
        print(f"{kernel:<16}" + "".join(f"{ns:>12.0f}" for ns in row))
    empty = ns_per_call(cython_ext.rtp, "k.__name__", 200_000)
    print(f"(an attribute lookup + statement costs {empty:.0f} ns)")


if __name__ == "__main__":
    main()
