"""The RTP kernels against hand-built packets, and the two implementations against each other."""

from typing import Any

import cython_ext.rtp as cy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sfu.rtp.rtp_py as py
from tests.sfu.rtp import vectors as v
from tests.support.kernels import Kernels

NO_EXT = (0, 0, 0, 0)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# --- parse_rtp -------------------------------------------------------------------------------

PARSE_CASES = {
    "vp8 keyframe": (
        v.VP8_KEYFRAME,
        v.VIDEO_IDS,
        (0x1A2B3C4D, 96, 0x1234, 0x5F5E1000, False, 28, 1200, b"0", b"h", None, -1),
    ),
    "vp8 delta, marker": (
        v.VP8_DELTA,
        v.VIDEO_IDS,
        (0x1A2B3C4D, 96, 0x1235, 0x5F5E1000, True, 24, 1200, b"0", b"h", None, -1),
    ),
    "rtx repaired rid": (
        v.RTX,
        v.VIDEO_IDS,
        (0x0BADCAFE, 97, 0x100, 0x5F5E1000, False, 24, 1200, b"0", None, b"h", -1),
    ),
    "opus audio level": (
        v.OPUS,
        v.AUDIO_IDS,
        (0xDEADBEEF, 111, 42, 15360, True, 28, 120, b"0", None, None, 0xB2),
    ),
    "padding-only probe": (
        v.PADDING_PROBE,
        v.VIDEO_IDS,
        (0x0BADCAFE, 97, 0x101, 0x5F5E1000, False, 24, 24, None, None, None, -1),
    ),
    "csrcs": (v.CSRC, v.VIDEO_IDS, (0x20, 96, 1, 0x10, False, 20, 1200, None, None, None, -1)),
    "two-byte profile": (
        v.TWO_BYTE,
        v.VIDEO_IDS,
        (0x30, 96, 2, 0x20, False, 28, 1200, b"0", b"", None, -1),
    ),
    "ids not negotiated": (
        v.VP8_KEYFRAME,
        NO_EXT,
        (0x1A2B3C4D, 96, 0x1234, 0x5F5E1000, False, 28, 1200, None, None, None, -1),
    ),
}


@pytest.mark.parametrize(("data", "ids", "expected"), PARSE_CASES.values(), ids=PARSE_CASES)
def test_parse(kernels: Kernels, data: bytes, ids: tuple[int, ...], expected: Any) -> None:
    result = kernels.rtp.parse_rtp(data, *ids)
    assert result == expected
    assert [type(x) for x in result] == [type(x) for x in expected]


HEADER = "9060 0001 00000002 00000003"  # X=1, seq 1, ts 2, ssrc 3

ELEMENT_CASES = {
    "one-byte id 15 stops parsing": ("bede 0001 f0 90 30 00", (None, -1)),
    "one-byte id 0 skips one byte, whatever its length": ("bede 0001 05 90 30 00", (b"0", -1)),
    "last duplicate wins": ("bede 0001 90 30 90 31", (b"1", -1)),
    "16-byte one-byte element": ("bede 0005 9f" + "41" * 16 + "000000", (b"A" * 16, -1)),
    "one-byte audio level": ("bede 0001 10 7f 0000", (None, 0x7F)),
    "two-byte appbits ignored": ("100f 0001 09 01 30 00", (b"0", -1)),
    "two-byte padding then element": ("1000 0002 0000 09 02 3031 0000", (b"01", -1)),
    "two-byte empty audio level is absent": ("1000 0001 01 00 0000", (None, -1)),
    "two-byte id 15 is an ordinary id": ("1000 0002 0f 01 07 01 01 05 0000", (None, 5)),
    "unknown profile is skipped": ("abcd 0001 90 30 0000", (None, -1)),
    "empty extension block": ("bede 0000", (None, -1)),
}


@pytest.mark.parametrize(("ext", "expected"), ELEMENT_CASES.values(), ids=ELEMENT_CASES)
def test_extension_elements(kernels: Kernels, ext: str, expected: tuple[Any, int]) -> None:
    data = _hex(HEADER + ext) + b"payload"
    result = kernels.rtp.parse_rtp(data, 9, 0, 0, 1)
    assert (result[7], result[10]) == expected
    assert result[5] == len(data) - len(b"payload")


