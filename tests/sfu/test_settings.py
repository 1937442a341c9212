"""Node settings whose bounds come from the machinery they configure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sfu.settings import NodeSettings
from sfu.webrtc.datapath_py import MAX_SEGMENTS


def test_udp_segments_go_from_one_send_each_to_the_kernels_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SFU_API_KEYS", "k:" + "x" * 32)
    assert NodeSettings().udp_segments == MAX_SEGMENTS
    monkeypatch.setenv("SFU_UDP_SEGMENTS", "1")
    assert NodeSettings().udp_segments == 1
    for bad in ("0", str(MAX_SEGMENTS + 1), "many"):
        monkeypatch.setenv("SFU_UDP_SEGMENTS", bad)
        with pytest.raises(ValidationError, match="udp_segments"):
            NodeSettings()
