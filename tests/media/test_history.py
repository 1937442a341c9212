"""The NACK history's rationing, on both implementations (the spec and the compiled twin)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from sfu.media.history import HISTORY_SIZE, MAX_RESENDS, RESEND_INTERVAL_MS


@pytest.fixture(params=["sfu.media.history", "cython_ext.history"], ids=["py", "cy"])
def history_class(request: pytest.FixtureRequest) -> Any:
    return importlib.import_module(request.param).PacketHistory


def test_resends_are_rationed_per_packet(history_class: Any) -> None:
    h = history_class(16)
    h.put(7, b"seven")
    assert h.resend(7, 0) == b"seven"
    assert h.resend(7, RESEND_INTERVAL_MS - 1) is None  # the first resend is still on its way
    sent = 1 + sum(h.resend(7, t * RESEND_INTERVAL_MS) is not None for t in range(1, 10))
    assert sent == MAX_RESENDS


def test_only_the_packet_with_that_number_is_resent(history_class: Any) -> None:
    h = history_class(16)
    h.put(3, b"old")
    h.put(19, b"new")  # same slot, 16 later
    assert h.resend(3, 0) is None
    assert h.resend(19, 0) == b"new"
    assert h.resend(35, 0) is None


@pytest.mark.parametrize(
    ("valid_from", "seq", "resent"),
    [(10, 9, False), (10, 10, True), (2, 0xFFFF, False), (0xFFF0, 3, True)],
)
def test_packets_from_before_a_switch_are_not_resent(
    history_class: Any, valid_from: int, seq: int, resent: bool
) -> None:
    h = history_class(16)
    h.put(seq, b"x")
    h.forget_before(valid_from)
    assert (h.resend(seq, 0) is not None) is resent


def test_size_must_be_a_power_of_two(history_class: Any) -> None:
    with pytest.raises(ValueError, match="power of two"):
        history_class(1000)


def test_the_default_ring_keeps_the_last_history_size_packets(history_class: Any) -> None:
    h = history_class()
    for seq in range(HISTORY_SIZE + 1):
        h.put(seq, seq.to_bytes(2, "big"))
    assert h.resend(0, 0) is None  # overwritten by HISTORY_SIZE
    assert h.resend(1, 0) == b"\x00\x01"
    assert h.resend(HISTORY_SIZE, 0) == HISTORY_SIZE.to_bytes(2, "big")
