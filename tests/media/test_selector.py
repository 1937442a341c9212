from __future__ import annotations

import pytest

from sfu.media.selector import Decision, LayerSelector, fallback_layer


def test_waits_for_a_keyframe_of_the_target_layer() -> None:
    s = LayerSelector(target=1)
    assert s.decide(1, keyframe=False) is Decision.DROP_WAIT_KEYFRAME
    assert s.decide(0, keyframe=True) is Decision.DROP_WAIT_KEYFRAME
    assert s.decide(1, keyframe=True) is Decision.SWITCH
    s.switched()
    assert s.decide(1, keyframe=False) is Decision.FORWARD
    assert s.decide(0, keyframe=True) is Decision.DROP_OTHER_LAYER


def test_keeps_the_old_layer_until_the_new_one_has_a_keyframe() -> None:
    s = LayerSelector(target=0)
    s.decide(0, keyframe=True)
    s.switched()
    s.target = 2
    assert s.waiting
    assert s.decide(0, keyframe=False) is Decision.FORWARD
    assert s.decide(2, keyframe=False) is Decision.DROP_OTHER_LAYER
    assert s.decide(2, keyframe=True) is Decision.SWITCH
    s.switched()
    assert not s.waiting
    assert s.decide(0, keyframe=False) is Decision.DROP_OTHER_LAYER


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
