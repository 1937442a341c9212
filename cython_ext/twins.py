"""Every compiled kernel and its pure-Python twin (the spec), in one table.

Each layer of the node takes its own kernels from here (sfu.rtp.kernels, sfu.media.kernels,
sfu.webrtc.kernels) and the tests run both columns. Production runs the compiled column;
SFU_NO_EXTENSIONS=1 selects the twins. A compiled module that is not built is an ImportError,
not a silent 10x slowdown. The twins are named by string: this package sits below every layer
and imports nothing of ours.
"""

import importlib
import os
from types import ModuleType

# kernel -> (compiled module, pure-Python twin)
TWINS = {
    "rtp": ("cython_ext.rtp", "sfu.rtp.rtp_py"),
    "demux": ("cython_ext.demux", "sfu.rtp.demux_py"),
    "twcc": ("cython_ext.twcc", "sfu.rtp.twcc_py"),
    "counts": ("cython_ext.counts", "sfu.media.counts_py"),
    "packet": ("cython_ext.packet", "sfu.media.packet_py"),
    "stats": ("cython_ext.stats", "sfu.media.stats_py"),
    "store": ("cython_ext.store", "sfu.media.store_py"),
    "history": ("cython_ext.history", "sfu.media.history_py"),
    "forwarder": ("cython_ext.forwarder", "sfu.media.forwarder_py"),
    "fanout": ("cython_ext.fanout", "sfu.media.fanout_py"),
    "arrivals": ("cython_ext.arrivals", "sfu.media.arrivals_py"),
    "bandwidth_estimator": ("cython_ext.bandwidth_estimator", "sfu.media.bandwidth_estimator_py"),
    "feedback": ("cython_ext.feedback", "sfu.media.feedback_py"),
    "ingest": ("cython_ext.ingest", "sfu.media.ingest_py"),
    "sendlog": ("cython_ext.sendlog", "sfu.webrtc.sendlog_py"),
    "datapath": ("cython_ext.datapath", "sfu.webrtc.datapath_py"),
}
IMPLEMENTATIONS = ("cython", "python")  # the columns of TWINS
IMPLEMENTATION = "python" if os.environ.get("SFU_NO_EXTENSIONS") == "1" else "cython"


def load(kernel: str, implementation: str = IMPLEMENTATION) -> ModuleType:
    """The module of ``kernel`` in ``implementation`` (by default, the one the node runs)."""
    compiled, twin = TWINS[kernel]
    if implementation == "python":
        return importlib.import_module(twin)
    try:
        return importlib.import_module(compiled)
    except ImportError as exc:
        raise ImportError(
            f"the compiled kernel {compiled} is not built: run `make install` or `python setup.py "
            "build_ext --inplace`, or set SFU_NO_EXTENSIONS=1 to run the pure-Python kernels"
        ) from exc
