"""The two implementations of the per-packet kernels, for tests that run on both: the pure-Python
specs ("py") and the compiled twins ("cy"), chosen explicitly rather than through
sfu.rtp.fastpath."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

MODULES = {
    "py": ("sfu.rtp.rtp_py", "sfu.media.forwarder_py", "sfu.media.fanout_py"),
    "cy": ("cython_ext.rtp", "cython_ext.forwarder", "cython_ext.fanout"),
}


@dataclass(frozen=True)
class Kernels:
    rtp: ModuleType  # parse_rtp, rewrite_rtp, vp8_descriptor
    forwarder: ModuleType  # Forwarder and its codes
    fanout: ModuleType  # fan_out


def load(name: str) -> Kernels:
    return Kernels(*(importlib.import_module(module) for module in MODULES[name]))
