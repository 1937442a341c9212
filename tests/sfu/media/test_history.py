"""The NACK history's rationing, cap and rate limit, on both implementations (the spec and the
compiled twin)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cython_ext.twins import IMPLEMENTATIONS, load
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.egress import SubscriberFeedback
from sfu.media.history_py import (
    HISTORY_SIZE,
    MAX_RESENDS,
    RESEND_BURST,
    RESEND_INTERVAL_MS,
    RESEND_RATE_PER_S,
)
from sfu.rtp import rtp_py
from sfu.rtp.rtcp import build_nack, nack_seqs
from tests.support.kernels import Kernels
from tests.support.packets import vp8_packet
from tests.support.sinks import Sink
from tests.support.tracks import published, subscribe


@pytest.fixture
def history_class(kernels: Kernels) -> Any:
    return kernels.history.PacketHistory


def _fci(*items: tuple[int, int]) -> bytes:
    """A generic NACK's FCI: (pid, bitmask of the 16 following) pairs."""
    return b"".join(struct.pack("!HH", pid, blp) for pid, blp in items)


def _put(history: Any, seq: int, stored: int | None = None) -> None:
    """Sent ``seq``: the stored packet ``stored`` (an extended sequence number; ``seq`` by
    default) of layer 1, with a timestamp of ``seq * 10``."""
    history.put(seq, 1, seq if stored is None else stored, seq * 10, -1, -1)


def _stored(resends: list[tuple[int, ...]]) -> list[int]:
    """The stored packets (extended sequence numbers) of resends, checking the rest."""
    for layer, _, seq, timestamp, picture_id, tl0picidx in resends:
        assert (layer, timestamp, picture_id, tl0picidx) == (1, seq * 10, -1, -1)
    return [resend[1] for resend in resends]


def _resend(history: Any, seq: int, now_ms: int) -> int | None:
    """The answer to a NACK of one sequence number: the stored packet to resend."""
    packets, over_limit, refused = history.answer(_fci((seq, 0)), now_ms)
    assert over_limit == refused == 0
    assert [p[2] for p in packets] == [seq] * len(packets)
    return _stored(packets)[0] if packets else None


def _filled(history_class: Any, count: int = HISTORY_SIZE) -> Any:
    h = history_class()
    for seq in range(count):
        _put(h, seq)
    return h


@pytest.mark.parametrize(
    "sent",
    [
        (2, 2**40 + 7, 65_535, 2**32 - 1, 0x7FFF, 0xFF),  # the largest of each field
        (0, 0, 0, 0, 0, 0),
        (1, 12_345, 300, 2**31, -1, -1),  # no VP8 picture id or TL0PICIDX
    ],
)
def test_every_field_comes_back_whole_over_its_range(
    history_class: Any, sent: tuple[int, ...]
) -> None:
    """The compiled history keeps each field in as few bits as its range needs."""
    layer, ext_seq, seq, timestamp, picture_id, tl0picidx = sent
    h = history_class()
    h.put(seq, layer, ext_seq, timestamp, picture_id, tl0picidx)
    packets, _, _ = h.answer(_fci((seq, 0)), 0)
    assert packets == [(layer, ext_seq, seq, timestamp, picture_id, tl0picidx)]


def test_resends_are_rationed_per_packet(history_class: Any) -> None:
    h = history_class(16)
    _put(h, 7, 70_007)
    assert _resend(h, 7, 0) == 70_007
    assert _resend(h, 7, RESEND_INTERVAL_MS - 1) is None  # the first resend is still on its way
    sent = 1 + sum(_resend(h, 7, t * RESEND_INTERVAL_MS) is not None for t in range(1, 10))
    assert sent == MAX_RESENDS


def test_only_the_packet_with_that_number_is_resent(history_class: Any) -> None:
    h = history_class(16)
    _put(h, 3, 70_003)
    _put(h, 19, 70_019)  # same slot, 16 later
    assert _resend(h, 3, 0) is None
    assert _resend(h, 19, 0) == 70_019
    assert _resend(h, 35, 0) is None


@pytest.mark.parametrize(
    ("valid_from", "seq", "resent"),
    [(10, 9, False), (10, 10, True), (2, 0xFFFF, False), (0xFFF0, 3, True)],
)
def test_packets_from_before_a_switch_are_not_resent(
    history_class: Any, valid_from: int, seq: int, resent: bool
) -> None:
    h = history_class(16)
    _put(h, seq)
    h.forget_before(valid_from)
    assert (_resend(h, seq, 0) is not None) is resent


