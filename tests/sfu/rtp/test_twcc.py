"""Transport-cc feedback: round trips, recorded packets, and a reason for each malformed case."""

from __future__ import annotations

import contextlib
import itertools
import struct

import cython_ext.twcc as cy
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sfu.rtp.twcc_py as py
from sfu.rtp.rtcp import (
    ReceiverReport,
    build_rr,
    build_transport_feedback,
    parse_compound,
)
from sfu.rtp.twcc import (
    TransportFeedback,
    pack_transport_seq,
    parse_transport_feedback,
    transport_seq,
)

# Feedback built by libwebrtc (sender SSRC 0xFA17FA17 is its receive-only RTCP SSRC), padded with
# the RTCP P bit; recorded in pion/rtcp's transport_layer_cc_test.go ("example1").
LIBWEBRTC_FEEDBACK = bytes.fromhex("afcd0005 fa17fa17 43032fa0 00990001 3de80217 20019401")
# From the same file ("example6"): a two-bit vector, then a run of 48 losses of which the status
# count (9) needs only 2, and a large delta.
LONG_RUN_FEEDBACK = bytes.fromhex(
    "afcd0007 9b74f61f 9371dcbc 853c0009 63f916b3 d5520030 9baa6aaa 7b010901"
)


def _rtpfb15(fci: bytes) -> bytes:
    """An RTCP transport-cc packet around ``fci`` (zero-padded to 32 bits, P bit clear)."""
    body = struct.pack("!II", 1, 2) + fci + bytes(-len(fci) % 4)
    return struct.pack("!BBH", 0x8F, 205, len(body) // 4) + body


def _header(base: int, count: int, reference: int = 0, fb_count: int = 0) -> bytes:
    return struct.pack("!HHI", base, count, reference << 8 | fb_count)


def test_libwebrtc_feedback_is_read() -> None:
    assert parse_compound(LIBWEBRTC_FEEDBACK) == [
        TransportFeedback(0xFA17FA17, 0x43032FA0, 153, 4057090, 23, (37_000,))
    ]


def test_a_run_past_the_status_count_is_cut_at_the_count() -> None:
    (feedback,) = parse_compound(LONG_RUN_FEEDBACK)
    assert isinstance(feedback, TransportFeedback)
    assert (feedback.base_seq, feedback.reference_time, feedback.feedback_count) == (
        34108,
        6551830,
        179,
    )
    assert feedback.arrivals == (
        38_750, 81_250, 107_750, 150_250, 181_000, None, 247_250, None, None
    )  # fmt: skip


def test_draft_one_bit_vector_example() -> None:
    """§3.1.4's example 1 (0x9F1C): 14 packets, 8 received with small deltas."""
    deltas = bytes([4, 8, 0, 255, 1, 2, 3, 4])
    (feedback,) = parse_compound(_rtpfb15(_header(65530, 14, 5, 9) + b"\x9f\x1c" + deltas))
    assert isinstance(feedback, TransportFeedback)
    received = [1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    times = itertools.accumulate(d * 250 for d in deltas)
    assert feedback.arrivals == tuple([None] + [next(times) if r else None for r in received])
    assert feedback.reference_us == 5 * 64_000
    assert [seq for seq, _ in feedback.packets()] == [*range(65530, 65536), *range(8)]


def test_a_negative_large_delta_moves_arrival_back() -> None:
    fci = _header(7, 2) + b"\xd8\x00" + b"\x10" + (-20).to_bytes(2, signed=True)
    (feedback,) = parse_compound(_rtpfb15(fci))
    assert isinstance(feedback, TransportFeedback)
    assert feedback.arrivals == (4_000, -1_000)


@pytest.mark.parametrize(
    ("fci", "reason"),
    [
        (_header(0, 1)[:4], "twcc header truncated"),
        (_header(0, 0) + b"\x20\x01\x01", "twcc status count is zero"),
        (_header(0, 20) + b"\xbf\xff", "twcc status chunks truncated"),
        # §3.1.4's example 2 (0xCD50) has a symbol 11, reserved in draft -01
        (_header(0, 7) + b"\xcd\x50" + bytes(8), "twcc reserved status symbol"),
        (_header(0, 3) + b"\x40\x03" + bytes(2), "twcc receive deltas truncated"),
        (_header(0, 1) + b"\x20\x01" + bytes(5), "twcc data after receive deltas"),
    ],
)
def test_malformed_feedback_is_refused_with_a_reason(fci: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_compound(_rtpfb15(fci))
    for kernel in (cy, py):
        with pytest.raises(ValueError, match=reason):
            kernel.read_feedback(fci)


def test_deltas_cut_short_by_the_rtcp_padding_are_refused() -> None:
    """pion/rtcp's "example8": a run of 3 received, one delta, then the P-bit padding byte."""
    data = bytes.fromhex("afcd0005 fa17fa17 43032fa0 00990003 3de80217 20039401")
    with pytest.raises(ValueError, match="twcc receive deltas truncated"):
        parse_compound(data)


def test_feedback_sits_in_a_compound_beside_a_report() -> None:
    feedback = TransportFeedback(9, 0, 100, 3, 4, (250, None, 500))
    assert parse_compound(build_rr(9, []) + build_transport_feedback(feedback)) == [
        ReceiverReport(9, ()),
        feedback,
    ]


def test_arrivals_are_rounded_to_250_us_and_out_of_range_gaps_refused() -> None:
    rounded = TransportFeedback(1, 2, 0, 0, 0, (130, 374))
    assert parse_compound(build_transport_feedback(rounded))[0] == TransportFeedback(
        1, 2, 0, 0, 0, (250, 250)
    )
    with pytest.raises(ValueError, match="twcc receive delta out of range"):
        build_transport_feedback(TransportFeedback(1, 2, 0, 0, 0, (0, 8_192_000)))
    with pytest.raises(ValueError, match="twcc status count out of range"):
        build_transport_feedback(TransportFeedback(1, 2, 0, 0, 0, ()))


_delta = st.one_of(st.none(), st.integers(0, 255), st.integers(-0x8000, 0x7FFF))


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFF),
    # runs of one status (lost / small / large), so that run-length chunks occur as well
    st.lists(st.tuples(_delta, st.integers(1, 40)), min_size=1, max_size=40),
)
def test_round_trip(
    base: int, reference: int, fb_count: int, runs: list[tuple[int | None, int]]
) -> None:
    arrivals: list[int | None] = []
    now = 0
    for delta, repeat in runs:
        for _ in range(repeat):
            if delta is not None:
                now += delta * 250
            arrivals.append(None if delta is None else now)
    feedback = TransportFeedback(0xFA17FA17, 7, base, reference, fb_count, tuple(arrivals))
    data = build_transport_feedback(feedback)
    assert len(data) % 4 == 0
    assert parse_compound(data) == [feedback]


@given(st.binary(max_size=120))
def test_random_feedback_parses_or_raises_value_error(fci: bytes) -> None:
    with contextlib.suppress(ValueError):
        (feedback,) = parse_compound(_rtpfb15(fci))
        assert isinstance(feedback, TransportFeedback)
        assert 0 < len(feedback.arrivals) <= 0xFFFF


def _read(read: object, fci: bytes) -> object:
    try:
        return read(fci)  # type: ignore[operator]
    except ValueError as exc:
        return str(exc)


_CHUNKS = st.lists(
    st.one_of(
        st.integers(0, 0xFFFF).map(lambda c: c.to_bytes(2)),
        st.sampled_from([b"\x20\x05", b"\x40\x03", b"\x9f\xff", b"\xd5\x55", b"\x00\x30"]),
        st.binary(min_size=1, max_size=3),
    ),
    max_size=12,
)


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 40),
    st.integers(0, 0xFFFFFFFF),
    _CHUNKS,
)
@example(0, 1, 0x0A00_0001, [b"\x20\x01", b"\xff"])  # one small delta of 255
@example(0, 2, 0, [b"\x40\x02", b"\x80\x00", b"\xff\xff"])  # two large deltas, negative
def test_both_read_feedback_alike(base: int, count: int, word: int, chunks: list[bytes]) -> None:
    """The compiled reader and its twin on headers followed by chunk-like and random bytes:
    the same feedback, or the same reason to refuse it."""
    fci = struct.pack("!HHI", base, count, word) + b"".join(chunks)
    assert _read(cy.read_feedback, fci) == _read(py.read_feedback, fci)


@given(st.binary(max_size=60))
def test_both_read_random_bytes_alike(fci: bytes) -> None:
    assert _read(cy.read_feedback, fci) == _read(py.read_feedback, fci)


def test_direct_parse_matches_the_compound_path() -> None:
    fci = LIBWEBRTC_FEEDBACK[12:-1]
    assert (
        parse_transport_feedback(0xFA17FA17, 0x43032FA0, fci)
        == parse_compound(LIBWEBRTC_FEEDBACK)[0]
    )


def test_header_extension_value() -> None:
    assert pack_transport_seq(0x1_2345) == b"\x23\x45"
    assert transport_seq(b"\x23\x45") == 0x2345
    with pytest.raises(ValueError, match="twcc extension length is not 2"):
        transport_seq(b"\x01")