MALFORMED = {
    "empty": ("", "rtp too short"),
    "11 bytes": ("80" * 11, "rtp too short"),
    "version 0": ("0060 0001 00000002 00000003", "rtp version is not 2"),
    "version 1": ("4060 0001 00000002 00000003", "rtp version is not 2"),
    "version 3": ("c060 0001 00000002 00000003", "rtp version is not 2"),
    "cc=1, no csrc": ("8160 0001 00000002 00000003", "rtp csrc list truncated"),
    "cc=2, one csrc": ("8260 0001 00000002 00000003 00000004", "rtp csrc list truncated"),
    "x=1, no ext header": ("9060 0001 00000002 00000003 bede", "rtp extension truncated"),
    "ext length past end": (HEADER + "bede 0002 90300000", "rtp extension truncated"),
    "one-byte element past block": (HEADER + "bede 0001 00 00 92 30", "rtp extension truncated"),
    "two-byte header past block": (HEADER + "1000 0001 000000 09", "rtp extension truncated"),
    "two-byte value past block": (HEADER + "1000 0001 09 03 3030", "rtp extension truncated"),
    "padding count 0": ("a060 0001 00000002 00000003 0000", "rtp padding invalid"),
    "padding past payload": ("a060 0001 00000002 00000003 0003", "rtp padding invalid"),
    "padding, no payload": ("a060 0001 00000002 00000003", "rtp padding invalid"),
    "padding into ext": (HEADER.replace("90", "b0", 1) + "bede 0000 02", "rtp padding invalid"),
}


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED)
def test_parse_malformed(kernels: Kernels, data: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        kernels.rtp.parse_rtp(_hex(data), 9, 10, 11, 1)
    assert str(info.value) == message


def test_rtcp_is_parsed_as_rtp(kernels: Kernels) -> None:
    """Demuxing RTCP (PT byte 192..223) is the caller's job; the kernel just reads bytes."""
    sender_report = _hex("80c8 0006 deadbeef") + bytes(20)
    assert kernels.rtp.parse_rtp(sender_report, 0, 0, 0, 0)[:5] == (0, 72, 6, 0xDEADBEEF, True)


# --- vp8_descriptor --------------------------------------------------------------------------

VP8_CASES = {
    "chrome keyframe": (v.VP8_KEYFRAME_HEAD[28:], (True, True, 0x123, 5, 0, -1)),
    "chrome delta": (v.VP8_DELTA[24:40], (False, True, 0x124, 5, 1, -1)),
    "continuation": (v.VP8_CONTINUATION[20:40], (False, False, 0x24, -1, -1, -1)),
    "no X, keyframe": ("10 50", (True, True, -1, -1, -1, -1)),
    "no X, partition 1": ("11 9c", (False, False, -1, -1, -1, -1)),
    "X without fields": ("90 00 50", (True, True, -1, -1, -1, -1)),
    "7-bit picture id": ("90 80 7f 50", (True, True, 0x7F, -1, -1, -1)),
    "15-bit picture id": ("90 80 ffff 50", (True, True, 0x7FFF, -1, -1, -1)),
    "L only": ("90 40 ab 50", (True, True, -1, 0xAB, -1, -1)),
    "T only": ("90 20 df 50", (True, True, -1, -1, 3, -1)),
    "K only": ("90 10 df 50", (True, True, -1, -1, -1, 0x1F)),
    "T and K": ("90 30 8a 50", (True, True, -1, -1, 2, 0x0A)),
    "all fields": ("90 f0 8001 02 43 50", (True, True, 1, 2, 1, 3)),
    "descriptor fills payload": ("90 80 05", (False, True, 5, -1, -1, -1)),
    "non-reference, N bit": ("b0 00 50", (True, True, -1, -1, -1, -1)),
}


@pytest.mark.parametrize(("payload", "expected"), VP8_CASES.values(), ids=VP8_CASES)
def test_vp8_descriptor(kernels: Kernels, payload: str | bytes, expected: Any) -> None:
    raw = _hex(payload) if isinstance(payload, str) else payload
    data = b"\x80" * 12 + raw + b"\x00"  # past payload_end: would read as a key frame
    result = kernels.rtp.vp8_descriptor(data, 12, len(data) - 1)
    assert result == expected
    assert [type(x) for x in result] == [type(x) for x in expected]


VP8_TRUNCATED = ["", "90", "90 80", "90 80 80", "90 40", "90 20", "90 10", "90 f0 8001 02"]


@pytest.mark.parametrize("payload", VP8_TRUNCATED)
def test_vp8_descriptor_truncated(kernels: Kernels, payload: str) -> None:
    data = b"\x80" * 12 + _hex(payload) + b"\xff\xff"  # bytes past payload_end are not read
    with pytest.raises(ValueError, match=r"^vp8 descriptor truncated$"):
        kernels.rtp.vp8_descriptor(data, 12, len(data) - 2)


@pytest.mark.parametrize(("offset", "end"), [(-1, 14), (12, 15)])
def test_vp8_descriptor_bounds(kernels: Kernels, offset: int, end: int) -> None:
    with pytest.raises(ValueError, match=r"^rtp payload offset out of range$"):
        kernels.rtp.vp8_descriptor(b"\x80" * 12 + b"\x10\x00", offset, end)


# --- rewrite_rtp -----------------------------------------------------------------------------


def _rewrite(kernels: Kernels, data: bytes, offset: int, **kw: Any) -> bytes:
    """rewrite_rtp with defaults for what a test does not care about (passed as keywords)."""
    args: dict[str, Any] = {
        "ssrc": 0x11223344,
        "payload_type": 100,
        "seq": 7,
        "timestamp": 9000,
        "marker": False,
        "mid_id": 0,
        "mid": b"",
        "abs_send_time_id": 0,
        "abs_send_time": 0,
        "audio_level_id": 0,
        "audio_level": -1,
        "picture_id": -1,
        "tl0picidx": -1,
    }
    args.update(kw)
    result: bytes = kernels.rtp.rewrite_rtp(data, offset, **args)
    return result


def test_rewrite_exact_bytes(kernels: Kernels) -> None:
    expected = _hex(
        "90e4 0002 00002328 11223344"  # X=1 M=1 PT=100, seq masked to 16 bits
        "bede 0002 11 7631 32 abcdef 00"  # mid "v1", abs-send-time & 0xFFFFFF, padding
        "90 e0 c567 09 20"  # PictureID 0x4567 (15-bit), TL0PICIDX 0x109 & 0xFF
    )
    out = _rewrite(
        kernels,
        v.VP8_KEYFRAME_HEAD,
        28,
        marker=True,
        seq=0x1_0002,
        mid_id=1,
        mid=b"v1",
        abs_send_time_id=3,
        abs_send_time=0x1ABCDEF,
        picture_id=0x4567,
        tl0picidx=0x109,
    )
    assert out == expected + v.VP8_KEYFRAME_HEAD[34:]


def test_rewrite_reserves_the_transport_seq_first(kernels: Kernels) -> None:
    """The transport-wide seq leads the extensions, at a fixed offset, as 0: the transport
    stamps it when the packet leaves (it counts every packet of the transport in send order)."""
    out = _rewrite(kernels, v.OPUS, 28, transport_cc_id=5, mid_id=4, mid=b"0")
    assert out[12:24] == _hex("bede 0002 51 0000 40 30 000000")
    assert out[py.TRANSPORT_SEQ_AT - 1] == 5 << 4 | 1
    assert kernels.rtp.parse_rtp(out, 4, 5, 0, 0)[7:9] == (b"0", b"\x00\x00")


def test_rewrite_no_extensions_drops_csrcs(kernels: Kernels) -> None:
    out = _rewrite(kernels, v.CSRC, 20, ssrc=-1, payload_type=0xFF, timestamp=2**32 + 5)
    assert out[:12] == _hex("807f 0007 00000005 ffffffff")
    assert out[12:] == v.CSRC[20:]


def test_rewrite_audio(kernels: Kernels) -> None:
    out = _rewrite(kernels, v.OPUS, 28, mid_id=4, mid=b"0", audio_level_id=1, audio_level=0xB2)
    assert out[12:20] == _hex("bede 0001 40 30 10 b2")
    assert kernels.rtp.parse_rtp(out, *v.AUDIO_IDS)[7:] == (b"0", None, None, 0xB2)


def test_rewrite_keeps_padding(kernels: Kernels) -> None:
    out = _rewrite(kernels, v.PADDING_PROBE, 24, abs_send_time_id=2, abs_send_time=5)
    assert out[0] & 0x20 and out[20:] == v.PADDING_PROBE[24:]
    assert kernels.rtp.parse_rtp(out, 0, 0, 0, 0)[5:7] == (20, 20)


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ("90 80 05 10", "90 80 7f 10"),  # 7-bit PictureID keeps its width: 0x1FF & 0x7F
        ("90 80 8005 10", "90 80 81ff 10"),  # 15-bit
        ("90 40 05 10", "90 40 07 10"),  # TL0PICIDX only
        ("10 9d 01 2a", "10 9d 01 2a"),  # no X: nothing to rewrite
        ("90 20 40 10", "90 20 40 10"),  # T only: nothing to rewrite
    ],
)
def test_rewrite_vp8(kernels: Kernels, descriptor: str, expected: str) -> None:
    data = _hex(HEADER.replace("90", "80", 1) + descriptor)
    assert _rewrite(kernels, data, 12, picture_id=0x1FF, tl0picidx=7)[12:] == _hex(expected)


