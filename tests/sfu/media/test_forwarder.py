"""The Forwarder on both implementations: its codes step by step, what it writes, and the compiled
twin agreeing with the spec on every result and every state after random operations."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Any

import cython_ext.forwarder
import cython_ext.packet
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import sfu.media.forwarder_py
import sfu.media.packet_py
from sfu.media.counters import DropReason
from sfu.media.selector import NO_LAYER, SWITCH
from sfu.rtp import rtp_py
from tests.support.kernels import Kernels
from tests.support.packets import vp8_packet

FIRST_SEQ, FIRST_TS, SSRC, PT = 1000, 50_000, 0xABC, 97
SENT = "sent"


@dataclass(frozen=True)
class In:
    """A received packet: layer ``layer``'s ``k``-th, in frame ``frame`` (30 fps at 90 kHz)."""

    layer: int = 0
    k: int = 0
    keyframe: bool = False
    frame: int = 0

    @property
    def ext_seq(self) -> int:
        return 70_000 + 100 * self.layer + self.k

    @property
    def timestamp(self) -> int:
        return 1_000_000 * self.layer + 3000 * self.frame

    @property
    def picture_id(self) -> int:
        return 1000 * self.layer + self.frame

    def data(self) -> bytes:
        return vp8_packet(
            seq=self.ext_seq,
            ts=self.timestamp,
            ssrc=1000 + self.layer,
            picture_id=self.picture_id,
            tl0picidx=self.frame,
            keyframe=self.keyframe,
            start=True,
            marker=True,
            body=b"payload",
        )

    def forward(self, forwarder: Any, now_ms: int) -> bytes | int:
        data = self.data()
        offset = rtp_py.parse_rtp(data, 0, 0, 0, 0)[5]
        packet = packet_for(forwarder)(
            data,
            1000 + self.layer,
            self.ext_seq,
            self.timestamp,
            True,
            offset,
            -1,
            self.layer,
            self.keyframe,
            now_ms,
            self.picture_id,
            self.frame,
        )
        result: bytes | int = forwarder.forward(packet, now_ms)
        return result

    def switch(self, forwarder: Any, now_ms: int, aligned_ts: int = -1) -> None:
        forwarder.switch(
            self.ext_seq, self.timestamp, self.picture_id, self.frame, now_ms, aligned_ts
        )


def packet_for(forwarder: Any) -> Any:
    """The RtpPacket class of the forwarder's implementation."""
    if type(forwarder) is cython_ext.forwarder.Forwarder:
        return cython_ext.packet.RtpPacket
    return sfu.media.packet_py.RtpPacket


def new(module: Any, target: int = 0, **kw: Any) -> Any:
    args = {
        "ssrc": SSRC,
        "payload_type": PT,
        "mid_id": 1,
        "mid": b"v",
        "abs_send_time_id": 3,
        "audio_level_id": 0,
        "clock_rate": 90000,
        "first_seq": FIRST_SEQ,
        "first_ts": FIRST_TS,
        "target": target,
        "send_rtp": lambda _: True,
        "history_size": 512,
        "transport_cc_id": 0,
    } | kw
    return module.Forwarder(**args)


KEY0, KEY1, KEY2 = In(0, keyframe=True), In(1, keyframe=True), In(2, keyframe=True)
START_ON_0 = [("forward", KEY0, "SWITCH"), ("switch", KEY0), ("forward", KEY0, SENT)]
# (initial target, steps): ("forward", packet, expected), ("switch", packet), ("target", layer),
# ("pause",), ("state", current, target, waiting)
CASES: dict[str, tuple[int, list[tuple[Any, ...]]]] = {
    "starts at a keyframe of the target": (
        1,
        [
            ("state", NO_LAYER, 1, True),
            ("forward", In(1), "WAITING_FOR_KEYFRAME"),
            ("forward", KEY0, "WAITING_FOR_KEYFRAME"),
            ("forward", KEY1, "SWITCH"),
            ("state", NO_LAYER, 1, True),  # forward() does not switch by itself
            ("switch", KEY1),
            ("state", 1, 1, False),
            ("forward", KEY1, SENT),
            ("forward", In(1, k=1), SENT),
            ("forward", In(0, k=1), "LAYER_NOT_SELECTED"),
        ],
    ),
    "keeps the old layer until the new one's keyframe": (
        0,
        [
            *START_ON_0,
            ("target", 2),
            ("state", 0, 2, True),
            ("forward", In(0, k=1), SENT),
            ("forward", In(2), "LAYER_NOT_SELECTED"),
            ("forward", In(1, keyframe=True), "LAYER_NOT_SELECTED"),
            ("forward", KEY2, "SWITCH"),
            ("switch", KEY2),
            ("state", 2, 2, False),
            ("forward", KEY2, SENT),
            ("forward", In(0, k=2), "LAYER_NOT_SELECTED"),
        ],
    ),
    "pause drops everything until a new target's keyframe": (
        0,
        [
            *START_ON_0,
            ("pause",),
            ("state", NO_LAYER, NO_LAYER, False),
            ("forward", In(0, k=1), "PAUSED"),
            ("forward", In(0, k=2, keyframe=True), "PAUSED"),
            ("target", 1),
            ("forward", In(1), "WAITING_FOR_KEYFRAME"),
            ("forward", KEY1, "SWITCH"),
        ],
    ),
    "a target of NO_LAYER pauses without forgetting the current layer": (
        0,
        [
            *START_ON_0,
            ("target", NO_LAYER),
            ("state", 0, NO_LAYER, False),
            ("forward", In(0, k=1), "PAUSED"),
            ("target", 0),
            ("forward", In(0, k=2), SENT),
        ],
    ),
    "a packet from before the start point is too old": (
        0,
        [
            ("forward", In(0, k=5, keyframe=True), "SWITCH"),
            ("switch", In(0, k=5, keyframe=True)),
            ("forward", In(0, k=4), "TOO_OLD"),
            ("forward", In(0, k=6), SENT),
            ("forward", In(0, k=5), SENT),  # reordered after the start point: forwarded
        ],
    ),
}


