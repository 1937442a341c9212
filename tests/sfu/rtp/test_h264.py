"""H.264 read without decoding: which payloads start a keyframe (both kernels), and the picture
size in a keyframe's SPS, checked against SPSs libx264 wrote (PyAV) for sizes and profiles."""

from __future__ import annotations

import fractions
import re

import av
import cython_ext.rtp as cy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sfu.rtp.rtp_py as py
from sfu.rtp.h264 import keyframe_size, sps_size
from tests.support.kernels import Kernels
from tests.support.packets import fu_a, stap_a

IDR, SLICE, SEI, SPS, PPS = (
    b"\x65\x88\x84",
    b"\x41\x9a\x02",
    b"\x06\x05\x01",
    b"\x67\x42",
    b"\x68\xce",
)


def _libx264_units(width: int, height: int, profile: str) -> list[bytes]:
    """The NAL units of libx264's first frame (a keyframe: SPS, PPS, SEI, IDR)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.profile = profile
    codec.options = {"tune": "zerolatency"}
    packets = codec.encode(av.VideoFrame(width, height, "yuv420p")) + codec.encode(None)
    return [u for u in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", bytes(packets[0])) if u]


@pytest.mark.parametrize("profile", ["Baseline", "Main", "High"])
@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (320, 180), (176, 144), (1920, 1080)])
def test_the_sps_gives_the_cropped_picture_size(profile: str, size: tuple[int, int]) -> None:
    units = _libx264_units(*size, profile)
    (sps,) = [u for u in units if u[0] & 0x1F == 7]
    assert sps_size(sps) == size
    pps = next(u for u in units if u[0] & 0x1F == 8)
    # alone, aggregated, in an FU-A (its first fragment holds the fields up to the cropping)
    for payload in (sps, stap_a(sps, pps), fu_a(sps + b"rest", len(sps))[0]):
        assert keyframe_size(b"head" + payload, 4, 4 + len(payload)) == size


def test_no_size_without_a_readable_sps() -> None:
    units = _libx264_units(640, 360, "Baseline")
    sps = next(u for u in units if u[0] & 0x1F == 7)
    for payload in (b"", IDR, stap_a(PPS, IDR), fu_a(IDR, 4)[0], fu_a(sps, 4)[1], sps[:4]):
        assert keyframe_size(payload, 0, len(payload)) is None


@pytest.mark.parametrize(
    ("payload", "keyframe"),
    [
        (IDR, True),
        (SPS, True),
        (SLICE, False),
        (SEI, False),
        (PPS, False),
        (stap_a(SPS, PPS), True),
        (stap_a(SEI, IDR), True),
        (stap_a(SEI, SLICE), False),
        (fu_a(IDR + b"x" * 10, 4)[0], True),
        (fu_a(IDR + b"x" * 10, 4)[1], False),  # the rest of a keyframe starts nothing
        (fu_a(SLICE + b"x" * 10, 4)[0], False),
    ],
)
def test_a_keyframe_starts_with_an_sps_or_an_idr(
    kernels: Kernels, payload: bytes, keyframe: bool
) -> None:
    assert kernels.rtp.h264_keyframe(b"hd" + payload + b"pad", 2, 2 + len(payload)) is keyframe


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xe5\x88", "h264 forbidden bit set"),
        (b"\x60", "h264 reserved nal unit type"),
        (b"\x7e\x00", "h264 reserved nal unit type"),
        (b"\x7f\x00", "h264 reserved nal unit type"),
        (b"\x78", "h264 stap-a truncated"),  # no unit
        (b"\x78\x00", "h264 stap-a truncated"),  # half a length
        (b"\x78\x00\x05\x67\x42", "h264 stap-a truncated"),  # a length past the end
        (b"\x78\x00\x00\x67", "h264 stap-a truncated"),  # an empty unit
        (b"\x78\x00\x01\xe7", "h264 forbidden bit set"),  # in an aggregated unit
        (b"\x7c\x85", "h264 fu-a truncated"),  # a fragment of nothing
        (b"\x79\x00", "h264 nal unit type not in packetization mode 1"),  # STAP-B
        (b"\x7a\x00", "h264 nal unit type not in packetization mode 1"),  # MTAP16
        (b"\x7d\x85\x00", "h264 nal unit type not in packetization mode 1"),  # FU-B
    ],
)
def test_what_mode_1_forbids_is_malformed(kernels: Kernels, payload: bytes, message: str) -> None:
    with pytest.raises(ValueError) as info:
        kernels.rtp.h264_keyframe(payload + b"tail", 0, len(payload))
    assert str(info.value) == message


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (2, 2), (3, 2), (0, 9)])
def test_offsets_out_of_range(kernels: Kernels, start: int, end: int) -> None:
    with pytest.raises(ValueError, match=r"^rtp payload offset out of range$"):
        kernels.rtp.h264_keyframe(b"\x65\x88\x84\x00", start, end)


def _outcome(data: bytes, start: int, end: int) -> object:
    try:
        return (py.h264_keyframe(data, start, end),)
    except ValueError as exc:
        return str(exc)


@settings(max_examples=2000)
@given(
    data=st.one_of(
        st.binary(max_size=40),
        st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=4).map(
            lambda units: stap_a(*units)
        ),
        st.binary(min_size=1, max_size=20).map(lambda unit: fu_a(unit, 3)[0]),
    ),
    start=st.integers(-1, 3),
    cut=st.integers(-2, 1),
)
def test_both_kernels_agree(data: bytes, start: int, cut: int) -> None:
    end = len(data) + cut
    try:
        compiled: object = (cy.h264_keyframe(data, start, end),)
    except ValueError as exc:
        compiled = str(exc)
    assert compiled == _outcome(data, start, end)