def test_size_must_be_a_power_of_two(history_class: Any) -> None:
    with pytest.raises(ValueError, match="power of two"):
        history_class(1000)


def test_the_default_ring_keeps_the_last_history_size_packets(history_class: Any) -> None:
    h = history_class()
    for seq in range(HISTORY_SIZE + 1):
        _put(h, seq)
    assert _resend(h, 0, 0) is None  # overwritten by HISTORY_SIZE
    assert _resend(h, 1, 0) == 1
    assert _resend(h, HISTORY_SIZE, 0) == HISTORY_SIZE


def test_a_nack_is_deduplicated_and_capped_at_what_the_history_holds(history_class: Any) -> None:
    h = _filled(history_class, 8)
    asked = _fci(
        (3, 0b11),  # 3, 4, 5
        (3, 0),  # 3 again
        (5, 0),  # 5 again
        (0xFFFF, 0b100),  # 0xFFFF (not held) and 2
        (6, 0b10_0000_0000_0000),  # 6 and 20 (not held)
        *((1000 + 17 * i, 0xFFFF) for i in range(61)),  # 1,037 more: the cap is reached
        (7, 0),  # beyond the cap
    )
    packets, over_limit, refused = h.answer(asked, 0)
    assert _stored(packets) == [3, 4, 5, 2, 6]
    assert (over_limit, refused) == (7 + 1037 + 1 - HISTORY_SIZE, 0)
    assert _stored(h.answer(_fci((7, 0)), 0)[0]) == [7]  # it was not resent beyond the cap


def test_resends_are_rate_limited_per_subscription(history_class: Any) -> None:
    h = _filled(history_class)
    every = _fci(*((17 * i, 0xFFFF) for i in range(HISTORY_SIZE // 17 + 1)))
    packets, over_limit, refused = h.answer(every, 0)
    assert len(packets) == RESEND_BURST  # the first of the history, in the order asked
    assert _stored(packets) == list(range(RESEND_BURST))
    assert refused == HISTORY_SIZE - RESEND_BURST
    assert over_limit == 17 * (HISTORY_SIZE // 17 + 1) - HISTORY_SIZE
    one_more_ms = 1000 // RESEND_RATE_PER_S
    assert h.answer(every, one_more_ms - 1)[0] == []  # not a whole resend earned yet
    packets, _, refused = h.answer(every, one_more_ms)
    assert _stored(packets) == [RESEND_BURST]
    assert refused == HISTORY_SIZE - RESEND_BURST - 1
    packets, _, _ = h.answer(every, 3_600_000)  # an hour idle earns one burst, not more
    assert len(packets) == RESEND_BURST


def test_nacks_of_unknown_packets_cost_no_budget(history_class: Any) -> None:
    h = _filled(history_class, 4)
    for t in range(10):
        assert h.answer(_fci(*((20_000 + 17 * i, 0xFFFF) for i in range(300))), t)[0] == []
    assert len(h.answer(_fci((0, 0b111)), 10)[0]) == 4


# Sequence numbers as offsets from a random base (wrapping): puts, NACKs and switches then meet.
offsets = st.integers(-40, 700)
bitmasks = st.integers(0, 0xFFFF)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), offsets, st.integers(0, 600)),  # that many, from the offset
        st.tuples(st.just("forget"), offsets),
        # items at random, then a run of items asking for 17 numbers each
        st.tuples(
            st.just("nack"),
            st.lists(st.tuples(offsets, bitmasks), max_size=20),
            offsets,
            st.integers(0, 40),
        ),
        st.tuples(st.just("wait"), st.one_of(st.integers(0, 12), st.integers(0, 400))),
    ),
    max_size=30,
)


