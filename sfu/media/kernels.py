"""The packet path's kernels, compiled or pure as cython_ext.twins selects; type checkers see
the pure-Python specs."""

from typing import TYPE_CHECKING

from cython_ext.twins import load

if TYPE_CHECKING:
    from sfu.media.fanout_py import fan_out
    from sfu.media.forwarder_py import Forwarder
    from sfu.media.history_py import PacketHistory
else:
    Forwarder = load("forwarder").Forwarder
    PacketHistory = load("history").PacketHistory
    fan_out = load("fanout").fan_out

__all__ = ["Forwarder", "PacketHistory", "fan_out"]
