from __future__ import annotations

import pytest

from sfu.webrtc.stack import configure_aiortc


@pytest.fixture(autouse=True, scope="session")
def _loopback_ice() -> None:
    """Test peers gather 127.0.0.1, the only address of the test's network namespace."""
    configure_aiortc(["127.0.0.1"])
