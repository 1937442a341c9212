"""Ramp mode: raise one dimension of a scenario step by step until quality falls below the
thresholds; the answer is the last good step."""

from __future__ import annotations

from collections.abc import Iterator

from load_tests.results import StepResult, Thresholds, failures
from load_tests.scenario import Ramp, Scenario


def steps(base: Scenario, ramp: Ramp) -> Iterator[Scenario]:
    for value in range(ramp.start, ramp.stop + 1, ramp.step):
        yield at(base, ramp, value)


def at(base: Scenario, ramp: Ramp, value: int) -> Scenario:
    """The ramp's step where its field is ``value``."""
    return base.model_copy(update={ramp.field: value, "name": f"{base.name}-{ramp.field}-{value}"})


def thresholds(ramp: Ramp) -> Thresholds:
    return Thresholds(ramp.max_loss, ramp.max_p99_delay_ms, ramp.max_freezes)


def last_good(results: list[tuple[int, StepResult]], limits: Thresholds) -> int | None:
    """The largest value before the first failing step (None: the first step failed)."""
    good, _ = crossing(results, limits)
    return None if good is None else good[0]


Step = tuple[int, StepResult]


def crossing(results: list[Step], limits: Thresholds) -> tuple[Step | None, Step | None]:
    """The last step within the thresholds and the first beyond them (None: there is none)."""
    good = None
    for step in results:
        if failures(step[1], limits):
            return good, step
        good = step
    return good, None


def between(results: list[Step], limits: Thresholds) -> int | None:
    """The value halfway between the last step within the thresholds and the first beyond
    (``results`` in ascending order), or None when they are adjacent or one is missing: a
    bisection halves how far the crossing can be from where the ramp says it is."""
    good, beyond = crossing(results, limits)
    if good is None or beyond is None or beyond[0] - good[0] < 2:
        return None
    return (good[0] + beyond[0]) // 2
