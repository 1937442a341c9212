"""The packet path's kernels, compiled or pure as cython_ext.twins selects; type checkers see
the pure-Python specs. (``Counts`` is handed out by sfu.media.counters, which the twins use.)"""

from typing import TYPE_CHECKING

from cython_ext.twins import load

if TYPE_CHECKING:
    from sfu.media.arrivals_py import Arrivals
    from sfu.media.bandwidth_estimator_py import BandwidthEstimator
    from sfu.media.fanout_py import fan_out
    from sfu.media.feedback_py import FeedbackReader
    from sfu.media.forwarder_py import Forwarder
    from sfu.media.history_py import PacketHistory
    from sfu.media.ingest_py import Ingest, Layer, Repair
    from sfu.media.packet_py import RtpPacket
    from sfu.media.stats_py import StreamStats
    from sfu.media.store_py import PacketStore
else:
    RtpPacket = load("packet").RtpPacket
    StreamStats = load("stats").StreamStats
    PacketStore = load("store").PacketStore
    PacketHistory = load("history").PacketHistory
    Forwarder = load("forwarder").Forwarder
    fan_out = load("fanout").fan_out
    Arrivals = load("arrivals").Arrivals
    BandwidthEstimator = load("bandwidth_estimator").BandwidthEstimator
    FeedbackReader = load("feedback").FeedbackReader
    Ingest, Layer, Repair = load("ingest").Ingest, load("ingest").Layer, load("ingest").Repair

__all__ = [
    "Arrivals",
    "BandwidthEstimator",
    "FeedbackReader",
    "Forwarder",
    "Ingest",
    "Layer",
    "PacketHistory",
    "PacketStore",
    "Repair",
    "RtpPacket",
    "StreamStats",
    "fan_out",
]
