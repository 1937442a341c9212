from __future__ import annotations

from sfu.media.vp8munger import Vp8Munger
from sfu.rtp.vp8 import keyframe_size
from tests.support.packets import vp8_packet


def _packet(*, keyframe: bool, start: bool = True) -> bytes:
    return vp8_packet(
        seq=1,
        ts=2,
        ssrc=3,
        picture_id=4,
        tl0picidx=5,
        keyframe=keyframe,
        start=start,
        marker=False,
        body=b"x" * 20,
        size=(1280, 720),
    )


def test_keyframe_size_comes_from_the_frame_header() -> None:
    data = _packet(keyframe=True)
    offset = 12 + 8  # header + one-byte extension block with mid
    assert keyframe_size(data, offset, len(data)) == (1280, 720)
    assert keyframe_size(_packet(keyframe=False), offset, len(data)) is None
    assert keyframe_size(data, offset, offset + 8) is None  # truncated
    assert keyframe_size(data, len(data), len(data)) is None


def test_picture_ids_continue_across_a_switch_and_wrap() -> None:
    m = Vp8Munger()
    m.switch(100, 7)
    assert [m.translate(p, 7) for p in (100, 101)] == [(100, 7), (101, 7)]
    m.switch(0x7FFE, 200)  # new layer with its own numbering
    assert m.translate(0x7FFE, 200) == (102, 8)
    assert m.translate(0x7FFF, 200) == (103, 8)
    assert m.translate(0, 201) == (104, 9)
    assert m.translate(0x7FFF, 200) == (103, 8)  # a late packet keeps its number


def test_absent_fields_stay_absent() -> None:
    m = Vp8Munger()
    m.switch(-1, -1)
    assert m.translate(-1, -1) == (-1, -1)
