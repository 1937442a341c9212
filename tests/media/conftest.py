"""Media tests that run a kernel run on both implementations (tests.support.kernels). A missing
compiled module fails the "cy" tests; it is never skipped."""

from __future__ import annotations

import pytest

from tests.support.kernels import MODULES, Kernels, load


@pytest.fixture(scope="session", params=list(MODULES))
def impl(request: pytest.FixtureRequest) -> Kernels:
    return load(request.param)
