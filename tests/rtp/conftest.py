"""One test suite, two implementations: the pure-Python spec ("py") and the compiled kernels
("cy"). A missing compiled module fails the "cy" tests; it is never skipped."""

import importlib
from types import ModuleType

import pytest


@pytest.fixture(
    scope="session",
    params=["sfu.rtp.rtp_py", "cython_ext.rtp"],
    ids=["py", "cy"],
)
def kernels(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)
