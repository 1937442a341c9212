from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.rtp.demux_py import RTCP, RTP, classify
from sfu.rtp.rtcp import (
    RTPFB,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    build_nack,
    build_pli,
    build_remb,
    build_rr,
    build_sr,
    build_transport_feedback,
    lone_transport_feedback,
    nack_seqs,
    ntp_middle32,
    parse_compound,
    round_trip_ms,
)
from sfu.rtp.twcc import TransportFeedback

u32 = st.integers(0, 2**32 - 1)


@given(u32, st.integers(0, 2**64 - 1), u32, u32, u32)
def test_sender_report_round_trip(ssrc: int, ntp: int, ts: int, packets: int, octets: int) -> None:
    sr = SenderReport(ssrc, ntp, ts, packets, octets, ())
    assert parse_compound(build_sr(sr)) == [sr]


@given(
    u32,
    st.lists(
        st.tuples(u32, st.integers(0, 255), st.integers(-(2**23), 2**23 - 1), u32), max_size=40
    ),
)
def test_receiver_reports_round_trip_in_chunks_of_31(
    ssrc: int, blocks: list[tuple[int, int, int, int]]
) -> None:
    reports = [ReportBlock(s, f, lost, h, 7, 8, 9) for s, f, lost, h in blocks]
    parsed = parse_compound(build_rr(ssrc, reports))
    assert all(isinstance(p, ReceiverReport) and p.ssrc == ssrc for p in parsed)
    assert [b for p in parsed if isinstance(p, ReceiverReport) for b in p.reports] == reports


@given(u32, u32, st.sets(st.integers(0, 0xFFFF), min_size=1, max_size=60))
def test_nack_round_trip(sender: int, media: int, lost: set[int]) -> None:
    (nack,) = parse_compound(build_nack(sender, media, sorted(lost)))
    assert isinstance(nack, Nack)
    assert (nack.sender_ssrc, nack.media_ssrc) == (sender, media)
    assert nack_seqs(nack.fci, 0x10000) == (sorted(lost), 0)


@given(
    st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), max_size=300),
    st.integers(0, 600),
)
def test_nack_expansion_is_deduplicated_and_capped(
    items: list[tuple[int, int]], limit: int
) -> None:
    fci = b"".join(struct.pack("!HH", pid, blp) for pid, blp in items)
    asked = [
        (pid + k) & 0xFFFF for pid, blp in items for k in range(17) if not k or blp >> (k - 1) & 1
    ]
    distinct = list(dict.fromkeys(asked))
    assert nack_seqs(fci, limit) == (distinct[:limit], len(distinct) - len(distinct[:limit]))


@given(u32, st.integers(0, 2**40), st.lists(u32, max_size=5))
def test_remb_round_trip_within_mantissa_precision(
    sender: int, bitrate: int, ssrcs: list[int]
) -> None:
    (remb,) = parse_compound(build_remb(sender, bitrate, ssrcs))
    assert isinstance(remb, Remb)
    assert remb.ssrcs == tuple(ssrcs)
    assert bitrate - (bitrate >> 17) <= remb.bitrate <= bitrate


def test_ntp_middle32_is_16_bits_of_seconds_and_16_of_fraction() -> None:
    assert ntp_middle32(0x0123_4567_89AB_CDEF) == 0x4567_89AB


def test_round_trip_is_arrival_minus_lsr_minus_dlsr() -> None:
    sent = ntp_middle32(int(3_900_000_000.5 * 2**32))  # an SR at 3,900,000,000.5 s NTP
    held = 65536 // 4  # the reporter sent its block 250 ms after that SR arrived
    arrival = sent + held + 80 * 65536 // 1000  # 40 ms each way
    assert round_trip_ms(sent, held, arrival) == 80