@pytest.mark.parametrize(("target", "steps"), list(CASES.values()), ids=list(CASES))
def test_codes(kernels: Kernels, target: int, steps: list[tuple[Any, ...]]) -> None:
    module = kernels.forwarder
    forwarder = new(module, target)
    for now_ms, (action, *args) in enumerate(steps):
        if action == "forward":
            result = args[0].forward(forwarder, now_ms)
            if args[1] == SENT:
                assert isinstance(result, bytes), f"step {now_ms}"
            else:
                expected = SWITCH if args[1] == "SWITCH" else DropReason[args[1]].code
                assert result == expected, f"step {now_ms}"
        elif action == "switch":
            args[0].switch(forwarder, now_ms)
        elif action == "target":
            forwarder.target = args[0]
        elif action == "pause":
            forwarder.pause()
        else:
            assert (forwarder.current, forwarder.target, forwarder.waiting) == tuple(args)


def _fields(out: bytes) -> tuple[int, int, int, int, bool, bytes | None, int, int]:
    """(ssrc, pt, seq, ts, marker, mid, abs-send-time, picture id) of a forwarded VP8 packet."""
    ssrc, pt, seq, ts, marker, offset, end, mid, *_ = rtp_py.parse_rtp(out, 1, 0, 0, 0)
    assert out[12:14] == b"\xbe\xde" and out[18] == 3 << 4 | 2  # mid, then abs-send-time
    abs_time = int.from_bytes(out[19:22])
    return ssrc, pt, seq, ts, marker, mid, abs_time, rtp_py.vp8_descriptor(out, offset, end)[2]


