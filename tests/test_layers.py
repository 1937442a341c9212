"""The layers of DESIGN.md §2, as import-linter contracts (pyproject.toml [tool.importlinter]):
the real tree keeps them, and an import that breaks one fails naming the rule and the import."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("standalone", "sfu", "control_api", "cluster", "serving", "webclient", "cython_ext")
ABOVE_KERNELS = "|".join(p for p in (*PACKAGES, "load_tests") if p != "cython_ext")
OURS = re.compile(rf"^\s*(?:from|c?import)\s+(?:{ABOVE_KERNELS})\b", re.MULTILINE)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `root` (they shadow the installed ones)."""
    return subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--no-cache", "--no-logo"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


@pytest.fixture(scope="module")
def copy_of_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(REPO / "pyproject.toml", root)
    for package in (*PACKAGES, "load_tests"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("*.so"))
    return root


@pytest.mark.parametrize(
    ("module", "line", "rule", "named"),
    [
        (
            "sfu/rooms/room.py",
            "from sfu.webrtc import peer",
            "Rooms know membership and permissions: no WebRTC stack, no wire messages",
            "sfu.rooms.room -> sfu.webrtc.peer",
        ),
        (
            "sfu/rooms/member.py",
            "from sfu.signaling import messages",
            "Rooms know membership and permissions: no WebRTC stack, no wire messages",
            "sfu.rooms.member -> sfu.signaling.messages",
        ),
        (
            "sfu/node.py",
            "import control_api.app",
            "The media node and the control plane never import each other",
            "sfu.node -> control_api.app",
        ),
        (
            "control_api/joins.py",
            "import sfu.node",
            "The media node and the control plane never import each other",
            "control_api.joins -> sfu.node",
        ),
        (
            "sfu/rtp/seqnum.py",
            "import sfu.media.counters",
            "The wire format imports nothing above it",
            "sfu.rtp.seqnum -> sfu.media.counters",
        ),
        (
            "cython_ext/__init__.py",
            "import sfu.rtp.rtcp",
            "The kernels import nothing of ours",
            "cython_ext -> sfu.rtp.rtcp",
        ),
        (  # cluster.selection imports cluster.models: a cycle, if only for type checkers
            "cluster/models.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cluster.selection",
            "No import cycles between modules or packages, at any depth",
            "No cycles are allowed in cluster.",
        ),
    ],
)
def test_a_broken_layer_is_named(
    copy_of_tree: Path, module: str, line: str, rule: str, named: str
) -> None:
    path = copy_of_tree / module
    original = path.read_text()
    path.write_text(original + "\n" + line + "\n")
    try:
        result = lint_imports(copy_of_tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert rule in broken, result.stdout
    assert named in broken, result.stdout


def test_the_compiled_kernels_import_nothing_of_ours() -> None:
    """import-linter reads Python only: the Cython sources are checked here."""
    sources = [*REPO.glob("cython_ext/*.pyx"), *REPO.glob("cython_ext/*.pxd")]
    assert sources
    for source in sources:
        assert not OURS.search(source.read_text()), source.name
