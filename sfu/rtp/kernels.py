"""The wire format's kernels, compiled or pure as cython_ext.twins selects; type checkers see
the pure-Python specs."""

from typing import TYPE_CHECKING

from cython_ext.twins import load

if TYPE_CHECKING:
    from sfu.rtp.demux_py import classify
    from sfu.rtp.rtp_py import parse_rtp, vp8_descriptor, wrap_rtx
    from sfu.rtp.twcc_py import read_feedback
else:
    classify = load("demux").classify
    parse_rtp, vp8_descriptor = load("rtp").parse_rtp, load("rtp").vp8_descriptor
    wrap_rtx = load("rtp").wrap_rtx
    read_feedback = load("twcc").read_feedback

__all__ = ["classify", "parse_rtp", "read_feedback", "vp8_descriptor", "wrap_rtx"]
