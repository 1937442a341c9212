"""Which CPUs the SFU under test and the generator run on (``--pin``).

On a small machine the generator and the SFU share the cores, and near the SFU's limit the
scheduler sets them against each other: a ramp then ends where the two together fill the
machine, not where the SFU runs out of its core. Pinned, the SFU process has one CPU of its own
and the generator the others, so each SFU's limit is its own, per core.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator


def split(available: Collection[int]) -> tuple[frozenset[int], frozenset[int]]:
    """(the SFU's CPU, the generator's CPUs) out of the CPUs this process may use: the SFU gets
    the lowest, the generator the rest."""
    if len(available) < 2:
        raise ValueError(
            f"--pin needs two CPUs, one for the SFU and one for the generator; this process "
            f"may use {sorted(available)}"
        )
    first = min(available)
    return frozenset({first}), frozenset(available) - {first}


@contextlib.contextmanager
def spawning_on(cpus: Collection[int] | None) -> Iterator[None]:
    """Children started inside run on ``cpus`` (None: wherever this thread may run). A fork
    copies the calling thread's mask, and a process's threads inherit it from there."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
