from __future__ import annotations

import pytest

from sfu.media.allocator import (
    HOLD_MS,
    MAX_ESTIMATE_BPS,
    MIN_ESTIMATE_BPS,
    PROBE_MS,
    SETTLED_MS,
    STABLE_MS,
    Allocator,
    Demand,
    clamp_estimate,
    fit,
    priority,
)
from sfu.media.selector import NO_LAYER

BPS = (150_000, 500_000, 1_500_000)


def video(track: str, wanted: int, current: int = 0, priority: int = 0) -> Demand:
    return Demand(track, wanted, BPS, current, priority)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (10_000, {"a": 0, "b": 0}),  # the lowest layer even when it does not fit
        (300_000, {"a": 0, "b": 0}),
        (650_000, {"a": 1, "b": 0}),  # the larger tile is upgraded first
        (1_000_000, {"a": 1, "b": 1}),
        (2_000_000, {"a": 2, "b": 1}),  # b wants no more than h
        (10_000_000, {"a": 2, "b": 1}),
    ],
)
def test_fit_gives_lowest_layers_then_upgrades_by_priority(
    budget: int, expected: dict[str, int]
) -> None:
    demands = [video("a", 2, priority=1000), video("b", 1, priority=10)]
    assert fit(demands, budget) == expected


def test_a_shared_screen_is_upgraded_before_any_camera_however_large() -> None:
    camera = video("camera", 2, priority=priority((3840, 2160), screen=False))
    screen = video("screen", 2, priority=priority((320, 180), screen=True))
    assert fit([camera, screen], 1_700_000) == {"camera": 0, "screen": 2}
    assert priority(None, screen=True) > priority((7680, 4320), screen=False)
    assert priority((640, 360), screen=False) > priority((320, 180), screen=False)


def test_paused_videos_cost_nothing() -> None:
    assert fit([video("a", NO_LAYER), video("b", 2)], 1_700_000) == {"a": NO_LAYER, "b": 2}


def test_unmeasured_layers_cost_their_nominal_rate() -> None:
    demand = Demand("a", 2, (140_000, 0, 0), 0, 0)
    assert fit([demand], 600_000) == {"a": 1}


def test_without_an_estimate_everyone_gets_what_they_want() -> None:
    assert Allocator().allocate([video("a", 2), video("b", NO_LAYER, 1)], None, 1, 0) == {
        "a": 2,
        "b": NO_LAYER,
    }


def test_congestion_downgrades_at_once_and_upgrades_wait_for_the_hold() -> None:
    alloc = Allocator()
    assert alloc.allocate([video("a", 2, current=2)], 3_000_000, 0, 0) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 250_000, 0, 1_000) == {"a": 0}
    # the estimate is back, but a downgrade holds upgrades back
    assert alloc.allocate([video("a", 2, current=0)], 3_000_000, 0, 2_000) == {"a": 0}
    assert alloc.allocate([video("a", 2, current=0)], 3_000_000, 0, 1_000 + HOLD_MS) == {"a": 2}


def test_a_first_estimate_below_steady_layers_is_congestion() -> None:
    """Chrome's first REMB can come only when the path degrades: it is acted on at once."""
    alloc = Allocator()
    assert alloc.allocate([video("a", 2, current=2)], None, 0, 0) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 400_000, 0, SETTLED_MS) == {"a": 0}
    assert alloc.congested


def test_a_first_estimate_right_after_an_upgrade_is_not_congestion() -> None:
    """Just after a step up, a first REMB may still describe the lower rate of before."""
    alloc = Allocator()
    assert alloc.allocate([video("a", 0, current=0)], None, 0, 0) == {"a": 0}
    assert alloc.allocate([video("a", 2, current=0)], None, 0, 5_000) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], None, 0, 5_100) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 110_000, 0, 5_400) == {"a": 2}
    assert not alloc.congested
    # while it rises it is catching up; a fall below what we send is congestion
    assert alloc.allocate([video("a", 2, current=2)], 400_000, 0, 6_000) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 300_000, 0, 6_500) == {"a": 0}
    assert alloc.congested


def test_heavy_loss_is_congestion_even_while_the_estimate_rises() -> None:
    """A REMB still catching up from a lower rate hides a narrowed path; loss does not."""
    alloc = Allocator()
    assert alloc.allocate([video("a", 2, current=2)], None, 0, 0) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 110_000, 0, 300) == {"a": 2}
    assert alloc.allocate([video("a", 2, current=2)], 130_000, 0, 600, loss=0.05) == {"a": 2}
    assert not alloc.congested  # rising, and loss within what a path may have
    assert alloc.allocate([video("a", 2, current=2)], 150_000, 0, 900, loss=0.3) == {"a": 0}
    assert alloc.congested


@pytest.mark.parametrize(("loss", "expected"), [(0.05, 2), (0.2, 1), (0.8, 0)])
def test_loss_alone_cuts_the_budget_by_half_the_loss(loss: float, expected: int) -> None:
    """Before any REMB, loss is all we know: the budget is what we send less half the loss."""
    demands = [Demand("a", 2, (150_000, 500_000, 800_000), 2, 0)]
    assert Allocator().allocate(demands, None, 0, 0, loss=loss) == {"a": expected}


