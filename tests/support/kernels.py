"""One column of cython_ext.twins, for tests that run on both implementations: the compiled
kernels ("cy") or their pure-Python twins ("py"), chosen explicitly (not by SFU_NO_EXTENSIONS)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from cython_ext.twins import TWINS, load

IDS = {"cython": "cy", "python": "py"}


@dataclass(frozen=True)
class Kernels:
    implementation: str
    rtp: ModuleType  # parse_rtp, rewrite_rtp, vp8_descriptor
    demux: ModuleType  # classify
    twcc: ModuleType  # read_feedback
    counts: ModuleType  # Counts
    packet: ModuleType  # RtpPacket
    stats: ModuleType  # StreamStats
    store: ModuleType  # PacketStore
    history: ModuleType  # PacketHistory
    forwarder: ModuleType  # Forwarder
    fanout: ModuleType  # fan_out
    arrivals: ModuleType  # Arrivals
    bandwidth_estimator: ModuleType  # BandwidthEstimator
    feedback: ModuleType  # FeedbackReader
    ingest: ModuleType  # Ingest, Layer
    sendlog: ModuleType  # SendLog
    datapath: ModuleType  # Datapath, Peer


def kernels(implementation: str) -> Kernels:
    return Kernels(implementation, **{kernel: load(kernel, implementation) for kernel in TWINS})