def test_round_trip_across_the_wrap_of_the_compact_seconds() -> None:
    sent = ntp_middle32((0x1_FFFF << 32) | 0xF000_0000)  # 0.0625 s before the 16 bits wrap
    arrival = ntp_middle32((0x2_0000 << 32) | 0x2000_0000)  # 0.125 s after
    assert sent > arrival
    assert round_trip_ms(sent, 65536 // 8, arrival) == 63  # 0.1875 - 0.125 s: 62.5 ms, half up


@given(st.integers(0, 2**64 - 1), st.integers(0, 60 * 65536), st.integers(0, 10 * 65536))
def test_round_trip_recovers_any_round_trip_over_any_sr_time(
    sr_ntp: int, held: int, trip: int
) -> None:
    lsr = ntp_middle32(sr_ntp)
    arrival = (lsr + held + trip) & 0xFFFFFFFF
    measured = round_trip_ms(lsr, held, arrival)
    if lsr == 0:
        assert measured is None
    else:
        assert measured is not None
        assert abs(measured - max(1.0, trip * 1000 / 65536)) <= 0.5


def test_no_round_trip_without_an_sr_and_at_least_1_ms_when_negative() -> None:
    assert round_trip_ms(0, 0, 12345) is None
    assert round_trip_ms(1000, 50, 1040) == 1  # DLSR larger than the time since the SR
    assert round_trip_ms(1000, 0, 1000) == 1


def test_compound_of_rr_and_pli() -> None:
    data = build_rr(1, []) + build_pli(1, 2)
    assert parse_compound(data) == [ReceiverReport(1, ()), Pli(1, 2)]
    assert classify(data) == RTCP and classify(b"\x80\x60\x00\x01") == RTP


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x81\xc8", "rtcp header truncated"),
        (b"\x41\xc9\x00\x01\x00\x00\x00\x01", "rtcp version is not 2"),
        (b"\x81\xc9\x00\x07\x00\x00\x00\x01", "rtcp length exceeds packet"),
        (b"\x81\xc9\x00\x01\x00\x00\x00\x01", "rtcp receiver report truncated"),
        (b"\x81\xcd\x00\x01\x00\x00\x00\x01", "rtcp feedback truncated"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "rtcp padding invalid"),
        (b"\xa1\xcd\x00\x03" + bytes(8) + b"\x00\x01\x00\x02", "rtcp nack truncated"),
    ],
)
def test_malformed_rtcp_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_compound(data)


@given(st.binary(max_size=200))
def test_random_bytes_parse_or_raise_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_compound(data)


def _outcome(parse: Callable[[bytes], object], data: bytes) -> object:
    try:
        return parse(data)
    except ValueError as exc:
        return f"ValueError: {exc}"


def _mutated(
    data: bytes, first: int, packet_type: int, cut: int, at: int, flip: int, tail: bytes
) -> bytes:
    """A feedback datagram with its first two bytes replaced, a byte flipped, cut or extended."""
    out = bytearray(bytes([first, packet_type]) + data[2:])
    out[at % len(out)] ^= flip
    return bytes(out[: len(out) - cut]) + tail


_feedback_like = st.builds(
    _mutated,
    st.builds(
        lambda arrivals: build_transport_feedback(TransportFeedback(1, 2, 9, 4, 0, arrivals)),
        st.lists(st.one_of(st.none(), st.integers(0, 40_000)), min_size=1, max_size=30).map(
            lambda gaps: tuple(None if g is None else 250 * i + g for i, g in enumerate(gaps))
        ),
    ),
    st.sampled_from([0x8F, 0x8F, 0x8F, 0xAF, 0x8E, 0x4F]),
    st.sampled_from([RTPFB, RTPFB, RTPFB, 201, 206]),
    st.sampled_from([0, 0, 0, 1, 4]),
    st.integers(0, 200),
    st.sampled_from([0, 0, 1, 0x80, 0xFF]),
    st.sampled_from([b"", b"", bytes(4), build_pli(1, 2)]),
)


_BYE = b"\x80\xcb\x00\x00"  # a BYE naming no one: skipped, and the datagram is no longer lone


def _lone_or_walk(data: bytes) -> list[object]:
    """How a subscriber's datagram is read (sfu.media.feedback_py): the shortcut, else the walk."""
    lone = lone_transport_feedback(data)
    return [lone] if lone is not None else list(parse_compound(data))


@given(st.one_of(_feedback_like, st.binary(max_size=80)))
def test_a_lone_feedback_is_read_as_the_compound_walk_reads_it(data: bytes) -> None:
    """The shortcut for browsers' feedback datagrams reads them as parse_compound's walk does
    (also when a BYE comes first, which is no longer lone): the same feedback or refusal."""
    assert _outcome(_lone_or_walk, data) == _outcome(parse_compound, _BYE + data)
    assert lone_transport_feedback(_BYE + data) is None


@given(
    u32,
    u32,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFF),
    st.lists(st.one_of(st.none(), st.integers(0, 60_000)), min_size=1, max_size=40),
)
def test_every_feedback_sent_alone_takes_the_shortcut(
    sender: int, media: int, base: int, reference: int, count: int, gaps: list[int | None]
) -> None:
    arrivals, at = [], 0
    for gap in gaps:
        if gap is not None:
            at += gap
        arrivals.append(None if gap is None else at)
    feedback = TransportFeedback(sender, media, base, reference, count, tuple(arrivals))
    data = build_transport_feedback(feedback)
    assert (
        lone_transport_feedback(data) == parse_compound(data)[0] == parse_compound(_BYE + data)[0]
    )


def test_a_browser_s_feedback_datagram_takes_the_shortcut() -> None:
    feedback = TransportFeedback(1, 2, 65_530, 7, 3, (0, None, 250, 8_000_000))
    data = build_transport_feedback(feedback)
    assert lone_transport_feedback(data) == feedback == parse_compound(data)[0]
    assert lone_transport_feedback(data + build_pli(1, 2)) is None  # a compound: the walk
