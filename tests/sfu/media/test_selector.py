from __future__ import annotations

import pytest

from sfu.media.counters import DropReason
from sfu.media.selector import (
    FORWARD,
    NO_LAYER,
    SWITCH,
    LayerSelector,
    fallback_layer,
    layer_for_height,
    wanted_layer,
)

OTHER_LAYER = DropReason.LAYER_NOT_SELECTED.code
WAIT_KEYFRAME = DropReason.WAITING_FOR_KEYFRAME.code
PAUSED = DropReason.PAUSED.code


def test_waits_for_a_keyframe_of_the_target_layer() -> None:
    s = LayerSelector(target=1)
    assert s.decide(1, keyframe=False) == WAIT_KEYFRAME
    assert s.decide(0, keyframe=True) == WAIT_KEYFRAME
    assert s.decide(1, keyframe=True) == SWITCH
    s.switched()
    assert s.decide(1, keyframe=False) == FORWARD
    assert s.decide(0, keyframe=True) == OTHER_LAYER


def test_keeps_the_old_layer_until_the_new_one_has_a_keyframe() -> None:
    s = LayerSelector(target=0)
    s.decide(0, keyframe=True)
    s.switched()
    s.target = 2
    assert s.waiting
    assert s.decide(0, keyframe=False) == FORWARD
    assert s.decide(2, keyframe=False) == OTHER_LAYER
    assert s.decide(2, keyframe=True) == SWITCH
    s.switched()
    assert not s.waiting
    assert s.decide(0, keyframe=False) == OTHER_LAYER


@pytest.mark.parametrize(
    ("target", "active", "expected"),
    [
        (1, [True, True, True], 1),
        (2, [True, True, False], 1),  # top layer not sent: next one down
        (1, [True, False, False], 0),
        (0, [False, True, True], 1),  # nothing below: nearest above
        (1, [False, False, False], 1),  # nothing arrives: keep aiming
        (0, [True], 0),
    ],
)
def test_fallback_layer(target: int, active: list[bool], expected: int) -> None:
    assert fallback_layer(target, active) == expected


def test_pause_drops_everything_and_a_resume_waits_for_a_keyframe() -> None:
    s = LayerSelector(target=0)
    s.decide(0, keyframe=True)
    s.switched()
    s.pause()
    assert s.decide(0, keyframe=True) == PAUSED
    assert not s.waiting
    s.target = 1
    assert s.decide(1, keyframe=False) == WAIT_KEYFRAME
    assert s.decide(1, keyframe=True) == SWITCH


@pytest.mark.parametrize(
    ("height", "expected"),
    [(0, NO_LAYER), (90, 0), (180, 0), (200, 0), (201, 1), (360, 1), (400, 1), (401, 2), (2160, 2)],
)
def test_layer_for_height(height: int, expected: int) -> None:
    assert layer_for_height(height, [180, 360, 720]) == expected


@pytest.mark.parametrize(
    ("quality", "size", "heights", "expected"),
    [
        ("auto", None, [180, 360, 720], 1),  # no size yet: the default
        ("auto", (1280, 720), [0, 0, 0], 2),  # heights not learnt: assume 180/360/720
        ("auto", (320, 180), [0, 0, 0], 0),
        ("auto", (0, 0), [180, 360, 720], NO_LAYER),
        ("low", (1920, 1080), [180, 360, 720], 0),
        ("high", (160, 90), [180, 360, 720], 2),
        ("high", (160, 90), [180, 360], 1),  # clamped to the layers there are
        ("medium", None, [720], 0),
    ],
)
def test_wanted_layer(
    quality: str, size: tuple[int, int] | None, heights: list[int], expected: int
) -> None:
    assert wanted_layer(quality, size, heights, default=1) == expected