def test_a_smaller_tile_downgrades_at_once_whatever_the_estimate() -> None:
    alloc = Allocator()
    assert alloc.allocate([video("a", 0, current=2)], 5_000_000, 0, 0) == {"a": 0}
    assert alloc.allocate([video("a", 2, current=0)], 5_000_000, 0, 100) == {"a": 2}


def test_probe_upgrades_one_layer_when_the_estimate_is_only_capped() -> None:
    alloc = Allocator()
    # 280 kbps is not enough for h, but it is above what q uses: nothing is congested
    first = alloc.allocate([video("a", 2, current=0)], 280_000, 0, HOLD_MS)
    assert first == {"a": 1}
    # the estimate holds during the probe window: the probe is kept
    kept = alloc.allocate([video("a", 2, current=1)], 290_000, 0, HOLD_MS + PROBE_MS)
    assert kept["a"] >= 1


def test_a_send_side_estimate_is_trusted_when_it_falls() -> None:
    """Ours is not capped at what we send (our estimator probes): no upgrade probes of our own;
    its first value is where the estimator starts, not a measurement: below what we send, it
    holds upgrades back but stops nothing; a fall below what we send is congestion at once."""
    alloc = Allocator()
    first = alloc.allocate([video("a", 2, current=0)], 280_000, 0, HOLD_MS, send_side=True)
    assert first == {"a": 0}  # nothing fits better, and no probe
    steady = [video("a", 2, current=2)]
    assert Allocator().allocate(steady, 1_000_000, 0, 100, send_side=True) == {"a": 2}
    alloc = Allocator()
    assert alloc.allocate(steady, 2_000_000, 0, 100, send_side=True) == {"a": 2}
    assert alloc.allocate(steady, 1_900_000, 0, 200, send_side=True) == {"a": 2}  # fits still
    assert alloc.allocate(steady, 1_000_000, 0, 300, send_side=True) == {"a": 1}
    assert alloc.congested
    # still congested while h does not fit, though the estimate grew a little since the cut
    mid = [video("a", 2, current=1)]
    assert alloc.allocate(mid, 400_000, 0, 400, send_side=True) == {"a": 0}
    assert alloc.allocate(mid, 420_000, 0, 500, send_side=True) == {"a": 0}
    assert alloc.congested
    back = [video("a", 2, current=0)]
    assert alloc.allocate(back, 3_000_000, 0, 600, send_side=True) == {"a": 0}  # the hold
    assert alloc.allocate(back, 3_000_000, 0, 500 + HOLD_MS - 1, send_side=True) == {"a": 0}
    assert not alloc.congested
    assert alloc.allocate(back, 3_000_000, 0, 500 + HOLD_MS, send_side=True) == {"a": 2}


def test_a_send_side_upgrade_needs_the_estimate_to_hold() -> None:
    """A probe through a shaper's burst can lift our estimate for one feedback: an upgrade waits
    until the estimate has held for STABLE_MS (downgrades never wait)."""
    alloc = Allocator()
    low = [video("a", 2, current=0)]
    t = HOLD_MS
    assert alloc.allocate(low, 300_000, 0, t, send_side=True) == {"a": 0}
    assert alloc.allocate(low, 700_000, 0, t + 100, send_side=True) == {"a": 0}  # a spike
    assert alloc.allocate(low, 300_000, 0, t + 160, send_side=True) == {"a": 0}
    assert alloc.allocate(low, 3_000_000, 0, t + 1_000, send_side=True) == {"a": 0}
    assert alloc.allocate(low, 3_000_000, 0, t + 1_000 + STABLE_MS - 1, send_side=True) == {"a": 0}
    assert alloc.allocate(low, 3_000_000, 0, t + 1_000 + STABLE_MS, send_side=True) == {"a": 2}


def test_a_failed_probe_reverts_and_doubles_the_hold() -> None:
    alloc = Allocator()
    assert alloc.allocate([video("a", 2, current=0)], 280_000, 0, HOLD_MS) == {"a": 1}
    assert alloc.allocate([video("a", 2, current=1)], 200_000, 0, HOLD_MS + 1_000) == {"a": 0}
    later = HOLD_MS + 1_000 + HOLD_MS  # one hold is not enough any more
    assert alloc.allocate([video("a", 2, current=0)], 280_000, 0, later) == {"a": 0}
    assert alloc.allocate([video("a", 2, current=0)], 280_000, 0, later + HOLD_MS) == {"a": 1}


@pytest.mark.parametrize(
    ("remb", "expected"),
    [(0, MIN_ESTIMATE_BPS), (2**60, MAX_ESTIMATE_BPS), (1_000_000, 1_000_000)],
)
def test_absurd_estimates_are_clamped(remb: int, expected: int) -> None:
    assert clamp_estimate(remb) == expected
