"""The container image (Dockerfile) is built from the packages its two commands import: no
Docker daemon runs here, so its inputs are checked against the import graph instead."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("sfu.__main__", "control_api.__main__")  # python -m sfu, python -m control_api


def copied_packages() -> set[str]:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    return set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, re.MULTILINE))


def test_the_image_holds_every_package_its_commands_import() -> None:
    ours = ("sfu", "control_api", "cluster", "serving", "webclient", "cython_ext", "standalone")
    graph = grimp.build_graph(*ours, cache_dir=None)
    needed = {c.split(".")[0] for c in COMMANDS}
    for command in COMMANDS:
        needed |= {m.split(".")[0] for m in graph.find_upstream_modules(command)}
    assert needed <= copied_packages(), needed - copied_packages()
    assert "standalone" not in needed  # the one-process mode is not for images


def test_the_build_context_lets_every_copied_package_in() -> None:
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for package in copied_packages() - {"cython_ext"}:  # the kernels are let in file by file
        assert f"!{package}/" in ignore, package
