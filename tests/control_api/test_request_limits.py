"""Refusals before the body is read, over ASGI: the API-key gate and the body limit.

The request bodies here are generators that record whether the app pulled them, so a test can
tell "refused" from "read, then refused". tests/integration/test_http_limits.py runs the same
refusals against real servers and measures their memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cluster.store import MemoryStore
from control_api.app import create_app
from control_api.settings import ControlSettings
from sfu.node import Node
from sfu.settings import NodeSettings

K1, S1 = "key-one", "1" * 32
LIMIT = 1000


class Body:
    """A request body that counts the bytes the app pulled from it."""

    def __init__(self, size: int, chunk: int = 100) -> None:
        self.size, self.chunk, self.pulled = size, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(0, self.size, self.chunk):
            self.pulled += self.chunk
            yield b" " * self.chunk


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = ControlSettings(api_keys={K1: S1}, http_max_body_bytes=LIMIT)
    app = create_app(settings, MemoryStore())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("authorization", ["", "Basic a2V5LW9uZTp3cm9uZw=="], ids=["none", "wrong"])
async def test_a_v1_request_without_a_valid_key_is_refused_unread(
    client: httpx.AsyncClient, authorization: str
) -> None:
    body = Body(LIMIT // 2)
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/v1/rooms", content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="seed-sfu"'
    assert response.headers["Connection"] == "close"  # the rest is never read either
    assert body.pulled == 0


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient,
) -> None:
    body = Body(LIMIT + 100)
    headers = {"Content-Length": str(LIMIT + 100)}
    response = await client.post("/v1/rooms", content=body, headers=headers, auth=(K1, S1))
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body is larger than {LIMIT} bytes (SFU_HTTP_MAX_BODY_BYTES)"
    }
    assert response.headers["Connection"] == "close"
    assert body.pulled == 0


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    client: httpx.AsyncClient,
) -> None:
    body = Body(100 * LIMIT)
    response = await client.post("/v1/rooms", content=body, auth=(K1, S1))
    assert response.status_code == 413
    assert "SFU_HTTP_MAX_BODY_BYTES" in response.json()["detail"]
    assert LIMIT < body.pulled <= LIMIT + body.chunk


async def test_a_body_within_the_limit_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/rooms", json={"name": "fits"}, auth=(K1, S1))
    assert response.status_code in (200, 201)


async def test_refusals_are_counted_with_their_status(client: httpx.AsyncClient) -> None:
    await client.post("/v1/rooms", content=b"{}")
    await client.post("/v1/rooms", content=b" " * (LIMIT + 1), auth=(K1, S1))
    metrics = (await client.get("/metrics")).text
    assert 'method="POST",route="unmatched",status="401"} 1.0' in metrics
    assert 'method="POST",route="unmatched",status="413"} 1.0' in metrics


async def test_the_node_takes_no_request_body() -> None:
    settings = NodeSettings(api_keys={K1: S1}, udp_port=0, ice_host_addresses=["127.0.0.1"])
    node = Node(settings, MemoryStore())
    transport = httpx.ASGITransport(app=node.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/healthz")).status_code == 200
        refused = await http.request("GET", "/healthz", content=b"x")
        assert refused.status_code == 413
        assert refused.json() == {"detail": "request body is larger than 0 bytes"}
