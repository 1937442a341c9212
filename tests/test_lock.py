"""The environment is exactly the lock (requirements/README.md), and the three locks agree.

A fresh machine must install what passed here: pip is told `--require-hashes` by `make install`,
and these tests catch a venv that holds anything else (an unpinned install, a stale package).
"""

from __future__ import annotations

import re
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

LOCKS = Path(__file__).resolve().parents[1] / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}")
# Not dependencies: the project itself, and the installer the venv was made with.
NOT_LOCKED = {"seed-sfu", "pip"}


def pins(lock: Path) -> dict[str, str]:
    """Name → version of the pins that apply to this interpreter and platform."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            found[canonicalize_name(name)] = version
    return found


def installed() -> dict[str, str]:
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in distributions()
        if canonicalize_name(dist.metadata["Name"]) not in NOT_LOCKED
    }


def test_the_environment_holds_exactly_the_dev_lock() -> None:
    locked, present = pins(LOCKS / "dev.lock"), installed()
    assert locked, "no pins parsed from dev.lock"
    assert {n: v for n, v in present.items() if locked.get(n) != v} == {}, "not as locked"
    assert {n: v for n, v in locked.items() if n not in present} == {}, "locked, not installed"


@pytest.mark.parametrize("lock", ["dev.lock", "runtime.lock", "build.lock"])
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    lines = (LOCKS / lock).read_text().splitlines()
    requirements = [i for i, line in enumerate(lines) if line and line[0].isalnum()]
    assert requirements
    for i in requirements:
        assert PIN.match(lines[i]), f"{lock}: not an exact pin: {lines[i]}"
        assert HASH.match(lines[i + 1]), f"{lock}: {lines[i]} has no sha256 hash"


@pytest.mark.parametrize("lock", ["runtime.lock", "build.lock"])
def test_the_image_locks_take_the_dev_locks_versions(lock: str) -> None:
    subset, dev = pins(LOCKS / lock), pins(LOCKS / "dev.lock")
    assert subset
    assert {n: v for n, v in subset.items() if dev.get(n) != v} == {}


def test_the_build_requirements_are_locked() -> None:
    """pyproject's [build-system] names what build.in locks: the build is not isolated."""
    text = (LOCKS.parent / "pyproject.toml").read_text()
    requires = re.search(r"^requires = \[(.*)\]$", text, re.MULTILINE)
    assert requires is not None
    names = {
        canonicalize_name(re.split(r"[<>=!~ ]", r.strip(' "'))[0])
        for r in requires.group(1).split(",")
    }
    assert names <= set(pins(LOCKS / "build.lock"))
