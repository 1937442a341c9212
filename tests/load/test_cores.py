"""``--pin``: the SFU under test on one CPU of its own, the generator on the others."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from load_tests.cores import spawning_on, split
from load_tests.ours import local_sfu


def test_the_sfu_gets_the_lowest_cpu_and_the_generator_the_rest() -> None:
    assert split({1, 0}) == (frozenset({0}), frozenset({1}))
    assert split([9, 3, 5]) == (frozenset({3}), frozenset({5, 9}))


def test_one_cpu_cannot_be_split() -> None:
    with pytest.raises(ValueError, match=r"needs two CPUs.*may use \[4\]"):
        split({4})


def test_a_child_started_inside_runs_on_the_cpus_and_the_caller_keeps_its_own() -> None:
    before = os.sched_getaffinity(0)
    cpu = max(before)
    with spawning_on({cpu}):
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True,
            text=True,
            check=True,
        )
    assert child.stdout.strip() == f"[{cpu}]"
    assert os.sched_getaffinity(0) == before


def test_the_callers_cpus_come_back_when_starting_fails() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(FileNotFoundError), spawning_on({max(before)}):
        subprocess.run(["/nonexistent/sfu"], check=True)
    assert os.sched_getaffinity(0) == before


def test_pin_is_refused_for_a_deployment_the_tool_did_not_start(tmp_path: Path) -> None:
    tool = [sys.executable, "-m", "load_tests", "--out", str(tmp_path)]
    run = subprocess.run(
        [*tool, "run", "meeting-4x4", "--api", "http://127.0.0.1:9", "--pin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--pin places an SFU the tool starts itself" in run.stderr


@pytest.mark.webrtc
async def test_every_thread_of_a_pinned_node_runs_on_its_cpu(tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    async with local_sfu(tmp_path, cpus={cpu}) as sfu:
        threads = list(Path(f"/proc/{sfu.pid}/task").iterdir())
        assert threads
        assert {frozenset(os.sched_getaffinity(int(t.name))) for t in threads} == {frozenset({cpu})}
