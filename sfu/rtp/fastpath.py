"""The only import point for the per-packet RTP kernels.

Production uses the compiled cython_ext.rtp; SFU_NO_EXTENSIONS=1 selects the pure-Python
spec (sfu.rtp.kernels_py), and type checkers always see the spec. A missing compiled
module is an ImportError, not a silent 10x slowdown.
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING or os.environ.get("SFU_NO_EXTENSIONS") == "1":
    from sfu.rtp.kernels_py import parse_rtp, rewrite_rtp, vp8_descriptor

    IMPLEMENTATION = "python"
else:
    try:
        from cython_ext.rtp import parse_rtp, rewrite_rtp, vp8_descriptor
    except ImportError as exc:
        raise ImportError(
            "the compiled RTP kernels (cython_ext.rtp) are not built: run `make install` or "
            "`python setup.py build_ext --inplace`, or set SFU_NO_EXTENSIONS=1 to run the "
            "pure-Python kernels"
        ) from exc
    IMPLEMENTATION = "cython"

__all__ = ["IMPLEMENTATION", "parse_rtp", "rewrite_rtp", "vp8_descriptor"]
