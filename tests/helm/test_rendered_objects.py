"""What the rendered objects must say, in every scenario: the rules of running this SFU on
Kubernetes that no schema knows (probes on the right endpoints, the drain hook and a grace
period longer than the drain, one media node per host on its host's address with the UDP and
TCP ports it announces, secrets referenced and never inlined, resources and a non-root security
context on every container, TURN credentials for the media nodes and coturn on the host network).
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from control_api.settings import ControlSettings
from sfu.settings import NodeSettings
from tests.helm.chart import (
    CHART,
    FULLNAME,
    REPO,
    SCENARIOS,
    Doc,
    Rendered,
    container,
    env_of,
    pod_spec,
    render,
    scenario_id,
)

API, MEDIA, TURN = f"{FULLNAME}-api", f"{FULLNAME}-media", f"{FULLNAME}-turn"
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
all_scenarios = pytest.mark.parametrize("name", [scenario_id(p) for p in SCENARIOS])


def values_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def media_values(name: str) -> dict[str, Any]:
    """The scenario's media values over the chart's defaults (two levels deep: enough here)."""
    media = {**DEFAULTS["media"], **values_of(name).get("media", {})}
    media["ice"] = {**DEFAULTS["media"]["ice"], **values_of(name).get("media", {}).get("ice", {})}
    return media


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- every workload --------------------------------------------------------------------------


@all_scenarios
def test_every_container_runs_as_non_root_without_privileges(
    name: str, rendered: dict[str, Rendered]
) -> None:
    workloads = list(rendered[name].workloads())
    assert workloads
    for workload in workloads:
        pod = pod_spec(workload)["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] > 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for cont in containers(workload):
            ctx = cont["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert not ctx.get("privileged", False)


@all_scenarios
def test_every_container_has_requests_and_a_memory_limit(
    name: str, rendered: dict[str, Rendered]
) -> None:
    for workload in rendered[name].workloads():
        for cont in containers(workload):
            resources = cont["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), cont["name"]
            assert "memory" in resources["limits"], cont["name"]


@all_scenarios
def test_selectors_match_their_pods(name: str, rendered: dict[str, Rendered]) -> None:
    manifest = rendered[name]
    pods = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in manifest.workloads()
    }
    for workload in manifest.workloads():
        selector = workload["spec"]["selector"]["matchLabels"]
        assert labels_match(selector, pods[workload["metadata"]["name"]])
    for service in manifest.all("Service"):
        selected = [
            w for w, labels in pods.items() if labels_match(service["spec"]["selector"], labels)
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        target = next(w for w in manifest.workloads() if w["metadata"]["name"] == selected[0])
        port_names = {p["name"] for c in containers(target) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for pdb in manifest.all("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert [w for w, labels in pods.items() if labels_match(selector, labels)]


@all_scenarios
def test_port_names_are_valid_iana_service_names(name: str, rendered: dict[str, Rendered]) -> None:
    """At most 15 characters: a rule the OpenAPI schemas do not check."""
    names = [
        p["name"]
        for w in rendered[name].workloads()
        for c in containers(w)
        for p in c.get("ports", [])
    ]
    names += [p["name"] for s in rendered[name].all("Service") for p in s["spec"]["ports"]]
    assert names
    for port_name in names:
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?", port_name), port_name


@all_scenarios
def test_env_references_only_variables_defined_before(
    name: str, rendered: dict[str, Rendered]
) -> None:
    """Kubernetes expands $(VAR) only for variables earlier in the list (or from envFrom)."""
    for workload in rendered[name].workloads():
        for cont in containers(workload):
            seen: set[str] = set()
            for entry in cont.get("env", []):
                for ref in VAR_REF.findall(entry.get("value", "")):
                    assert ref in seen, f"{entry['name']} uses $({ref}) before it is defined"
                seen.add(entry["name"])


@all_scenarios
def test_config_changes_roll_the_pods(name: str, rendered: dict[str, Rendered]) -> None:
    manifest = rendered[name]
    own_secret = manifest.find("Secret", FULLNAME) is not None
    for workload in (manifest.get("Deployment", API), manifest.media()):
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
        assert ("checksum/secret" in annotations) == own_secret


def test_a_config_change_changes_the_checksum() -> None:
    scenario = CHART / "ci" / "external-redis-values.yaml"

    def checksum(*more: dict[str, Any]) -> str:
        media = render(scenario, *more).media()
        value: str = media["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() == checksum()
    assert checksum() != checksum({"config": {"logLevel": "DEBUG"}})


# --- the control API -------------------------------------------------------------------------


@all_scenarios
def test_api_probes_and_ports(name: str, rendered: dict[str, Rendered]) -> None:
    manifest = rendered[name]
    api = container(manifest.get("Deployment", API))
    (port,) = api["ports"]
    assert (port["name"], port["protocol"]) == ("http", "TCP")
    assert api["command"][:3] == ["python", "-m", "control_api"]
    assert api["command"][api["command"].index("--port") + 1] == str(port["containerPort"])
    assert api["command"][api["command"].index("--host") + 1] == "0.0.0.0"
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = manifest.get("Service", API)
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_api_ingress_routes_to_the_api_service(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["ingress"]
    (ingress,) = manifest.all("Ingress")
    service = manifest.get("Service", API)
    ports = {p["name"] for p in service["spec"]["ports"]}
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "sfu.example.com"
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == API and backend["port"]["name"] in ports
    assert ingress["spec"]["tls"] == [
        {"secretName": "sfu-example-com-tls", "hosts": ["sfu.example.com"]}
    ]
    assert "Ingress" not in rendered["external-redis"].kinds()


# --- media nodes ----------------------------------------------------------------------------


@all_scenarios
def test_media_nodes_one_per_host_on_its_address(name: str, rendered: dict[str, Rendered]) -> None:
    media = rendered[name].media()
    spec = pod_spec(media)
    if media_values(name)["hostNetwork"]:
        assert spec["hostNetwork"] is True
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"  # still resolves the Redis Service
    else:
        assert "hostNetwork" not in spec and "dnsPolicy" not in spec
    # hostPorts (or the host network) would collide: required anti-affinity per hostname
    (term,) = [
        t
        for t in spec["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        if t["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert labels_match(
        term["labelSelector"]["matchLabels"], media["spec"]["template"]["metadata"]["labels"]
    )


@all_scenarios
def test_media_node_ports_probes_and_announced_address(
    name: str, rendered: dict[str, Rendered]
) -> None:
    node = container(rendered[name].media())
    env = env_of(node)
    ports = {p["name"]: p for p in node["ports"]}
    udp_port, tcp_port = media_values(name)["ice"]["udpPort"], media_values(name)["ice"]["tcpPort"]
    ice_tcp = bool(udp_port and tcp_port)  # the node serves ICE-TCP only beside the UDP port
    expected = {"signaling"} | ({"ice"} if udp_port else set())
    assert set(ports) == expected | ({"ice-tcp"} if ice_tcp else set())
    # two ports on one host number and protocol would not both bind
    assert len({(p["hostPort"], p["protocol"]) for p in ports.values()}) == len(ports)
    signaling = ports["signaling"]
    assert signaling["protocol"] == "TCP"
    assert signaling["hostPort"] == signaling["containerPort"]
    assert env["SFU_NODE_PORT"]["value"] == str(signaling["containerPort"])
    if udp_port:
        # announced in the candidates: the same number on the host and in the pod
        assert ports["ice"] == {
            "name": "ice",
            "containerPort": udp_port,
            "hostPort": udp_port,
            "protocol": "UDP",
        }
    if ice_tcp:
        assert ports["ice-tcp"] == {
            "name": "ice-tcp",
            "containerPort": tcp_port,
            "hostPort": tcp_port,
            "protocol": "TCP",
        }
    # set even when 0: the node's own default is the single port
    assert env["SFU_UDP_PORT"]["value"] == str(udp_port)
    # likewise: unset, the node would take the UDP port's number for ICE-TCP
    assert env["SFU_TCP_PORT"]["value"] == str(tcp_port)
    assert env["SFU_UDP_BIND"]["value"] == "0.0.0.0"
    assert node["command"] == ["python", "-m", "sfu"]
    assert node["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "signaling"}
    assert node["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "signaling"}
    assert env["K8S_HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["SFU_ICE_HOST_ADDRESSES"]["value"].split(",")[0] == "$(K8S_HOST_IP)"
    assert env["SFU_NODE_ID"]["value"] == "$(K8S_POD_NAME)"  # the id `drain` takes
    headless = rendered[name].get("Service", MEDIA)["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert headless["ports"][0]["port"] == signaling["containerPort"]


def test_default_media_nodes_use_one_udp_port_without_the_host_network() -> None:
    """The chart's defaults: hostPorts on the Kubernetes node, its address announced, ICE-TCP
    on the UDP port's number."""
    node = render().media()
    assert "hostNetwork" not in pod_spec(node)
    udp_port, tcp_port = DEFAULTS["media"]["ice"]["udpPort"], DEFAULTS["media"]["ice"]["tcpPort"]
    assert udp_port == tcp_port == 7882
    (ice,) = [p for p in container(node)["ports"] if p["protocol"] == "UDP"]
    assert ice["containerPort"] == ice["hostPort"] == udp_port
    (ice_tcp,) = [p for p in container(node)["ports"] if p["name"] == "ice-tcp"]
    assert ice_tcp["protocol"] == "TCP"
    assert ice_tcp["containerPort"] == ice_tcp["hostPort"] == tcp_port
    env = env_of(container(node))
    assert env["SFU_UDP_PORT"]["value"] == str(udp_port)
    assert env["SFU_TCP_PORT"]["value"] == str(tcp_port)
    assert env["K8S_HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["SFU_ICE_HOST_ADDRESSES"]["value"] == "$(K8S_HOST_IP)"
    assert env["SFU_NODE_URL"]["value"] == "ws://$(K8S_HOST_IP):7880/v1/signal"


def test_host_network_mode_with_or_without_the_udp_port(rendered: dict[str, Rendered]) -> None:
    ephemeral = container(rendered["hostnetwork"].media())
    # no ICE-TCP without the UDP port: only signaling is published
    assert [(p["name"], p["protocol"]) for p in ephemeral["ports"]] == [("signaling", "TCP")]
    assert env_of(ephemeral)["SFU_UDP_PORT"]["value"] == "0"
    one_port = render(
        {
            "redis": {"url": "redis://r:6379/0"},
            "media": {"hostNetwork": True, "ice": {"udpPort": 9000, "tcpPort": 9000}},
        }
    ).media()
    assert pod_spec(one_port)["hostNetwork"] is True
    (ice,) = [p for p in container(one_port)["ports"] if p["protocol"] == "UDP"]
    assert ice["containerPort"] == ice["hostPort"] == 9000
    (ice_tcp,) = [p for p in container(one_port)["ports"] if p["name"] == "ice-tcp"]
    assert ice_tcp["containerPort"] == ice_tcp["hostPort"] == 9000
    assert ice_tcp["protocol"] == "TCP"
    assert env_of(container(one_port))["SFU_UDP_PORT"]["value"] == "9000"
    assert env_of(container(one_port))["SFU_TCP_PORT"]["value"] == "9000"


@all_scenarios
def test_media_nodes_drain_before_they_stop(name: str, rendered: dict[str, Rendered]) -> None:
    media = rendered[name].media()
    node = container(media)
    hook = node["lifecycle"]["preStop"]["exec"]["command"]
    assert hook[:2] == ["python", "-c"]
    assert "os.kill(1, signal.SIGTERM)" in hook[2]  # the node (PID 1) drains on SIGTERM
    drain_timeout = float(env_of(node)["SFU_DRAIN_TIMEOUT_S"]["value"])
    grace = pod_spec(media)["terminationGracePeriodSeconds"]
    assert grace >= drain_timeout + 30
    if media["kind"] == "Deployment":
        assert media["spec"]["progressDeadlineSeconds"] > grace
    else:
        assert media["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 0


def test_drain_timeout_value_sets_the_grace_period(rendered: dict[str, Rendered]) -> None:
    node = container(rendered["daemonset"].media())
    assert env_of(node)["SFU_DRAIN_TIMEOUT_S"]["value"] == "7200"
    assert pod_spec(rendered["daemonset"].media())["terminationGracePeriodSeconds"] == 7320


def test_media_kind_deployment_or_daemonset(rendered: dict[str, Rendered]) -> None:
    assert rendered["external-redis"].media()["kind"] == "Deployment"
    assert rendered["external-redis"].media()["spec"]["replicas"] == DEFAULTS["media"]["replicas"]
    daemonset = rendered["daemonset"].media()
    assert daemonset["kind"] == "DaemonSet"
    assert "replicas" not in daemonset["spec"]
    spec = pod_spec(daemonset)
    assert spec["nodeSelector"] == {"example.com/pool": "media"}
    assert "nodeAffinity" in spec["affinity"]  # the operator's affinity is kept beside ours
    (pdb,) = [
        p
        for p in rendered["daemonset"].all("PodDisruptionBudget")
        if p["metadata"]["name"] == MEDIA
    ]
    assert pdb["spec"] == {"minAvailable": 2, "selector": pdb["spec"]["selector"]}


def test_autoscaled_workloads_leave_replicas_to_the_hpa(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["autoscaling"]
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in manifest.all("HorizontalPodAutoscaler")}
    assert set(hpas) == {API, MEDIA}
    for target, hpa in hpas.items():
        workload = manifest.get(hpa["spec"]["scaleTargetRef"]["kind"], target)
        assert "replicas" not in workload["spec"]
        cpu = hpa["spec"]["metrics"][0]
        assert cpu["resource"]["name"] == "cpu"
    media_metrics = hpas[MEDIA]["spec"]["metrics"]
    assert media_metrics[1]["pods"]["metric"]["name"] == "sfu_participants"
    scale_down = hpas[MEDIA]["spec"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 600
    assert scale_down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 600}]
    for name in ("external-redis", "daemonset"):
        assert "HorizontalPodAutoscaler" not in rendered[name].kinds()


# --- settings, secrets and Redis --------------------------------------------------------------


def pod_environment(
    manifest: Rendered, workload: Doc, secrets: dict[str, dict[str, str]], tmp_path: Path
) -> dict[str, str]:
    """The SFU_* environment the process would see: ConfigMap, env (with $(VAR) expanded from
    stand-in downward-API values), secretKeyRefs and the mounted API key file resolved."""
    cont = container(workload)
    env: dict[str, str] = {}
    for source in cont.get("envFrom", []):
        env.update(manifest.get("ConfigMap", source["configMapRef"]["name"])["data"])
    fields = {
        "status.hostIP": "198.51.100.7",
        "spec.nodeName": "k8s-node-1",
        "metadata.name": "media-abc12",
    }
    for entry in cont.get("env", []):
        if "value" in entry:
            env[entry["name"]] = VAR_REF.sub(lambda m: env[m.group(1)], entry["value"])
        elif "fieldRef" in entry["valueFrom"]:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    (volume,) = [v for v in pod_spec(workload)["volumes"] if "secret" in v]
    (mount,) = [m for m in cont["volumeMounts"] if m["name"] == volume["name"]]
    (item,) = volume["secret"]["items"]
    assert env["SFU_API_KEYS_FILE"] == f"{mount['mountPath']}/{item['path']}"
    keys_file = tmp_path / item["path"]
    keys_file.write_text(secrets[volume["secret"]["secretName"]][item["key"]], encoding="utf-8")
    env["SFU_API_KEYS_FILE"] = str(keys_file)
    return {k: v for k, v in env.items() if k.startswith("SFU_")}


def secrets_of(manifest: Rendered) -> dict[str, dict[str, str]]:
    return {
        s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for s in manifest.all("Secret")
    }


# Stand-ins for the Secrets scenarios name but the operator manages (not rendered).
OPERATOR_SECRETS = {"sfu-operator-turn": {"static-auth-secret": "operator-turn-secret-0123456789"}}


def load_settings(
    manifest: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ControlSettings, NodeSettings]:
    """The control API's and a media node's settings, loaded from what the chart gives them."""
    secrets = {**OPERATOR_SECRETS, **secrets_of(manifest)}
    api_env = pod_environment(manifest, manifest.get("Deployment", API), secrets, tmp_path)
    node_env = pod_environment(manifest, manifest.media(), secrets, tmp_path)
    for key in [k for k in os.environ if k.startswith("SFU_")]:
        monkeypatch.delenv(key)
    for key, value in api_env.items():
        monkeypatch.setenv(key, value)
    control = ControlSettings()
    for key in api_env:
        monkeypatch.delenv(key)
    for key, value in node_env.items():
        monkeypatch.setenv(key, value)
    return control, NodeSettings()


@pytest.mark.parametrize(
    "name",
    [
        "default",
        "external-redis",
        "bundled-redis",
        "networkpolicy",
        "hostnetwork",
        "turn",
        "external-turn",
    ],
)
def test_processes_accept_the_rendered_settings(
    name: str, rendered: dict[str, Rendered], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real settings classes load what the chart gives each process."""
    manifest = rendered[name]
    control, node = load_settings(manifest, tmp_path, monkeypatch)

    assert control.api_keys == node.api_keys and control.api_keys
    assert control.redis_url == node.redis_url
    assert node.node_port == DEFAULTS["media"]["port"]
    assert node.resolved_id() == "media-abc12"
    assert node.ice_host_addresses[0] == "198.51.100.7"
    assert node.drain_timeout_s == DEFAULTS["media"]["drain"]["timeoutSeconds"]
    ice = media_values(name)["ice"]
    assert node.udp_port == ice["udpPort"]
    assert node.tcp_port == ice["tcpPort"]
    assert node.ice_tcp_port() == (ice["tcpPort"] if ice["udpPort"] else 0)
    assert node.udp_bind == "0.0.0.0"
    redis_url = values_of(name).get("redis", {}).get("url") or f"redis://{FULLNAME}-redis:6379/0"
    assert control.redis_url == redis_url
    if name == "external-redis":
        assert control.api_keys == {
            k["id"]: k["secret"] for k in values_of(name)["auth"]["apiKeys"]
        }
        assert control.webhook_urls == ["https://backend.example.com/sfu-events"]
        assert control.webhook_secret() == control.api_keys["webhooks"]
        assert node.ice_host_addresses == ["198.51.100.7", "203.0.113.10"]
        assert node.resolved_url() == "wss://k8s-node-1.media.example.com/v1/signal"
    else:
        (key_id,) = control.api_keys  # generated at install
        assert key_id == "main" and len(control.api_keys["main"]) >= 32
        assert node.resolved_url() == "ws://198.51.100.7:7880/v1/signal"
    turn = values_of(name).get("turn", {})
    assert node.turn_urls == turn.get("urls", [])
    if name == "turn":  # generated at install, shared with coturn
        assert re.fullmatch(r"[A-Za-z0-9]{48}", node.turn_secret)
        assert node.turn_secret == secrets_of(manifest)[FULLNAME]["turn-secret"]
    elif name == "external-turn":
        assert node.turn_secret == OPERATOR_SECRETS["sfu-operator-turn"]["static-auth-secret"]
    else:
        assert node.turn() is None and node.turn_secret == ""


def test_ice_tcp_port_0_is_no_ice_tcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """media.ice.tcpPort 0: no ICE-TCP port published or admitted, and the node is given 0
    rather than left to its default (the UDP port's number)."""
    manifest = render({"media": {"ice": {"tcpPort": 0}}, "networkPolicy": {"enabled": True}})
    node = container(manifest.media())
    assert [p["name"] for p in node["ports"]] == ["signaling", "ice"]
    assert env_of(node)["SFU_TCP_PORT"]["value"] == "0"
    (rule,) = manifest.get("NetworkPolicy", MEDIA)["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == ["signaling", "ice"]
    _, settings = load_settings(manifest, tmp_path, monkeypatch)
    assert settings.udp_port == DEFAULTS["media"]["ice"]["udpPort"]
    assert settings.ice_tcp_port() == 0


def test_the_node_accepts_the_rendered_turn_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A literal turn.secret and every URL form reach the node as given (it checks each URL)."""
    urls = [
        "turn:turn.example.com:3478?transport=udp",
        "turn:203.0.113.20:3478?transport=tcp",
        "turns:turn.example.com:443?transport=tcp",
    ]
    secret = "literal-turn-secret-for-ci-0123"
    manifest = render(CHART / "ci" / "turn-values.yaml", {"turn": {"urls": urls, "secret": secret}})
    assert secrets_of(manifest)[FULLNAME]["turn-secret"] == secret
    _, node = load_settings(manifest, tmp_path, monkeypatch)
    turn = node.turn()
    assert turn is not None and turn.urls == tuple(urls) and turn.secret == secret


@all_scenarios
def test_secrets_are_referenced_never_inlined(name: str, rendered: dict[str, Rendered]) -> None:
    manifest = rendered[name]
    values = values_of(name)
    secret_values = [k["secret"] for k in values.get("auth", {}).get("apiKeys", [])]
    secret_values += [s for s in [values.get("redis", {}).get("url")] if s]
    secret_values += [s for s in [values.get("turn", {}).get("secret")] if s]
    secret_values += [
        line.split(":", 1)[1]
        for s in secrets_of(manifest).values()
        for line in s.get("api-keys", "").splitlines()
    ]
    secret_values += [s["turn-secret"] for s in secrets_of(manifest).values() if "turn-secret" in s]
    outside_secrets = yaml.safe_dump_all([d for d in manifest.docs if d["kind"] != "Secret"])
    for secret in secret_values:
        assert secret not in outside_secrets
    for workload in manifest.workloads():
        for cont in containers(workload):
            env = env_of(cont)
            assert "SFU_API_KEYS" not in env and "SFU_WEBHOOK_SECRET" not in env
            for var in ("SFU_REDIS_URL", "SFU_TURN_SECRET", "TURN_SECRET"):
                if var in env:
                    assert set(env[var]) == {"name", "valueFrom"}
                    assert "secretKeyRef" in env[var]["valueFrom"]
            # coturn's secret reaches its arguments only through $(TURN_SECRET)
            args = [a for a in cont.get("args", []) if "static-auth-secret" in a]
            assert args in ([], ["--static-auth-secret=$(TURN_SECRET)"])


def test_existing_secrets_are_used_and_no_secret_is_rendered(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["existing-secrets"]
    assert "Secret" not in manifest.kinds()
    assert "ServiceAccount" not in manifest.kinds()
    for workload in (manifest.get("Deployment", API), manifest.media()):
        spec = pod_spec(workload)
        assert spec["serviceAccountName"] == "sfu-runner"
        (volume,) = [v for v in spec["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == "sfu-operator-keys"
        assert volume["secret"]["items"] == [{"key": "keys.txt", "path": "api-keys"}]
        ref = env_of(container(workload))["SFU_REDIS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "sfu-operator-redis", "key": "url"}
        assert "checksum/secret" not in workload["spec"]["template"]["metadata"]["annotations"]


def test_default_install_runs_the_bundled_redis_for_api_and_media(
    rendered: dict[str, Rendered],
) -> None:
    """No values: a Redis pod in the release, and both processes given its Service's URL."""
    manifest = rendered["default"]
    redis = manifest.get("StatefulSet", f"{FULLNAME}-redis")
    service = manifest.get("Service", f"{FULLNAME}-redis")
    pod_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert labels_match(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    (served,) = container(redis)["ports"]
    assert port["targetPort"] == served["name"] and port["port"] == served["containerPort"]
    assert redis["spec"]["serviceName"] == service["metadata"]["name"]
    # an emptyDir: a trial needs no StorageClass (the registry re-fills after a restart)
    assert "volumeClaimTemplates" not in redis["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(redis)["volumes"]
    url = f"redis://{service['metadata']['name']}:{port['port']}/0"
    assert secrets_of(manifest)[FULLNAME]["redis-url"] == url
    for workload in (manifest.get("Deployment", API), manifest.media()):
        ref = env_of(container(workload))["SFU_REDIS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": FULLNAME, "key": "redis-url"}


def test_the_default_install_fits_one_kubernetes_node(rendered: dict[str, Rendered]) -> None:
    """A trial on a one-node cluster (kind, minikube) comes up whole: media pods need a node
    each (required anti-affinity), so the default asks for one; nothing else is spread."""
    manifest = rendered["default"]
    assert manifest.media()["spec"]["replicas"] == 1
    for workload in manifest.workloads():
        if workload is not manifest.media():
            required = (pod_spec(workload).get("affinity", {}).get("podAntiAffinity", {})).get(
                "requiredDuringSchedulingIgnoredDuringExecution", []
            )
            assert required == [], workload["metadata"]["name"]


@pytest.mark.parametrize(
    "redis",
    [
        {"url": "redis://redis.example.internal:6379/0"},
        {"url": "redis://redis.example.internal:6379/0", "bundled": {"enabled": False}},
        {"existingSecret": "sfu-operator-redis"},
    ],
    ids=["url", "url-bundled-off", "existing-secret"],
)
def test_an_external_redis_switches_the_bundled_one_off(redis: dict[str, Any]) -> None:
    manifest = render({"redis": redis}, {"networkPolicy": {"enabled": True}})
    assert "StatefulSet" not in manifest.kinds()
    assert manifest.find("Service", f"{FULLNAME}-redis") is None
    assert manifest.find("NetworkPolicy", f"{FULLNAME}-redis") is None
    ref = env_of(container(manifest.media()))["SFU_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    if "url" in redis:
        assert ref == {"name": FULLNAME, "key": "redis-url"}
        assert secrets_of(manifest)[FULLNAME]["redis-url"] == redis["url"]
    else:
        assert ref == {"name": "sfu-operator-redis", "key": "redis-url"}
        assert "redis-url" not in secrets_of(manifest)[FULLNAME]


def test_bundled_redis_only_when_asked(rendered: dict[str, Rendered]) -> None:
    bundled = rendered["bundled-redis"]
    redis = bundled.get("StatefulSet", f"{FULLNAME}-redis")
    assert redis["spec"]["replicas"] == 1
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "--appendonly" in container(redis)["args"]
    assert container(redis)["args"][container(redis)["args"].index("--appendonly") + 1] == "yes"
    assert bundled.get("Service", f"{FULLNAME}-redis")["spec"]["ports"][0]["port"] == 6379
    ephemeral = rendered["networkpolicy"].get("StatefulSet", f"{FULLNAME}-redis")
    assert "volumeClaimTemplates" not in ephemeral["spec"]
    for name in ("external-redis", "existing-secrets", "autoscaling"):
        assert "StatefulSet" not in rendered[name].kinds()


def test_network_policies(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["networkpolicy"]
    policies = {p["metadata"]["name"]: p["spec"] for p in manifest.all("NetworkPolicy")}
    assert set(policies) == {API, MEDIA, f"{FULLNAME}-redis"}
    (api_rule,) = policies[API]["ingress"]
    assert api_rule["from"] == values_of("networkpolicy")["networkPolicy"]["apiFrom"]
    media = manifest.media()
    media_labels = media["spec"]["template"]["metadata"]["labels"]
    # clients anywhere: signaling, the UDP port and ICE-TCP, by the container's port names
    assert labels_match(policies[MEDIA]["podSelector"]["matchLabels"], media_labels)
    (media_rule,) = policies[MEDIA]["ingress"]
    assert "from" not in media_rule
    ports = {p["name"]: p["protocol"] for p in container(media)["ports"]}
    assert {p["port"]: p["protocol"] for p in media_rule["ports"]} == ports
    assert ports == {"signaling": "TCP", "ice": "UDP", "ice-tcp": "TCP"}
    (ice_tcp,) = [p for p in container(media)["ports"] if p["name"] == "ice-tcp"]
    assert ice_tcp["containerPort"] == values_of("networkpolicy")["media"]["ice"]["tcpPort"]
    (redis_rule,) = policies[f"{FULLNAME}-redis"]["ingress"]
    api_labels = manifest.get("Deployment", API)["spec"]["template"]["metadata"]["labels"]
    selected = [p["podSelector"]["matchLabels"] for p in redis_rule["from"]]
    assert len(selected) == 2
    assert labels_match(selected[0], api_labels) and labels_match(selected[1], media_labels)
    assert "NetworkPolicy" not in rendered["bundled-redis"].kinds()


def test_network_policies_with_the_host_network(rendered: dict[str, Rendered]) -> None:
    """Media pods on the host network get no policy (none applies to them) and reach Redis
    from the nodes' addresses."""
    manifest = rendered["hostnetwork"]
    policies = {p["metadata"]["name"]: p["spec"] for p in manifest.all("NetworkPolicy")}
    assert set(policies) == {API, f"{FULLNAME}-redis"}
    (redis_rule,) = policies[f"{FULLNAME}-redis"]["ingress"]
    peers = redis_rule["from"]
    api_labels = manifest.get("Deployment", API)["spec"]["template"]["metadata"]["labels"]
    assert labels_match(peers[0]["podSelector"]["matchLabels"], api_labels)
    assert [p["ipBlock"]["cidr"] for p in peers[1:]] == values_of("hostnetwork")["networkPolicy"][
        "nodeCIDRs"
    ]


# --- TURN ------------------------------------------------------------------------------------


def turn_secret_ref(name: str) -> dict[str, str]:
    """Where the scenario's TURN secret is: the operator's Secret, or the chart's."""
    turn = values_of(name).get("turn", {})
    if turn.get("existingSecret"):
        return {"name": turn["existingSecret"], "key": turn["existingSecretKey"]}
    return {"name": FULLNAME, "key": "turn-secret"}


@all_scenarios
def test_media_nodes_get_turn_settings_only_with_turn_urls(
    name: str, rendered: dict[str, Rendered]
) -> None:
    manifest = rendered[name]
    env = env_of(container(manifest.media()))
    urls = values_of(name).get("turn", {}).get("urls", [])
    own_secret = secrets_of(manifest).get(FULLNAME, {})
    if not urls:
        assert "SFU_TURN_URLS" not in env and "SFU_TURN_SECRET" not in env
        assert "turn-secret" not in own_secret
        return
    assert env["SFU_TURN_URLS"]["value"] == ",".join(urls)
    ref = env["SFU_TURN_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == turn_secret_ref(name)
    assert ("turn-secret" in own_secret) == (ref["name"] == FULLNAME)


def test_turn_scenarios_cover_both_secret_sources(rendered: dict[str, Rendered]) -> None:
    assert turn_secret_ref("turn") == {"name": FULLNAME, "key": "turn-secret"}
    assert turn_secret_ref("external-turn") == {
        "name": "sfu-operator-turn",
        "key": "static-auth-secret",
    }
    assert "turn-secret" not in secrets_of(rendered["external-turn"])[FULLNAME]


@all_scenarios
def test_coturn_only_when_bundled(name: str, rendered: dict[str, Rendered]) -> None:
    bundled = values_of(name).get("turn", {}).get("bundled", {}).get("enabled", False)
    assert (rendered[name].find("DaemonSet", TURN) is not None) == bundled


def test_coturn_relays_on_the_host_network(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["turn"]
    values = values_of("turn")["turn"]["bundled"]
    coturn = manifest.get("DaemonSet", TURN)
    spec = pod_spec(coturn)
    # the relay range is the host's: no Service or hostPort list could carry 16k ports
    assert spec["hostNetwork"] is True
    assert coturn["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 0
    assert spec["nodeSelector"] == values["nodeSelector"]
    assert spec["tolerations"] == values["tolerations"]
    cont = container(coturn)
    assert cont["image"] == "docker.io/coturn/coturn:" + DEFAULTS["turn"]["bundled"]["image"]["tag"]
    # the binary, not the image's entrypoint (which re-evaluates arguments in a shell)
    assert cont["command"] == ["turnserver"]
    args = cont["args"]
    for flag in (
        "--use-auth-secret",
        "--static-auth-secret=$(TURN_SECRET)",
        "--realm=turn.example.com",
        "--no-cli",
        "--fingerprint",
        "--no-multicast-peers",
        "--log-file=stdout",
        "--listening-port=3478",
        "--min-port=49152",
        "--max-port=65535",
        "--external-ip=$(K8S_HOST_IP)",
        "--relay-ip=$(K8S_HOST_IP)",
        "--tls-listening-port=5349",
        *values["extraArgs"],
    ):
        assert flag in args, flag
    assert "--no-tls" not in args
    env = env_of(cont)
    assert env["K8S_HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    # the nodes sign credentials with the secret coturn checks them with
    media_ref = env_of(container(manifest.media()))["SFU_TURN_SECRET"]["valueFrom"]
    assert env["TURN_SECRET"]["valueFrom"] == media_ref
    ports = {(p["name"], p["protocol"]): p for p in cont["ports"]}
    assert set(ports) == {("turn-udp", "UDP"), ("turn-tcp", "TCP"), ("turns", "TCP")}
    for port in ports.values():
        assert port["hostPort"] == port["containerPort"]
    assert ports[("turn-udp", "UDP")]["containerPort"] == 3478
    assert ports[("turns", "TCP")]["containerPort"] == 5349
    for probe in ("readinessProbe", "livenessProbe"):
        assert cont[probe]["tcpSocket"] == {"port": "turn-tcp"}
    # the certificate of bundled.tls.secretName, where --cert and --pkey point
    mounts = {m["name"]: m["mountPath"] for m in cont["volumeMounts"]}
    (tls,) = [v for v in spec["volumes"] if v["name"] == "tls"]
    assert tls["secret"]["secretName"] == values["tls"]["secretName"]
    assert f"--cert={mounts['tls']}/tls.crt" in args and f"--pkey={mounts['tls']}/tls.key" in args
    # a read-only image: coturn's database and pid file go to an emptyDir
    assert f"--db={mounts['data']}/turndb" in args
    assert {"name": "data", "emptyDir": {}} in spec["volumes"]
    security = cont["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert security["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["runAsUser"] == 65534


def test_coturn_defaults_and_tls_on_443() -> None:
    urls = {"turn": {"urls": ["turn:turn.example.com:3478"], "bundled": {"enabled": True}}}
    plain = container(render(urls).get("DaemonSet", TURN))
    assert "--no-tls" in plain["args"] and f"--realm={FULLNAME}" in plain["args"]
    assert [p["name"] for p in plain["ports"]] == ["turn-udp", "turn-tcp"]
    assert [m["name"] for m in plain["volumeMounts"]] == ["data"]
    assert plain["securityContext"]["allowPrivilegeEscalation"] is False
    tls = {"turn": {"bundled": {"tls": {"secretName": "turn-tls", "port": 443}}}}
    on_443 = container(render(urls, tls).get("DaemonSet", TURN))
    assert "--tls-listening-port=443" in on_443["args"]
    # the image's file capability binds 443, and applies only with escalation allowed
    assert on_443["securityContext"]["allowPrivilegeEscalation"] is True
    assert on_443["securityContext"]["capabilities"]["add"] == ["NET_BIND_SERVICE"]
    external = {"turn": {"bundled": {"externalIP": "203.0.113.9/$(K8S_HOST_IP)"}}}
    mapped = container(render(urls, external).get("DaemonSet", TURN))
    assert "--external-ip=203.0.113.9/$(K8S_HOST_IP)" in mapped["args"]


def test_network_policies_leave_relayed_media_through(rendered: dict[str, Rendered]) -> None:
    """coturn is on the host network (no policy applies); relayed media comes to the media
    pods from the relay nodes' addresses, which their policy admits (from anyone)."""
    manifest = rendered["turn"]
    coturn_labels = manifest.get("DaemonSet", TURN)["spec"]["template"]["metadata"]["labels"]
    policies = {p["metadata"]["name"]: p["spec"] for p in manifest.all("NetworkPolicy")}
    assert set(policies) == {API, MEDIA, f"{FULLNAME}-redis"}
    for policy in policies.values():
        assert not labels_match(policy["podSelector"]["matchLabels"], coturn_labels)
    (media_rule,) = policies[MEDIA]["ingress"]
    assert "from" not in media_rule
    assert {"port": "ice", "protocol": "UDP"} in media_rule["ports"]
    assert {"port": "ice-tcp", "protocol": "TCP"} in media_rule["ports"]


def test_service_monitors_select_services_and_ports(rendered: dict[str, Rendered]) -> None:
    manifest = rendered["monitoring"]
    monitors = manifest.all("ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {API, MEDIA}
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [
            s for s in manifest.all("Service") if labels_match(selector, s["metadata"]["labels"])
        ]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert "ServiceMonitor" not in rendered["external-redis"].kinds()


def test_pod_disruption_budgets(rendered: dict[str, Rendered]) -> None:
    pdbs = {
        p["metadata"]["name"]: p["spec"] for p in rendered["autoscaling"].all("PodDisruptionBudget")
    }
    assert pdbs[API]["minAvailable"] == 1
    assert pdbs[MEDIA]["maxUnavailable"] == 1
    # a single control API replica gets none: minAvailable 1 of 1 would block node drains
    assert rendered["bundled-redis"].find("PodDisruptionBudget", API) is None
    assert rendered["external-redis"].find("PodDisruptionBudget", MEDIA) is None


def test_image_user_is_the_pods_user() -> None:
    """The Dockerfile's runtime user is the uid the chart runs as, and is not root."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].split()[2] == "build"
    # dependencies only from the locks, with hashes; the package itself without dependencies
    assert "--require-hashes --no-deps -r requirements/runtime.lock" in stages[0]
    assert "--no-build-isolation" in stages[0] and "pip install --no-deps /wheels/" in stages[0]
    assert "--from=build /opt/venv" in stages[1]
    (user,) = re.findall(r"^USER (\d+):(\d+)$", stages[1], re.M)
    security = DEFAULTS["podSecurityContext"]
    assert (int(user[0]), int(user[1])) == (security["runAsUser"], security["runAsGroup"])
    assert int(user[0]) != 0
    assert re.search(r'^CMD \["python", "-m", "sfu"\]$', stages[1], re.M)


def test_chart_app_version_is_the_package_version() -> None:
    """The default image tag is the chart's appVersion: it must name this release."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert chart["appVersion"] == project["version"]
