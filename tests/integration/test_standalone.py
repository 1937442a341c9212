"""The one-process mode (`make run`) through its public interface: the demo route exists only
while SFU_DEMO allows it, its tokens are short-lived and never signed with an API key."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import jwt

from cluster.settings import DEMO_KEY_ID
from standalone.launcher import local_defaults
from tests.support.ports import free_port, free_udp_port
from tests.support.process import start, stop, wait_healthy


@contextlib.asynccontextmanager
async def standalone(env: Mapping[str, str], log: Path) -> AsyncIterator[str]:
    port = free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.upper().startswith("SFU_")},
        "SFU_UDP_PORT": str(free_udp_port()),
        "SFU_UDP_BIND": "127.0.0.1",
        "SFU_TCP_PORT": str(free_port()),
        "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
        **env,
    }
    args = ["-m", "standalone", "--host", "127.0.0.1", "--port", str(port)]
    proc = start(args, full_env, log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


async def test_an_explicit_sfu_demo_false_has_no_demo_route(tmp_path: Path) -> None:
    async with standalone({"SFU_DEMO": "false"}, tmp_path / "log") as base:
        response = httpx.post(f"{base}/demo/token", json={"room": "r", "identity": "eve"})
    # no such route: the static page's mount answers (it takes no POST)
    assert response.status_code in (404, 405)
    assert "token" not in response.text
    assert "SFU_DEMO is on" not in (tmp_path / "log").read_text()


async def test_the_default_demo_route_gives_short_tokens_signed_with_the_demo_key(
    tmp_path: Path,
) -> None:
    async with standalone({}, tmp_path / "log") as base:
        response = httpx.post(f"{base}/demo/token", json={"room": "r", "identity": "ada"})
        # the random API key of the process is nobody's: the REST API stays closed
        rest = httpx.get(f"{base}/v1/rooms", auth=("local", "guess-" * 8))
    assert response.status_code == 200
    token = response.json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == DEMO_KEY_ID
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    assert rest.status_code == 401
    assert "SFU_DEMO is on" in (tmp_path / "log").read_text()


def test_local_defaults_yield_to_the_environment() -> None:
    assert local_defaults({})["demo"] is True
    assert len(local_defaults({})["api_keys"]["local"]) >= 32
    assert local_defaults({})["api_keys"] != local_defaults({})["api_keys"]
    assert local_defaults({"SFU_DEMO": "false", "SFU_API_KEYS": "k:" + "s" * 32}) == {}
    assert "api_keys" not in local_defaults({"sfu_api_keys_file": "/run/keys"})