@pytest.mark.parametrize("descriptor", ["", "90", "90 80", "90 80 80", "90 c0 05"])
def test_rewrite_vp8_truncated(kernels: Kernels, descriptor: str) -> None:
    data = _hex(HEADER.replace("90", "80", 1) + descriptor)
    with pytest.raises(ValueError, match=r"^vp8 descriptor truncated$"):
        _rewrite(kernels, data, 12, picture_id=1)
    assert _rewrite(kernels, data, 12)[12:] == data[12:]  # not asked to rewrite: copied as is


@pytest.mark.parametrize(
    ("offset", "kw", "message"),
    [
        (11, {}, "rtp payload offset out of range"),
        (1201, {}, "rtp payload offset out of range"),
        (28, {"mid_id": 15, "mid": b"x"}, "rtp extension id out of range"),
        (28, {"abs_send_time_id": 15}, "rtp extension id out of range"),
        (28, {"audio_level_id": 16}, "rtp extension id out of range"),
        (28, {"transport_cc_id": 15}, "rtp extension id out of range"),
        (28, {"mid_id": 1, "mid": b"x" * 17}, "rtp mid too long"),
    ],
)
def test_rewrite_invalid(kernels: Kernels, offset: int, kw: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        _rewrite(kernels, v.VP8_KEYFRAME, offset, **kw)
    assert str(info.value) == message


# --- properties ------------------------------------------------------------------------------

header_fields = st.tuples(  # ssrc, payload type, seq, timestamp, marker
    st.integers(0, 2**32 - 1),
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
ext_ids = st.lists(st.integers(0, 14), min_size=3, max_size=3).filter(
    lambda ids: len({i for i in ids if i}) == len([i for i in ids if i])  # distinct when used
)
ext_values = st.tuples(  # mid, abs-send-time, audio level
    st.binary(min_size=1, max_size=16), st.integers(0, 0xFFFFFF), st.integers(0, 255)
)


@settings(max_examples=300)
@given(
    csrcs=st.integers(0, 15),
    payload=st.binary(max_size=64),
    padding=st.integers(0, 255),
    fields=header_fields,
    ids=ext_ids,
    values=ext_values,
)
def test_parse_of_rewrite_round_trips(
    kernels: Kernels,
    csrcs: int,
    payload: bytes,
    padding: int,
    fields: tuple[int, int, int, int, bool],
    ids: list[int],
    values: tuple[bytes, int, int],
) -> None:
    (mid_id, abs_id, level_id), (mid, abs_time, level) = ids, values
    pad = bytes(padding - 1) + bytes([padding]) if padding else b""
    b0 = 0x80 | (0x20 if padding else 0) | csrcs
    original = bytes([b0, 0]) + bytes(10 + 4 * csrcs) + payload + pad
    extensions = (mid_id, mid, abs_id, abs_time, level_id, level)
    out = kernels.rtp.rewrite_rtp(original, 12 + 4 * csrcs, *fields, *extensions, -1, -1)

    parsed = kernels.rtp.parse_rtp(out, mid_id, abs_id, 0, level_id)  # abs-send-time read as "rid"
    start, end = parsed[5], parsed[6]
    assert parsed[:5] == fields
    assert out[start:end] == payload and out[end:] == pad
    assert parsed[7] == (mid if mid_id else None)
    assert parsed[8] == (abs_time.to_bytes(3) if abs_id else None)
    assert parsed[10] == (level if level_id else -1)
    assert bool(out[0] & 0x10) == any(ids)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        result = fn(*args)
    except ValueError as exc:
        return "ValueError", str(exc)
    types = [type(x) for x in result] if isinstance(result, tuple) else type(result)
    return result, types


def _elements(one_byte: bool) -> st.SearchStrategy[bytes]:
    """RFC 8285 elements and padding bytes (ids include 0 and 15), joined."""
    if one_byte:
        element = st.builds(
            lambda i, v: bytes([i << 4 | (len(v) - 1)]) + v,
            st.one_of(st.integers(1, 3), st.integers(0, 15)),
            st.binary(min_size=1, max_size=16),
        )
    else:
        element = st.builds(
            lambda i, v: bytes([i, len(v)]) + v,
            st.one_of(st.integers(1, 3), st.integers(0, 20)),
            st.binary(max_size=8),
        )
    return st.lists(st.one_of(st.just(b"\x00"), element), max_size=5).map(b"".join)


@st.composite
def rtp_like(draw: st.DrawFn) -> bytes:
    """Random bytes, often shaped like RTP: version 2, CSRCs, an extension block, padding."""
    kind = draw(st.sampled_from(["raw", "v2", "ext", "ext", "ext"]))
    if kind != "ext":
        head = bytes([0x80 | draw(st.integers(0, 0x3F))]) if kind == "v2" else b""
        return head + draw(st.binary(max_size=80))
    csrcs, padding = draw(st.integers(0, 2)), draw(st.sampled_from([0, 0x20]))
    profile = draw(st.sampled_from([0xBEDE, 0x1000, 0x1007, 0x1234]))
    block = draw(_elements(profile == 0xBEDE))
    words = draw(st.one_of(st.just(-(-len(block) // 4)), st.integers(0, 8)))
    if draw(st.booleans()):  # else the block may come out truncated
        block += bytes(max(0, 4 * words - len(block)))
    fixed = bytes([0x90 | padding | csrcs]) + draw(st.binary(min_size=11, max_size=11))
    ext = profile.to_bytes(2) + words.to_bytes(2) + block
    return fixed + bytes(4 * csrcs) + ext + draw(st.binary(max_size=16))


any_id = st.one_of(st.integers(0, 3), st.integers(-1, 256))


@settings(max_examples=1000)
@given(data=rtp_like(), ids=st.tuples(any_id, any_id, any_id, any_id))
def test_parse_same_in_both(data: bytes, ids: tuple[int, int, int, int]) -> None:
    assert _outcome(cy.parse_rtp, data, *ids) == _outcome(py.parse_rtp, data, *ids)


@st.composite
def vp8_payload(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """(data, payload_offset, payload_end): mostly a payload between a prefix and a suffix."""
    prefix, payload, suffix = (
        draw(st.binary(min_size=m, max_size=n)) for m, n in ((0, 3), (1, 10), (0, 3))
    )
    data = prefix + payload + suffix
    if draw(st.integers(0, 4)) == 0:
        return data, draw(st.integers(-1, len(data) + 1)), draw(st.integers(-1, len(data) + 1))
    return data, len(prefix), len(prefix) + len(payload)


@settings(max_examples=1000)
@given(case=vp8_payload())
def test_vp8_descriptor_same_in_both(case: tuple[bytes, int, int]) -> None:
    assert _outcome(cy.vp8_descriptor, *case) == _outcome(py.vp8_descriptor, *case)


i64 = st.integers(-(2**63), 2**63 - 1)  # the compiled kernels take C long long
maybe_id = st.integers(-1, 16)


@settings(max_examples=1000)
@given(
    data=rtp_like(),
    offset=st.integers(0, 100),
    fields=st.tuples(i64, i64, i64, i64, st.booleans()),
    mid=st.tuples(maybe_id, st.binary(max_size=18)),
    abs_time=st.tuples(maybe_id, i64),
    level=st.tuples(maybe_id, st.integers(-2, 300)),
    vp8=st.tuples(st.integers(-2, 0x10000), st.integers(-2, 300)),
    transport_cc_id=maybe_id,
)
def test_rewrite_same_in_both(
    data: bytes,
    offset: int,
    fields: tuple[Any, ...],
    mid: tuple[int, bytes],
    abs_time: tuple[int, int],
    level: tuple[int, int],
    vp8: tuple[int, int],
    transport_cc_id: int,
) -> None:
    args = (data, offset, *fields, *mid, *abs_time, *level, *vp8, transport_cc_id)
    assert _outcome(cy.rewrite_rtp, *args) == _outcome(py.rewrite_rtp, *args)


def test_unwrap_rtx_restores_the_original(kernels: Kernels) -> None:
    """RFC 4588 §4: the original sequence number leads the payload; the media stream's payload
    type and SSRC go back in, the marker and extensions stay, the RTX padding goes."""
    rtx = _hex(
        "b0e1 0007 00002328 0000abcd"  # P=1 X=1 M=1 PT=97, RTX seq 7, RTX SSRC
        "bede 0001 b1 71 00 00"  # repaired-rid "q"
        "1234"  # the original sequence number
        "90 e0 c567 09 20"  # the original payload
        "0000 03"  # RTX padding (3 bytes)
    )
    out = kernels.rtp.unwrap_rtx(rtx, 20, len(rtx) - 3, 96, 0x1122_3344_55)
    assert out == _hex("90e0 1234 00002328 22334455 bede 0001 b1 71 00 00 90 e0 c567 09 20")
    parsed = kernels.rtp.parse_rtp(out, 0, 0, 11, 0)
    assert parsed[:7] == (0x22334455, 96, 0x1234, 9000, True, 20, 26)


@pytest.mark.parametrize(
    ("offset", "end", "message"),
    [
        (11, 14, "rtp payload offset out of range"),
        (12, 15, "rtp payload offset out of range"),
        (14, 12, "rtp payload offset out of range"),
        (13, 14, "rtx payload without an original sequence number"),
    ],
)
def test_unwrap_rtx_invalid(kernels: Kernels, offset: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kernels.rtp.unwrap_rtx(bytes(14), offset, end, 96, 1)


@settings(max_examples=500)
@given(
    data=st.binary(max_size=40),
    offset=st.integers(-1, 42),
    end=st.integers(-1, 42),
    payload_type=i64,
    ssrc=i64,
)
def test_unwrap_rtx_same_in_both(
    data: bytes, offset: int, end: int, payload_type: int, ssrc: int
) -> None:
    case = (data, offset, end, payload_type, ssrc)
    assert _outcome(cy.unwrap_rtx, *case) == _outcome(py.unwrap_rtx, *case)


def test_wrap_rtx_is_undone_by_unwrap_rtx(kernels: Kernels) -> None:
    """RFC 4588 §4 both ways: the RTX packet carries the original sequence number first, and
    everything after the header (payload and padding) follows it."""
    original = _hex(
        "b0e0 1234 00002328 22334455"  # P=1 X=1 M=1 PT=96, seq 0x1234
        "bede 0001 10 76 00 00"  # mid "v"
        "90 e0 c567 09 20"  # payload
        "0000 03"  # padding (3 bytes)
    )
    rtx = kernels.rtp.wrap_rtx(original, 97, 0x1_0007, 0xABCD)
    assert rtx == _hex("b0e1 0007 00002328 0000abcd bede 0001 10 76 00 00 1234") + original[20:]
    offset, end = kernels.rtp.parse_rtp(rtx, 0, 0, 0, 0)[5:7]
    back = kernels.rtp.unwrap_rtx(rtx, offset, end, 96, 0x22334455)
    assert back == bytes([original[0] & 0xDF]) + original[1:-3]  # the RTX padding is gone


@settings(max_examples=500)
@given(data=rtp_like(), fields=st.tuples(i64, i64, i64))
def test_wrap_rtx_same_in_both(data: bytes, fields: tuple[int, int, int]) -> None:
    assert _outcome(cy.wrap_rtx, data, *fields) == _outcome(py.wrap_rtx, data, *fields)
