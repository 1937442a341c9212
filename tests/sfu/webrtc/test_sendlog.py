"""Transport-wide seqs stamped on what a subscriber transport sends, and the log feedback is
matched against, on both implementations."""

from __future__ import annotations

import cython_ext.sendlog as cy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sfu.webrtc.sendlog_py as py
from sfu.media.arrivals_py import LOST, RECEIVED, UNKNOWN
from sfu.rtp.rtp_py import TRANSPORT_SEQ_AT, rewrite_rtp
from tests.support.kernels import Kernels

TCC_ID = 5


def _forwarded(size: int = 100, transport_cc_id: int = TCC_ID, mid: bytes = b"1") -> bytes:
    """A packet as our forwarder builds it: the transport seq's slot first, then mid."""
    original = bytes([0x80, 96]) + bytes(10) + b"p" * size
    return rewrite_rtp(
        original, 12, 0x1234, 96, 7, 9000, False, 1, mid, 0, 0, 0, -1, -1, -1, transport_cc_id
    )


def test_stamps_consecutive_seqs_into_the_slot_and_logs_each(kernels: Kernels) -> None:
    log = kernels.sendlog.SendLog(TCC_ID)
    packet = _forwarded()
    stamped = [log.stamp(packet, 1_000 + i) for i in range(3)]
    at = TRANSPORT_SEQ_AT
    assert [int.from_bytes(p[at : at + 2]) for p in stamped] == [0, 1, 2]
    assert all(p[:at] == packet[:at] and p[at + 2 :] == packet[at + 2 :] for p in stamped)
    assert log.next_seq == 3
    assert log.sent(1) == (1, 1_001, len(packet), 0, UNKNOWN)
    assert packet[at : at + 2] == b"\x00\x00"  # the caller's bytes are not written to


@pytest.mark.parametrize(
    "packet",
    [
        _forwarded(transport_cc_id=0),  # no slot: mid comes first
        _forwarded(transport_cc_id=6),  # another id's element
        _forwarded()[:18],  # too short to hold the seq
        bytes([0x81]) + _forwarded()[1:],  # a CSRC: the extension is elsewhere
        bytes([0x80]) + _forwarded()[1:],  # no extension
        b"\x90\x60" + bytes(10) + b"\x10\x00\x00\x01" + _forwarded()[16:],  # two-byte profile
    ],
)
def test_a_packet_without_our_slot_is_sent_as_it_is(kernels: Kernels, packet: bytes) -> None:
    log = kernels.sendlog.SendLog(TCC_ID)
    assert log.stamp(packet, 5) == packet
    assert log.next_seq == 0


def test_probe_ids_and_verdicts_are_kept_per_packet(kernels: Kernels) -> None:
    log = kernels.sendlog.SendLog(TCC_ID)
    log.record(100, 1)
    log.probe = 7
    log.record(1_200, 2)
    log.probe = 0
    log.judge(0, LOST)
    log.judge(1, RECEIVED)
    log.judge(9, RECEIVED)  # never sent: nothing to keep
    assert log.sent(0) == (0, 1, 100, 0, LOST)
    assert log.sent(1) == (1, 2, 1_200, 7, RECEIVED)
    assert log.sent(2) is None and log.sent(9) is None


def test_seqs_wrap_at_16_bits_and_old_ones_are_forgotten(kernels: Kernels) -> None:
    log = kernels.sendlog.SendLog(TCC_ID, 8)
    for i in range(0x10003):
        log.record(i & 0x7FF, i)
    assert log.sent(0x0002) == (0x10002, 0x10002, 0x10002 & 0x7FF, 0, UNKNOWN)
    assert log.sent(0xFFFB) == (0xFFFB, 0xFFFB, 0xFFFB & 0x7FF, 0, UNKNOWN)
    assert log.sent(0xFFFA) is None  # 9 packets back: overwritten
    assert log.sent(0x0003) is None  # not sent yet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0,), "transport-cc extension id out of range"),
        ((15,), "transport-cc extension id out of range"),
        ((5, 3), "send log size must be a power of two up to 65536"),
        ((5, 0x20000), "send log size must be a power of two up to 65536"),
    ],
)
def test_invalid_configuration(kernels: Kernels, args: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError) as info:
        kernels.sendlog.SendLog(*args)
    assert str(info.value) == message


@settings(max_examples=300)
@given(
    packets=st.lists(
        st.one_of(st.binary(max_size=40), st.builds(_forwarded, st.integers(0, 50))),
        max_size=30,
    ),
    ext_id=st.integers(1, 14),
)
def test_both_stamp_and_log_alike(packets: list[bytes], ext_id: int) -> None:
    logs = cy.SendLog(ext_id, 16), py.SendLog(ext_id, 16)
    for now, packet in enumerate(packets):
        assert logs[0].stamp(packet, now) == logs[1].stamp(packet, now)
    assert logs[0].next_seq == logs[1].next_seq
    assert [logs[0].sent(s) for s in range(40)] == [logs[1].sent(s) for s in range(40)]