@given(
    st.sampled_from([4, 64, HISTORY_SIZE, HISTORY_SIZE]),
    st.integers(0, 0xFFFF),
    st.integers(0, 600),
    operations,
    st.integers(0, 2**40),
)
def test_both_implementations_answer_alike(
    size: int, base: int, sent: int, ops: list[Any], start_ms: int
) -> None:
    """The compiled walk of the FCI (a bitmap for duplicates) is the spec's ``nack_seqs``."""
    histories = [load("history", i).PacketHistory(size) for i in IMPLEMENTATIONS]
    now_ms = start_ms
    for kind, *args in [("put", 0, sent), *ops]:
        if kind == "put":
            for h in histories:
                for i in range(args[1]):
                    seq = (base + args[0] + i) & 0xFFFF
                    h.put(seq, i % 3, base + args[0] + i, seq * 7, i & 0x7FFF, i & 0xFF)
        elif kind == "forget":
            for h in histories:
                h.forget_before((base + args[0]) & 0xFFFF)
        elif kind == "wait":
            now_ms += args[0]
        else:
            items, run_from, run = args
            items += [(run_from + 17 * i, 0xFFFF) for i in range(run)]
            fci = _fci(*(((base + offset) & 0xFFFF, blp) for offset, blp in items))
            spec, compiled = (h.answer(fci, now_ms) for h in histories)
            assert spec == compiled
            packets, over_limit, refused = spec
            seqs, beyond = nack_seqs(fci, size)
            assert over_limit == beyond and len(packets) + refused <= len(seqs)
            assert len(set(packets)) == len(packets)  # each packet at most once per NACK


def _subscribed(kernels: Kernels, counters: MediaCounters, sink: Sink) -> tuple[Any, DownTrack]:
    """A published VP8 track (one layer, SSRC 0x1234) and one subscription to it."""
    line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=1), ())
    receiver = published(line, counters, layer_class=kernels.ingest.Layer)
    receiver.bind_ssrc(0, 0x1234)
    downtrack = subscribe(receiver, sink, counters, forwarder_class=kernels.forwarder.Forwarder)
    return receiver.layers[0], downtrack


def _publish(layer: Any, seqs: range, now_ms: int = 0) -> None:
    """Packets ``seqs`` of the layer (a keyframe first), as the ingest hands them over."""
    for seq in seqs:
        data = vp8_packet(
            seq=seq,
            ts=3000 * seq,
            ssrc=0x1234,
            picture_id=seq,
            tl0picidx=seq,
            keyframe=seq == seqs[0],
            start=True,
            marker=True,
            body=seq.to_bytes(4, "big"),
        )
        _, pt, _, ts, marker, offset, end, *_ = rtp_py.parse_rtp(data, 0, 0, 0, 0)
        layer.receive(data, pt, seq & 0xFFFF, ts, marker, offset, end, -1, now_ms)


def test_a_nack_is_answered_from_the_store_with_the_subscriber_s_numbering(
    kernels: Kernels,
) -> None:
    """The packet is stored once, by its layer; the resend is what this subscription sent under
    that sequence number (its SSRC, sequence number, timestamp, picture ids), byte for byte."""
    counters, sink = MediaCounters(), Sink(record=True)
    layer, downtrack = _subscribed(kernels, counters, sink)
    _publish(layer, range(0xFFF0, 0x10010))  # across the publisher's wrap
    sent = {rtp_py.parse_rtp(out, 0, 0, 0, 0)[2]: out for out in sink.rtp}
    assert len(sent) == 32 and counters.packets_out == 32
    first = min(sent, key=lambda seq: sink.rtp.index(sent[seq]))
    asked = [(first + 3) & 0xFFFF, (first + 20) & 0xFFFF, (first + 31) & 0xFFFF]
    sink.rtp.clear()
    downtrack.retransmit(_fci(*((seq, 0) for seq in asked)), 0)
    assert sink.rtp == [sent[seq] for seq in asked]
    assert counters.retransmits == 3
    assert layer.store.get(0xFFF0 + 3).data[-4:] == (0xFFF0 + 3).to_bytes(4, "big")


def test_a_subscriber_that_negotiated_rtx_gets_its_resends_on_the_rtx_stream(
    kernels: Kernels,
) -> None:
    """RFC 4588: the resend is the packet as sent, wrapped (RTX payload type and SSRC, RTX
    sequence numbers counting up, the original sequence number first in the payload)."""
    counters, sink = MediaCounters(), Sink(record=True)
    line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=1), ())
    receiver = published(line, counters, layer_class=kernels.ingest.Layer)
    receiver.bind_ssrc(0, 0x1234)
    downtrack = subscribe(
        receiver, sink, counters, forwarder_class=kernels.forwarder.Forwarder, rtx=True
    )
    _publish(receiver.layers[0], range(10))
    sent = {rtp_py.parse_rtp(out, 0, 0, 0, 0)[2]: out for out in sink.rtp}
    asked = sorted(sent)[2:5]
    sink.rtp.clear()
    downtrack.retransmit(_fci(*((seq, 0) for seq in asked)), 0)
    rtx = [rtp_py.parse_rtp(out, 0, 0, 0, 0) for out in sink.rtp]
    assert [(p[0], p[1]) for p in rtx] == [(0xABC + 1, 98)] * 3
    assert [(p[2] - rtx[0][2]) & 0xFFFF for p in rtx] == [0, 1, 2]
    originals = [
        rtp_py.unwrap_rtx(out, p[5], p[6], 97, 0xABC) for out, p in zip(sink.rtp, rtx, strict=True)
    ]
    assert originals == [sent[seq] for seq in asked]
    assert counters.retransmits == 3


