"""Rendering the Helm chart (helm/) offline with the real helm binary, for the chart tests.

`make test` installs helm into the venv's bin directory (tests/helm/install_helm.py); nothing
here reaches a network or a cluster (KUBECONFIG=/dev/null, helm's homes in a temporary folder).
"""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
HELM = Path(sys.executable).parent / "helm"
HELM_VERSION = "v4.1.4"
# The chart's floor (Chart.yaml kubeVersion) and a recent release; kubernetes-validate ships
# the schemas of both.
KUBE_VERSIONS = ("1.29.0", "1.35.0")
LATEST_KUBE = KUBE_VERSIONS[-1]
RELEASE, NAMESPACE = "ci", "media"
FULLNAME = f"{RELEASE}-seed-sfu"

Doc = dict[str, Any]
_counter = itertools.count()


class HelmFailed(Exception):
    def __init__(self, args: list[str], output: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{output}")
        self.output = output


@functools.cache
def _homes() -> str:
    return tempfile.mkdtemp(prefix="helm-home-")


def helm(*args: str) -> str:
    """Run helm; its stdout, or HelmFailed with stderr on a non-zero exit."""
    if not os.access(HELM, os.X_OK):
        raise RuntimeError(f"{HELM} is missing: `make test` installs it (install_helm.py)")
    homes = _homes()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": homes,
        "HELM_CACHE_HOME": f"{homes}/cache",
        "HELM_CONFIG_HOME": f"{homes}/config",
        "HELM_DATA_HOME": f"{homes}/data",
        "KUBECONFIG": "/dev/null",
    }
    done = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if done.returncode != 0:
        raise HelmFailed(list(args), done.stderr + done.stdout)
    return done.stdout


def values_args(values: Path | Mapping[str, Any]) -> list[str]:
    """`-f FILE` for a values file, or for a mapping written to a temporary file."""
    if isinstance(values, Path):
        return ["-f", str(values)]
    path = Path(_homes()) / f"values-{next(_counter)}.yaml"
    path.write_text(yaml.safe_dump(dict(values)), encoding="utf-8")
    return ["-f", str(path)]


def template(
    *values: Path | Mapping[str, Any], kube_version: str = LATEST_KUBE, extra: tuple[str, ...] = ()
) -> str:
    args = [a for v in values for a in values_args(v)]
    namespace = ["--namespace", NAMESPACE, "--kube-version", kube_version]
    return helm("template", RELEASE, str(CHART), *namespace, *args, *extra)


@dataclass
class Rendered:
    """One scenario's manifest: its text and its objects."""

    text: str
    docs: list[Doc]

    @classmethod
    def of(cls, text: str) -> Rendered:
        return cls(text, [d for d in yaml.safe_load_all(text) if d])

    def kinds(self) -> set[str]:
        return {d["kind"] for d in self.docs}

    def all(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Doc:
        found = [d for d in self.all(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def find(self, kind: str, name: str) -> Doc | None:
        found = [d for d in self.all(kind) if d["metadata"]["name"] == name]
        return found[0] if found else None

    def workloads(self) -> Iterator[Doc]:
        for doc in self.docs:
            if doc["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
                yield doc

    def media(self) -> Doc:
        (doc,) = [d for d in self.workloads() if d["metadata"]["name"] == f"{FULLNAME}-media"]
        return doc


def render(*values: Path | Mapping[str, Any], kube_version: str = LATEST_KUBE) -> Rendered:
    return Rendered.of(template(*values, kube_version=kube_version))


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Doc, name: str | None = None) -> Doc:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1
        return dict(containers[0])
    (found,) = [c for c in containers if c["name"] == name]
    return dict(found)


def env_of(cont: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in cont.get("env", [])}


def scenario_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")
