"""The node port's kernels, compiled or pure as cython_ext.twins selects; type checkers see the
pure-Python spec."""

from typing import TYPE_CHECKING

from cython_ext.twins import load

if TYPE_CHECKING:
    from sfu.webrtc.datapath_py import Datapath, Peer
    from sfu.webrtc.sendlog_py import SendLog
else:
    SendLog = load("sendlog").SendLog  # first: the compiled datapath cimports it
    Datapath, Peer = load("datapath").Datapath, load("datapath").Peer

__all__ = ["Datapath", "Peer", "SendLog"]