def test_a_resend_needs_the_packet_still_stored(kernels: Kernels) -> None:
    counters, sink = MediaCounters(), Sink(record=True)
    layer, downtrack = _subscribed(kernels, counters, sink)
    _publish(layer, range(100, 110))
    first = rtp_py.parse_rtp(sink.rtp[0], 0, 0, 0, 0)[2]
    layer.bind(0x1234)  # the layer's SSRC came back: its numbering and store start afresh
    sink.rtp.clear()
    downtrack.retransmit(_fci((first, 0b11)), 0)
    assert sink.rtp == [] and counters.retransmits == 0


def test_a_compounds_nacks_of_one_stream_share_the_cap_and_refusals_are_counted(
    kernels: Kernels,
) -> None:
    counters, sink = MediaCounters(), Sink(record=True)
    layer, downtrack = _subscribed(kernels, counters, sink)
    _publish(layer, range(HISTORY_SIZE))
    by_seq = {rtp_py.parse_rtp(out, 0, 0, 0, 0)[2]: out for out in sink.rtp}
    first = rtp_py.parse_rtp(sink.rtp[0], 0, 0, 0, 0)[2]
    sink.rtp.clear()
    feedback = SubscriberFeedback(counters, lambda _: None)
    feedback.add(downtrack)
    half = HISTORY_SIZE // 2
    compound = b"".join(
        build_nack(1, 0xABC, [(seq + first) & 0xFFFF for seq in range(start, start + HISTORY_SIZE)])
        for start in (half, 0x8000)  # the second asks only beyond the cap
    )
    feedback.on_rtcp(compound + build_nack(1, 0xDEF, [1]), 0)  # a stream it does not receive
    assert sink.rtp == [by_seq[(first + seq) & 0xFFFF] for seq in range(half, half + RESEND_BURST)]
    assert counters.retransmits == RESEND_BURST
    assert counters.drops[DropReason.NACK_OVER_LIMIT] == HISTORY_SIZE
    assert counters.drops[DropReason.NACK_RATE_LIMITED] == half - RESEND_BURST


def test_a_stream_without_negotiated_nack_keeps_one_slot(kernels: Kernels) -> None:
    """Opus is never NACKed (its negotiated feedback has no nack): such a subscription's history
    holds the last packet only, not 16 KB."""
    counters, sink = MediaCounters(), Sink(record=True)
    line = MediaLine("0", "audio", 111, "audio/opus", 48000, ExtensionIds(mid=1), ())
    receiver = published(line, counters, layer_class=kernels.ingest.Layer)
    receiver.bind_ssrc(0, 0x55)
    out = MediaLine("1", "audio", 109, "audio/opus", 48000, ExtensionIds(mid=1), (), 0xDEF)
    downtrack = DownTrack(
        receiver,
        sink,
        out,
        initial_layer=0,
        counters=counters,
        on_layer=lambda _: None,
        forwarder_class=kernels.forwarder.Forwarder,
    )
    receiver.downtracks.append(downtrack)
    for seq in (7, 8):
        data = struct.pack("!BBHII", 0x80, 111, seq, 960 * seq, 0x55) + b"opus"
        receiver.layers[0].receive(data, 111, seq, 960 * seq, False, 12, 12 + 4, -1, 0)
    sent = [rtp_py.parse_rtp(p, 0, 0, 0, 0)[2] for p in sink.rtp]
    sink.rtp.clear()
    downtrack.retransmit(_fci((sent[0], 0)), 0)
    assert sink.rtp == []  # gone: its slot holds the next packet
    downtrack.retransmit(_fci((sent[1], 0)), 0)
    assert [rtp_py.parse_rtp(p, 0, 0, 0, 0)[2] for p in sink.rtp] == [sent[1]]
