"""The only import point for the per-packet kernels: the RTP kernels, the Forwarder, the
fan-out, the packet history and the node port's Datapath.

Production uses the compiled cython_ext modules; SFU_NO_EXTENSIONS=1 selects the pure-Python
specs (sfu.rtp.rtp_py, sfu.media's forwarder_py, fanout_py and history,
sfu.webrtc.datapath_py), and type checkers always see the specs. A missing compiled module is an
ImportError, not a silent 10x slowdown.
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING or os.environ.get("SFU_NO_EXTENSIONS") == "1":
    from sfu.media.fanout_py import fan_out
    from sfu.media.forwarder_py import (
        DROP_OTHER_LAYER,
        DROP_PAUSED,
        DROP_TOO_OLD,
        DROP_WAIT_KEYFRAME,
        NEEDS_SWITCH,
        NO_LAYER,
        Forwarder,
    )
    from sfu.media.history_py import PacketHistory
    from sfu.rtp.rtp_py import parse_rtp, vp8_descriptor
    from sfu.webrtc.datapath_py import Datapath, Peer

    IMPLEMENTATION = "python"
else:
    try:
        from cython_ext.datapath import Datapath, Peer
        from cython_ext.fanout import fan_out
        from cython_ext.forwarder import (
            DROP_OTHER_LAYER,
            DROP_PAUSED,
            DROP_TOO_OLD,
            DROP_WAIT_KEYFRAME,
            NEEDS_SWITCH,
            NO_LAYER,
            Forwarder,
        )
        from cython_ext.history import PacketHistory
        from cython_ext.rtp import parse_rtp, vp8_descriptor
    except ImportError as exc:
        raise ImportError(
            "the compiled kernels (cython_ext.rtp, .forwarder, .fanout, .history, .datapath) are "
            "not built: run `make install` or `python setup.py build_ext --inplace`, or set "
            "SFU_NO_EXTENSIONS=1 to run the pure-Python kernels"
        ) from exc
    IMPLEMENTATION = "cython"

__all__ = [
    "DROP_OTHER_LAYER",
    "DROP_PAUSED",
    "DROP_TOO_OLD",
    "DROP_WAIT_KEYFRAME",
    "IMPLEMENTATION",
    "NEEDS_SWITCH",
    "NO_LAYER",
    "Datapath",
    "Forwarder",
    "PacketHistory",
    "Peer",
    "fan_out",
    "parse_rtp",
    "vp8_descriptor",
]