def test_output_is_one_stream_across_a_switch(kernels: Kernels) -> None:
    forwarder = new(kernels.forwarder)
    KEY0.switch(forwarder, 1000)
    first = _fields(KEY0.forward(forwarder, 1000))
    # the subscriber's numbers start at first_seq/first_ts; the picture id is kept
    assert first == (SSRC, PT, FIRST_SEQ, FIRST_TS, True, b"v", (1000 << 18) // 1000, 0)
    forwarder.target = 1
    key = replace(KEY1, frame=3)
    key.switch(forwarder, 1100)  # 100 ms later, no sender reports: the wall time
    after = _fields(key.forward(forwarder, 1100))
    assert after[2:4] == (FIRST_SEQ + 1, FIRST_TS + 9000)
    assert after[7] == 1  # continues the picture ids
    assert forwarder.ts_offset == (FIRST_TS + 9000 - key.timestamp) & 0xFFFFFFFF
    assert (forwarder.last_seq, forwarder.last_ts) == (FIRST_SEQ + 1, FIRST_TS + 9000)


@pytest.mark.parametrize(
    ("aligned_ts", "expected"),
    [
        (FIRST_TS + 6000, FIRST_TS + 6000),  # from sender reports
        (FIRST_TS, FIRST_TS + 9000),  # not ahead: the wall time
        (FIRST_TS + 5 * 90000 + 1, FIRST_TS + 9000),  # more than 5 s ahead: the wall time
        (-1, FIRST_TS + 9000),
    ],
)
def test_switch_lands_on_the_aligned_timestamp(
    kernels: Kernels, aligned_ts: int, expected: int
) -> None:
    forwarder = new(kernels.forwarder)
    KEY0.switch(forwarder, 0)
    KEY0.forward(forwarder, 0)
    forwarder.target = 1
    KEY1.switch(forwarder, 100, aligned_ts)
    assert _fields(KEY1.forward(forwarder, 100))[3] == expected


def test_audio_level_and_no_vp8(kernels: Kernels) -> None:
    forwarder = new(kernels.forwarder, mid=b"0", abs_send_time_id=0, audio_level_id=5)
    data = struct.pack("!BBHII", 0x80, 111, 7, 960, 0x55) + b"opus"
    packet = packet_for(forwarder)
    quiet = packet(data, 0x55, 7, 960, False, 12, 0x80, 0, True, 0, -1, -1)
    assert forwarder.forward(quiet, 0) == SWITCH
    forwarder.switch(7, 960, -1, -1, 0, -1)
    out = forwarder.forward(packet(data, 0x55, 7, 960, False, 12, 0x80 | 30, 0, True, 0), 0)
    assert rtp_py.parse_rtp(out, 1, 0, 0, 5)[7:] == (b"0", None, None, 0x80 | 30)
    assert out.endswith(b"opus")


def test_padding_takes_the_next_number_between_frames(kernels: Kernels) -> None:
    """A probe's padding packet: the next sequence number and the last timestamp, the P bit and
    nothing but padding; the stream goes on after it; packets from before it are too old."""
    forwarder = new(kernels.forwarder, transport_cc_id=4)
    assert forwarder.pad(255, 0) is None  # nothing sent yet
    assert KEY0.forward(forwarder, 0) == SWITCH
    KEY0.switch(forwarder, 0)
    assert isinstance(KEY0.forward(forwarder, 0), bytes)
    after = In(0, k=2, frame=1)
    assert isinstance(after.forward(forwarder, 5), bytes)  # ends frame 1 (marker)
    padding = forwarder.pad(255, 10)
    assert isinstance(padding, bytes)
    parsed = rtp_py.parse_rtp(padding, 1, 0, 0, 0)
    assert parsed[:5] == (SSRC, PT, (FIRST_SEQ + 3) & 0xFFFF, forwarder.last_ts, False)
    assert parsed[5] == parsed[6] and padding[-1] == 255 and padding[0] & 0x20
    assert padding[12:17] == b"\xbe\xde\x00\x03\x41"  # the transport seq's slot first
    assert forwarder.last_seq == FIRST_SEQ + 3
    assert In(0, k=1, frame=1).forward(forwarder, 11) == DropReason.TOO_OLD.code  # reordered
    out = In(0, k=3, frame=2).forward(forwarder, 12)
    assert isinstance(out, bytes) and int.from_bytes(out[2:4]) == (FIRST_SEQ + 4) & 0xFFFF
    with pytest.raises(ValueError, match=r"^padding size out of range$"):
        forwarder.pad(256, 13)


def test_no_padding_inside_a_frame_or_while_paused(kernels: Kernels) -> None:
    forwarder = new(kernels.forwarder)
    assert KEY0.forward(forwarder, 0) == SWITCH
    KEY0.switch(forwarder, 0)
    data = vp8_packet(
        seq=KEY0.ext_seq + 1, ts=0, ssrc=1000, picture_id=1, tl0picidx=0, keyframe=False,
        start=True, marker=False, body=b"x",
    )  # fmt: skip
    offset = rtp_py.parse_rtp(data, 0, 0, 0, 0)[5]
    packet = packet_for(forwarder)(
        data, 1000, KEY0.ext_seq + 1, 0, False, offset, -1, 0, False, 0, 1, 0
    )
    assert isinstance(forwarder.forward(packet, 0), bytes)  # a frame's first packet, no marker
    assert forwarder.pad(100, 1) is None
    forwarder.pause()
    assert forwarder.pad(100, 2) is None


def test_a_transport_cc_line_leaves_the_slot_first(kernels: Kernels) -> None:
    forwarder = new(kernels.forwarder, transport_cc_id=4)
    assert KEY0.forward(forwarder, 0) == SWITCH
    KEY0.switch(forwarder, 0)
    out = KEY0.forward(forwarder, 0)
    assert isinstance(out, bytes)
    assert out[12:19] == b"\xbe\xde\x00\x03\x41\x00\x00"
    assert rtp_py.parse_rtp(out, 1, 0, 0, 0)[7] == b"v"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mid_id": 15}, "rtp extension id out of range"),
        ({"abs_send_time_id": 15}, "rtp extension id out of range"),
        ({"audio_level_id": 15}, "rtp extension id out of range"),
        ({"transport_cc_id": 15}, "rtp extension id out of range"),
        ({"mid": b"x" * 17}, "rtp mid too long"),
    ],
)
def test_invalid_line(kernels: Kernels, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        new(kernels.forwarder, **kw)
    assert str(info.value) == message


# --- the compiled twin against the spec ------------------------------------------------------

# Random streams, with the steps where the spec has a boundary drawn often: picture id and
# TL0PICIDX steps around half their range, alignments around the 5 s limit, equal times.
packets = st.tuples(
    st.sampled_from([None, None, None, 0, 1, 2]),  # layer (None: the target, as mostly)
    st.sampled_from([0, 0, 0, -1, -3, 2]),  # reordering of the input sequence number
    st.booleans(),  # keyframe
    st.integers(0, 0xFFFFFFFF),  # timestamp
    st.sampled_from([1, 1, 1, 0, -1, 0x3FFF, 0x4000, 0x4001, None]),  # picture id step
    st.sampled_from([1, 0, -1, 0x7F, 0x80, 0x81, None]),  # TL0PICIDX step
    st.sampled_from([-1, 0x80 | 30]),  # audio level
    st.sampled_from([True] * 9 + [False]),  # a valid payload offset
    st.one_of(  # aligned_ts - last_ts at a switch
        st.none(),
        st.sampled_from([-1, 0, 1, 4 * 90000 + 1, 5 * 90000, 5 * 90000 + 1]),
        st.integers(-1000, 5 * 90000 + 1000),
    ),
    st.booleans(),  # marker: the end of a frame
)
# Before a packet, now and then: a new target (NO_LAYER pauses), pause(), or a padding packet.
controls = st.sampled_from([None] * 30 + [0, 0, 1, 1, 2, 2, NO_LAYER, "pause", "pad", "pad"])
operations = st.lists(st.tuples(controls, packets), min_size=10, max_size=100)


def _forward(forwarder: Any, packet: tuple[Any, ...], ahead: int | None) -> object:
    """Its result, answering SWITCH as DownTrack does (switch, forward again), or the
    ValueError it raised."""
    _, _, seq, ts, _, _, _, _, _, now_ms, pid, tl0 = packet
    received = packet_for(forwarder)(*packet)
    try:
        first = forwarder.forward(received, now_ms)
        if first != SWITCH:  # the same in both (tests/cython_ext/test_vocabulary.py)
            return first
        aligned = -1 if ahead is None else (forwarder.last_ts + ahead) & 0xFFFFFFFF
        forwarder.switch(seq, ts, pid, tl0, now_ms, aligned)
        return first, forwarder.forward(received, now_ms)
    except ValueError as exc:
        return ("ValueError", str(exc))


def _state(forwarder: Any) -> tuple[object, ...]:
    f = forwarder
    return f.current, f.target, f.waiting, f.ts_offset, f.last_seq, f.last_ts


# No explain phase: on 100-operation inputs it takes minutes after a failure.
@settings(max_examples=300, phases=[p for p in Phase if p is not Phase.explain])
@given(
    target=st.integers(0, 2),
    ops=operations,
    step_ms=st.one_of(st.sampled_from([0, 1, 33]), st.integers(0, 700)),
)
def test_compiled_matches_the_spec(
    target: int, ops: list[tuple[int | str | None, tuple[Any, ...]]], step_ms: int
) -> None:
    spec, compiled = new(sfu.media.forwarder_py, target), new(cython_ext.forwarder, target)
    pid = tl0 = 0
    for i, (control, args) in enumerate(ops):
        now_ms = 10_000 + i * step_ms
        if control == "pause":
            spec.pause()
            compiled.pause()
        elif control == "pad":
            assert compiled.pad(255, now_ms) == spec.pad(255, now_ms), i
        elif control is not None:
            spec.target = compiled.target = control
        layer, reorder, keyframe, ts, pid_step, tl0_step, level, valid, ahead, marker = args
        layer = max(spec.target, 0) if layer is None else layer
        seq = 70_000 + 1000 * layer + i + reorder
        pid = (pid + (pid_step or 0)) & 0x7FFF
        tl0 = (tl0 + (tl0_step or 0)) & 0xFF
        data = vp8_packet(
            seq=seq,
            ts=ts,
            ssrc=1,
            picture_id=pid,
            tl0picidx=tl0,
            keyframe=keyframe,
            start=True,
            marker=marker,
            body=b"x",
        )
        offset = rtp_py.parse_rtp(data, 0, 0, 0, 0)[5] if valid else len(data) + 1
        pid_in = -1 if pid_step is None else pid
        tl0_in = -1 if tl0_step is None else tl0
        packet = (data, 1, seq, ts, marker, offset, level, layer, keyframe, now_ms, pid_in, tl0_in)
        assert _forward(compiled, packet, ahead) == _forward(spec, packet, ahead), (i, args)
        assert _state(compiled) == _state(spec), (i, control, args)
    # and both remember the same numbering of what they sent (a NACK of the last 510)
    last = spec.last_seq
    fci = b"".join(
        ((seq & 0xFFFF).to_bytes(2) + b"\xff\xff") for seq in range(last - 509, last + 1, 17)
    )
    assert compiled.history.answer(fci, 0) == spec.history.answer(fci, 0)
