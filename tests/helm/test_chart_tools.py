"""The chart passes the offline checks for every helm/ci scenario: `helm lint --strict`,
yamllint on the rendered manifests, and Kubernetes' own OpenAPI schemas (strict: unknown fields
fail) for the chart's oldest and a recent Kubernetes version. Every template renders in at
least one scenario, so none of them escapes these checks.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.helm.chart import (
    CHART,
    FULLNAME,
    HELM_VERSION,
    KUBE_VERSIONS,
    LATEST_KUBE,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    Doc,
    Rendered,
    helm,
    render,
    scenario_id,
)

# Custom resources the chart may render; their schemas are not Kubernetes'.
ALLOWED_CRD_GROUPS = ("monitoring.coreos.com/",)
# yamllint's default rules, less the ones that only concern hand-written style.
RENDERED_LINT = YamlLintConfig(
    """
    extends: default
    rules:
      line-length: disable
      document-start: disable
      indentation: {indent-sequences: whatever}
      comments: {min-spaces-from-content: 1}
    """
)
SOURCE_LINT = YamlLintConfig(
    """
    extends: default
    rules:
      line-length: {max: 110}
      document-start: disable
      comments: {min-spaces-from-content: 1}
      braces: {max-spaces-inside: 1}
      brackets: {max-spaces-inside: 1}
    """
)
scenarios = pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)


def test_helm_is_the_pinned_official_release() -> None:
    assert helm("version", "--short").startswith(f"{HELM_VERSION}+g")


@scenarios
def test_helm_lint_strict(scenario: Path) -> None:
    out = helm("lint", "--strict", "--kube-version", LATEST_KUBE, str(CHART), "-f", str(scenario))
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


@scenarios
def test_rendered_manifest_passes_yamllint(scenario: Path, rendered: dict[str, Rendered]) -> None:
    problems = list(linter.run(rendered[scenario_id(scenario)].text, RENDERED_LINT))
    assert not problems, "\n".join(f"{p.line}:{p.column} {p.rule}: {p.desc}" for p in problems)


@pytest.mark.parametrize(
    "path",
    [CHART / "Chart.yaml", CHART / "values.yaml", *SCENARIOS],
    ids=lambda p: p.relative_to(CHART).as_posix(),
)
def test_chart_sources_pass_yamllint(path: Path) -> None:
    problems = list(linter.run(path.read_text(encoding="utf-8"), SOURCE_LINT))
    assert not problems, "\n".join(f"{p.line}:{p.column} {p.rule}: {p.desc}" for p in problems)


def schema_errors(docs: list[Doc], kube_version: str) -> list[str]:
    errors = []
    for doc in docs:
        ref = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if not doc.get("apiVersion", "").startswith(ALLOWED_CRD_GROUPS):
                errors.append(f"{ref}: no schema for {doc.get('apiVersion')} in {kube_version}")
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(map(str, exc.path))
            errors.append(f"{ref}: {path}: {exc.message}")
    return errors


@scenarios
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_rendered_objects_match_the_kubernetes_schemas(scenario: Path, kube_version: str) -> None:
    docs = render(scenario, kube_version=kube_version).docs
    assert docs
    assert schema_errors(docs, kube_version) == []


def test_schema_validation_catches_what_the_chart_could_get_wrong() -> None:
    """The validator itself fails on the mistakes it is here for (so a pass means something)."""
    meta = {"metadata": {"name": "x"}}
    typo = {"apiVersion": "v1", "kind": "Service", **meta, "spec": {"selectr": {"a": "b"}}}
    string_replicas = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        **meta,
        "spec": {"replicas": "2", "selector": {}, "template": {}},
    }
    removed_api = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", **meta}
    errors = schema_errors([typo, string_replicas, removed_api], LATEST_KUBE)
    assert len(errors) == 3, errors


def test_yamllint_catches_duplicate_keys() -> None:
    problems = list(linter.run("a:\n  b: 1\n  b: 2\n", RENDERED_LINT))
    assert [p.rule for p in problems] == ["key-duplicates"]


def test_every_template_renders_in_some_scenario(rendered: dict[str, Rendered]) -> None:
    templates = {p.name for p in (CHART / "templates").glob("*.yaml")}
    sources = {
        source
        for manifest in rendered.values()
        for source in re.findall(r"^# Source: seed-sfu/templates/(\S+)$", manifest.text, re.M)
    }
    assert templates - sources == set()


@scenarios
def test_install_notes_tell_how_to_create_a_first_room(
    scenario: Path, rendered: dict[str, Rendered]
) -> None:
    """NOTES.txt, rendered by a client-side dry-run install (no cluster is contacted)."""
    install = ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    out = helm(*install, "-f", str(scenario))
    notes = out.split("NOTES:", 1)[1]
    values = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    secret = values.get("auth", {}).get("existingSecret") or FULLNAME
    assert f"get secret {secret} " in notes
    assert '-X POST "$API/v1/rooms"' in notes and "/tokens" in notes
    assert ("port-forward" in notes) != ("ingress" in scenario.name)
    assert ("WARNING: config.demo" in notes) == values.get("config", {}).get("demo", False)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    ice = {**defaults["media"]["ice"], **values.get("media", {}).get("ice", {})}
    udp_port, tcp_port = ice["udpPort"], ice["tcpPort"]
    if not udp_port:
        assert "on UDP (ephemeral ports) at" in notes and "ICE-TCP" not in notes
    else:
        assert f"on UDP {udp_port} and TCP {tcp_port} (ICE-TCP) at" in notes
    # the bundled Redis is a trial's: the notes name the values production sets instead
    bundled = "StatefulSet" in rendered[scenario_id(scenario)].kinds()
    production = "For production, set redis.url to your Redis"
    assert (production in notes) == bundled
    assert ("redis.existingSecret to a Secret holding that URL" in notes) == bundled
    turn = values.get("turn", {})
    assert ("TURN is on" in notes) == bool(turn.get("urls"))
    for url in turn.get("urls", []):
        assert url in notes
    coturn = turn.get("bundled", {}).get("enabled", False)
    assert ("open UDP and TCP\n3478, UDP 49152-65535 and TCP 5349" in notes) == coturn


def test_install_notes_without_ice_tcp() -> None:
    """media.ice.tcpPort 0: the notes ask to open only the UDP port for media."""
    install = ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    notes = helm(*install, "--set", "media.ice.tcpPort=0").split("NOTES:", 1)[1]
    assert "and its media on UDP 7882 at" in notes and "ICE-TCP" not in notes


def without_generated_key(manifest: Rendered) -> list[Doc]:
    """The objects less the API key generated at each render and the checksum over it."""
    docs = copy.deepcopy(manifest.docs)
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["data"].pop("api-keys")
        if doc["kind"] in ("Deployment", "DaemonSet"):
            doc["spec"]["template"]["metadata"]["annotations"].pop("checksum/secret")
    return docs


def test_no_values_is_the_default_scenario(rendered: dict[str, Rendered]) -> None:
    """`helm install sfu ./helm` with no values: the ci/default-values.yaml checks apply to it."""
    lint = helm("lint", "--strict", "--kube-version", LATEST_KUBE, str(CHART))
    assert "0 chart(s) failed" in lint and "[WARNING]" not in lint, lint
    no_values = Rendered.of(helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE))
    assert without_generated_key(no_values) == without_generated_key(rendered["default"])
    assert {"StatefulSet", "Deployment", "Secret"} <= no_values.kinds()


def test_scenarios_are_values_files_with_a_purpose() -> None:
    """Each scenario says in its first line what it turns on (ci/ is the test matrix)."""
    for path in SCENARIOS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# "), path
        assert isinstance(yaml.safe_load(text), dict), path
