"""Bad values fail at install, with a message naming the value: wrong types and unknown keys
through values.schema.json, combinations the schema cannot express through the chart's `fail`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.chart import (
    CHART,
    LATEST_KUBE,
    NAMESPACE,
    RELEASE,
    HelmFailed,
    helm,
    template,
    values_args,
)

EXTERNAL = {"redis": {"url": "redis://redis.example.internal:6379/0"}}
TURN_URLS = {"turn": {"urls": ["turn:turn.example.com:3478?transport=udp"]}}
BUNDLED_TURN = {**TURN_URLS["turn"], "bundled": {"enabled": True}}


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"api": {"replicas": "two"}}, "/api/replicas"),
        ({"media": {"port": "7880"}}, "/media/port"),
        ({"media": {"drain": {"timeoutSeconds": "1h"}}}, "/media/drain/timeoutSeconds"),
        ({"config": {"demo": "yes"}}, "/config/demo"),
        ({"media": {"kind": "StatefulSet"}}, "/media/kind"),
        ({"auth": {"apiKeys": [{"id": "main", "secret": "too-short"}]}}, "/auth/apiKeys/0/secret"),
        ({"api": {"replicaCount": 3}}, "/api"),  # a misspelt key is not silently ignored
        ({"media": {"resources": {"requests": {"cpu": "lots"}}}}, "/media/resources/requests/cpu"),
        ({"config": {"webhookUrls": ["ftp://x"]}}, "/config/webhookUrls/0"),
        ({"media": {"ice": {"udpPort": 80}}}, "/media/ice/udpPort"),  # non-root: >= 1024
        ({"media": {"ice": {"udpPort": "7882"}}}, "/media/ice/udpPort"),
        ({"media": {"ice": {"tcpPort": 80}}}, "/media/ice/tcpPort"),  # non-root: >= 1024
        ({"media": {"ice": {"tcpPort": "7882"}}}, "/media/ice/tcpPort"),
        ({"media": {"ice": {"tcpPort": 70000}}}, "/media/ice/tcpPort"),
        ({"media": {"hostNetwork": "false"}}, "/media/hostNetwork"),
        ({"redis": {"bundled": {"enabled": "yes"}}}, "/redis/bundled/enabled"),  # auto|true|false
        # the reserved knob the single UDP port replaced
        ({"media": {"ice": {"udpPortRange": {"start": 50000, "end": 60000}}}}, "/media/ice"),
        # the node refuses other schemes at start; the chart at install
        ({"turn": {"urls": ["stun:stun.example.com:3478"]}}, "/turn/urls/0"),
        ({"turn": {"urls": ["turn:a:3478,turn:b:3478"]}}, "/turn/urls/0"),  # one URL per item
        ({"turn": {"secret": "short"}}, "/turn/secret"),
        ({"turn": {"bundled": {"enabled": "yes"}}}, "/turn/bundled/enabled"),
        ({"turn": {"bundled": {"listeningPort": 478}}}, "/turn/bundled/listeningPort"),
        ({"turn": {"bundled": {"minPort": 80}}}, "/turn/bundled/minPort"),
        ({"turn": {"bundled": {"tls": {"port": 80}}}}, "/turn/bundled/tls/port"),  # 443 or >= 1024
        (
            {"turn": {"bundled": {"extraArgs": ["denied-peer-ip=10.0.0.0"]}}},
            "/turn/bundled/extraArgs/0",
        ),
        ({"turn": {"bundled": {"replicas": 2}}}, "/turn/bundled"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_schema_rejects_wrong_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(HelmFailed) as failed:
        template(EXTERNAL, values)
    assert "values don't meet the specifications of the schema" in failed.value.output
    assert f"'{where}'" in failed.value.output
    # `helm lint --strict` (and so `helm install`) refuses them too
    with pytest.raises(HelmFailed):
        helm(
            "lint",
            "--strict",
            "--kube-version",
            LATEST_KUBE,
            str(CHART),
            *values_args(EXTERNAL),
            *values_args(values),
        )


def test_schema_accepts_the_defaults_and_right_values() -> None:
    template()
    template(EXTERNAL, {"api": {"replicas": 3}, "media": {"drain": {"timeoutSeconds": 60}}})
    template(EXTERNAL, {"media": {"hostNetwork": True, "ice": {"udpPort": 0}}})
    template(EXTERNAL, {"media": {"ice": {"tcpPort": 0}}})
    template(EXTERNAL, {"media": {"ice": {"udpPort": 50000, "tcpPort": 50001}}})
    template(
        EXTERNAL, {"turn": {**BUNDLED_TURN, "bundled": {"enabled": True, "tls": {"port": 443}}}}
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"redis": {"url": "redis://r:6379/0", "bundled": {"enabled": True}}},
            "redis.bundled.enabled=true runs a Redis in the release, but redis.url or "
            "redis.existingSecret names another: to use yours, set redis.bundled.enabled=auto",
        ),
        (
            {"redis": {"existingSecret": "mine", "bundled": {"enabled": True}}},
            "unset redis.url and redis.existingSecret",
        ),
        (
            {"redis": {"url": "redis://r:6379/0", "existingSecret": "mine"}},
            "redis.url and redis.existingSecret both name a Redis: set only one of them",
        ),
        (
            {"redis": {"bundled": {"enabled": False}}},
            "redis.bundled.enabled=false leaves the control API and the media nodes no Redis "
            "to share their state through: set redis.url or redis.existingSecret",
        ),
        (
            {
                **EXTERNAL,
                "auth": {"existingSecret": "mine", "apiKeys": [{"id": "a", "secret": "s" * 32}]},
            },
            "auth.apiKeys or auth.existingSecret",
        ),
        (
            {
                **EXTERNAL,
                "auth": {"apiKeys": [{"id": "a", "secret": "s" * 32}]},
                "config": {"webhookKey": "b"},
            },
            "config.webhookKey",
        ),
        (
            {**EXTERNAL, "media": {"ice": {"udpPort": 0}}},
            "media.ice.udpPort 0 (ephemeral UDP ports) needs media.hostNetwork=true",
        ),
        (
            {**EXTERNAL, "media": {"ice": {"tcpPort": 7880}}},
            "media.ice.tcpPort 7880 is media.port, the signaling port (both TCP): give ICE-TCP a "
            "port of its own",
        ),
        (
            {**EXTERNAL, "media": {"ice": {"announceHostIP": False}}},
            "set media.ice.announceHostIP=true or media.ice.addresses",
        ),
        (
            {**EXTERNAL, "media": {"kind": "DaemonSet", "autoscaling": {"enabled": True}}},
            "media.autoscaling needs media.kind=Deployment",
        ),
        (
            {**EXTERNAL, "media": {"kind": "DaemonSet", "podDisruptionBudget": {"enabled": True}}},
            "needs an integer minAvailable",
        ),
        (
            {
                **EXTERNAL,
                "media": {
                    "kind": "DaemonSet",
                    "podDisruptionBudget": {"enabled": True, "minAvailable": "50%"},
                },
            },
            "needs an integer minAvailable",
        ),
        (
            {
                "redis": {"bundled": {"enabled": True}},
                "media": {"hostNetwork": True},
                "networkPolicy": {"enabled": True},
            },
            "needs networkPolicy.nodeCIDRs",
        ),
        (
            # the bundled Redis by default: the same rule, and an external Redis avoids it
            {"media": {"hostNetwork": True}, "networkPolicy": {"enabled": True}},
            "needs networkPolicy.nodeCIDRs (the nodes' address ranges: media pods on the host "
            "network reach Redis from them); or use an external Redis (redis.url or "
            "redis.existingSecret), or media.hostNetwork=false",
        ),
        (
            {"turn": {"bundled": {"enabled": True}}},
            "turn.bundled.enabled runs coturn, but clients only use it through turn.urls: list "
            "the URLs they reach it at",
        ),
        (
            TURN_URLS,
            "turn.urls without turn.bundled.enabled names your own TURN server: set turn.secret "
            "(or turn.existingSecret) to its static-auth-secret, or turn.bundled.enabled=true",
        ),
        (
            {"turn": {**BUNDLED_TURN, "secret": "s" * 32, "existingSecret": "mine"}},
            "set turn.secret or turn.existingSecret, not both",
        ),
        (
            {
                "turn": {
                    **BUNDLED_TURN,
                    "bundled": {"enabled": True, "minPort": 60000, "maxPort": 50000},
                }
            },
            "turn.bundled.minPort 60000 is above turn.bundled.maxPort 50000",
        ),
        (
            {
                "turn": {
                    **BUNDLED_TURN,
                    "bundled": {"enabled": True, "tls": {"secretName": "t", "port": 3478}},
                }
            },
            "turn.bundled.tls.port and turn.bundled.listeningPort must differ",
        ),
    ],
    ids=[
        "bundled-and-url",
        "bundled-and-existing-secret",
        "url-and-existing-secret",
        "no-redis",
        "two-key-sources",
        "webhook-key",
        "udp-port-0-without-host-network",
        "ice-tcp-port-is-signaling",
        "no-announced-address",
        "daemonset-hpa",
        "daemonset-pdb",
        "daemonset-pdb-percent",
        "policy-cidrs",
        "policy-cidrs-default-redis",
        "coturn-without-urls",
        "turn-urls-without-secret",
        "two-turn-secret-sources",
        "turn-port-range",
        "turn-tls-port",
    ],
)
def test_chart_rejects_inconsistent_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmFailed) as failed:
        template(values)
    assert message in failed.value.output
    # the same message from `helm install` (client-side dry run: no cluster)
    install = ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    with pytest.raises(HelmFailed) as failed:
        helm(*install, *values_args(values))
    assert message in failed.value.output


def test_the_fixes_the_messages_name_are_accepted() -> None:
    """Each fix the messages name is accepted (the rules refuse only the contradictions)."""
    url = {"redis": {"url": "redis://r:6379/0"}}
    template(url, {"redis": {"bundled": {"enabled": "auto"}}})
    template(url, {"redis": {"bundled": {"enabled": False}}})
    template({"redis": {"existingSecret": "mine", "bundled": {"enabled": False}}})
    template({"redis": {"bundled": {"enabled": True}}})
    host_network = {"media": {"hostNetwork": True}, "networkPolicy": {"enabled": True}}
    template(host_network, url)
    template(host_network, {"networkPolicy": {"nodeCIDRs": ["10.0.0.0/16"]}})
    template(host_network, {"media": {"hostNetwork": False}})
    template(url, {"media": {"ice": {"tcpPort": 7882}}})
    template(url, {"media": {"ice": {"tcpPort": 0}}})
    # ICE-TCP is unused without the UDP port: nothing binds it there
    template(url, {"media": {"hostNetwork": True, "ice": {"udpPort": 0, "tcpPort": 7880}}})
    template(TURN_URLS, {"turn": {"secret": "s" * 32}})
    template(TURN_URLS, {"turn": {"existingSecret": "mine"}})
    template({"turn": BUNDLED_TURN})  # the secret generated
    template({"turn": {**BUNDLED_TURN, "existingSecret": "mine"}})
