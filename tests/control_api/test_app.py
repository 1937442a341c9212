"""The REST API end to end over ASGI: auth, validation, the join flow, health and metrics.

Runs on both stores (the `store` fixture); time comes from a settable clock.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from cluster.errors import ControlError
from cluster.models import NodeInfo, NodeLoad
from cluster.settings import DEMO_KEY_ID
from cluster.store import MemoryStore, RedisStore, Store
from cluster.tokens import JoinGrants, TokenError, verify_join_token
from control_api import app as app_module
from control_api.app import create_app
from control_api.settings import ControlSettings
from tests.support.ports import free_port
from tests.support.stores import T0, Clock

K1, S1 = "key-one", "1" * 32
K2, S2 = "key-two", "2" * 40
AUTH = (K1, S1)


def settings(**overrides: Any) -> ControlSettings:
    return ControlSettings(api_keys={K1: S1, K2: S2}, **overrides)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on each store."""
    async with client_for(create_app(settings(), store, clock=clock)) as http:
        yield http


@pytest.fixture
async def memory_client(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """For checks that do not depend on the store (auth, validation): memory only."""
    async with client_for(create_app(settings(), MemoryStore(), clock=clock)) as http:
        yield http


async def live_node(store: Store, node_id: str, at: float, *, participants: int = 0) -> None:
    await store.register_node(NodeInfo(id=node_id, url=f"wss://{node_id}.test/ws", capacity=50))
    assert await store.heartbeat(node_id, NodeLoad(participants=participants), at)


# -- authentication ------------------------------------------------------------------------

V1_ROUTES = [
    ("POST", "/v1/rooms", {"name": "r1"}),
    ("GET", "/v1/rooms", None),
    ("GET", "/v1/rooms/r1", None),
    ("DELETE", "/v1/rooms/r1", None),
    ("POST", "/v1/rooms/r1/tokens", {"identity": "alice"}),
    ("GET", "/v1/nodes", None),
    ("POST", "/v1/nodes/n1/drain", None),
    ("GET", "/v1/rooms/r1/participants", None),
    ("DELETE", "/v1/rooms/r1/participants/bob", None),
    ("POST", "/v1/rooms/r1/participants/bob/tracks/TR_v/mute", {"muted": True}),
    ("PATCH", "/v1/rooms/r1/participants/bob", {"name": "Bob"}),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


BAD_AUTH = {
    "missing": (None, "API key required"),
    "wrong secret": (basic(K1, S2), "invalid API key"),
    "secret of another key": (basic(K2, S1), "invalid API key"),
    "unknown key id": (basic("nobody", S1), "invalid API key"),
    "empty secret": (basic(K1, ""), "invalid API key"),
    "bearer scheme": (f"Bearer {S1}", "API key required"),
    "not base64": ("Basic %%%", "Not authenticated"),
    "no colon": ("Basic " + base64.b64encode(K1.encode()).decode(), "Not authenticated"),
}


@pytest.mark.parametrize(("method", "path", "body"), V1_ROUTES)
@pytest.mark.parametrize("case", list(BAD_AUTH))
async def test_every_v1_route_requires_a_valid_key(
    memory_client: httpx.AsyncClient, method: str, path: str, body: Any, case: str
) -> None:
    header, detail = BAD_AUTH[case]
    headers = {"Authorization": header} if header is not None else {}
    response = await memory_client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail} or response.json()["detail"].startswith(detail)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_auth_is_checked_before_the_body_is_validated(
    memory_client: httpx.AsyncClient,
) -> None:
    response = await memory_client.post("/v1/rooms", json={"name": "not valid", "x": 1})
    assert response.status_code == 401


async def test_any_configured_key_works(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/rooms", auth=(K2, S2))).status_code == 200


# -- rooms ---------------------------------------------------------------------------------


async def test_create_room_then_create_again_returns_the_existing_room(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    body = {"name": "standup", "max_participants": 8, "empty_timeout_s": 60, "metadata": "m"}
    created = await client.post("/v1/rooms", json=body, auth=AUTH)
    assert created.status_code == 201
    assert created.json() == body | {"created_at": T0}
    clock.now += 10
    again = await client.post("/v1/rooms", json={"name": "standup"}, auth=AUTH)
    assert again.status_code == 200
    assert again.json() == created.json()


async def test_room_defaults(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    assert created.json() == {
        "name": "r1",
        "max_participants": 100,
        "empty_timeout_s": 300,
        "metadata": "",
        "created_at": T0,
    }


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "name"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "a b"}, ["body", "name"]),
        ({"name": "x" * 65}, ["body", "name"]),
        ({"name": 5}, ["body", "name"]),
        ({"name": "r", "max_participants": 0}, ["body", "max_participants"]),
        ({"name": "r", "max_participants": "many"}, ["body", "max_participants"]),
        ({"name": "r", "empty_timeout_s": -1}, ["body", "empty_timeout_s"]),
        ({"name": "r", "metadata": "x" * 4097}, ["body", "metadata"]),
        ({"name": "r", "colour": "blue"}, ["body", "colour"]),
        ([1, 2], ["body"]),
    ],
)
async def test_bad_room_bodies_are_422_with_field_errors(
    memory_client: httpx.AsyncClient, body: Any, loc: list[str]
) -> None:
    response = await memory_client.post("/v1/rooms", json=body, auth=AUTH)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


async def test_body_that_is_not_json_is_422(memory_client: httpx.AsyncClient) -> None:
    response = await memory_client.post(
        "/v1/rooms",
        content=b"{name",
        headers={"Content-Type": "application/json"},
        auth=AUTH,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_list_rooms_by_name_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    for name in ("c", "b", "a", "d", "e"):
        await client.post("/v1/rooms", json={"name": name}, auth=AUTH)
    page = (await client.get("/v1/rooms", auth=AUTH)).json()
    assert ([r["name"] for r in page["rooms"]], page["next_cursor"]) == (list("abcde"), None)
    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/rooms", params=params, auth=AUTH)).json()
        pages.append([r["name"] for r in page["rooms"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["a", "b"], ["c", "d"], ["e"]]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"cursor": "a b"}])
async def test_bad_page_parameters_are_422(
    memory_client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await memory_client.get("/v1/rooms", params=params, auth=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_unknown_room_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/rooms/nope", auth=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "room 'nope' not found"}
    assert (await client.delete("/v1/rooms/nope", auth=AUTH)).status_code == 404


@pytest.mark.parametrize("path", ["/v1/rooms/a%20b", "/v1/rooms/" + "x" * 65, "/v1/rooms/%C3%A9"])
async def test_bad_room_name_in_path_is_422(memory_client: httpx.AsyncClient, path: str) -> None:
    response = await memory_client.get(path, auth=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "name"]


async def test_room_shows_its_node_once_assigned(
    client: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    assert (await client.get("/v1/rooms/r1", auth=AUTH)).json()["node"] is None
    await live_node(store, "n1", T0)
    await client.post("/v1/rooms/r1/tokens", json={"identity": "alice"}, auth=AUTH)
    room = (await client.get("/v1/rooms/r1", auth=AUTH)).json()
    assert room["node"] == {"id": "n1", "url": "wss://n1.test/ws", "alive": True}
    clock.now += 60
    assert (await client.get("/v1/rooms/r1", auth=AUTH)).json()["node"]["alive"] is False


async def test_delete_room(client: httpx.AsyncClient) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    assert (await client.delete("/v1/rooms/r1", auth=AUTH)).status_code == 204
    assert (await client.get("/v1/rooms/r1", auth=AUTH)).status_code == 404


# -- join tokens ---------------------------------------------------------------------------


async def test_token_names_the_node_and_verifies_on_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    await live_node(store, "n1", T0)
    response = await client.post(
        "/v1/rooms/standup/tokens",
        json={
            "identity": "alice",
            "name": "Alice",
            "grants": {"publish": False, "publish_data": False},
            "ttl_s": 90,
        },
        auth=(K2, S2),
    )
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("node_url", "room", "identity", "expires_at")} == {
        "node_url": "wss://n1.test/ws",
        "room": "standup",
        "identity": "alice",
        "expires_at": T0 + 90,
    }
    claims = verify_join_token(body["token"], secrets={K2: S2}, max_ttl_s=86400, now=T0 + 1)
    assert (claims.identity, claims.name, claims.room) == ("alice", "Alice", "standup")
    assert claims.grants == JoinGrants(publish=False, subscribe=True, publish_data=False)
    assert claims.expires_at == T0 + 90
    # The room did not exist: the token route created it with defaults.
    assert (await client.get("/v1/rooms/standup", auth=AUTH)).json()["max_participants"] == 100


async def test_token_defaults(client: httpx.AsyncClient, store: Store) -> None:
    await live_node(store, "n1", T0)
    body = (await client.post("/v1/rooms/r1/tokens", json={"identity": "bob"}, auth=AUTH)).json()
    claims = verify_join_token(body["token"], secrets={K1: S1}, max_ttl_s=86400, now=T0)
    assert claims.name == "bob"
    assert claims.grants == JoinGrants(publish=True, subscribe=True, publish_data=True)
    assert claims.expires_at == body["expires_at"] == T0 + 6 * 3600


async def test_token_carries_metadata_and_attributes(
    client: httpx.AsyncClient, store: Store
) -> None:
    await live_node(store, "n1", T0)
    body = {
        "identity": "bob",
        "metadata": '{"seat": 4}',
        "attributes": {"role": "host"},
        "grants": {"update_metadata": True},
    }
    token = (await client.post("/v1/rooms/r1/tokens", json=body, auth=AUTH)).json()["token"]
    claims = verify_join_token(token, secrets={K1: S1}, max_ttl_s=86400, now=T0)
    assert (claims.metadata, claims.attributes) == ('{"seat": 4}', {"role": "host"})
    assert claims.grants.update_metadata


async def test_token_without_a_live_node_is_503(
    client: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    url = "/v1/rooms/r1/tokens"
    response = await client.post(url, json={"identity": "alice"}, auth=AUTH)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("no media node available")
    assert response.headers["Retry-After"] == "2"
    await live_node(store, "n1", T0)
    clock.now = T0 + 6  # the heartbeat is now too old
    assert (await client.post(url, json={"identity": "alice"}, auth=AUTH)).status_code == 503


async def test_room_moves_when_its_node_dies(
    client: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    await live_node(store, "n1", T0)
    await live_node(store, "n2", T0, participants=10)
    url = "/v1/rooms/r1/tokens"
    first = await client.post(url, json={"identity": "a"}, auth=AUTH)
    assert first.json()["node_url"] == "wss://n1.test/ws"
    clock.now = T0 + 10
    assert await store.heartbeat("n2", NodeLoad(participants=10), clock.now)
    second = await client.post(url, json={"identity": "b"}, auth=AUTH)
    assert second.json()["node_url"] == "wss://n2.test/ws"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "identity"]),
        ({"identity": ""}, ["body", "identity"]),
        ({"identity": "has space"}, ["body", "identity"]),
        ({"identity": "a" * 129}, ["body", "identity"]),
        ({"identity": "a", "name": "bell\x07"}, ["body", "name"]),
        ({"identity": "a", "ttl_s": 0}, ["body", "ttl_s"]),
        ({"identity": "a", "ttl_s": 10**9}, ["body", "ttl_s"]),
        ({"identity": "a", "grants": {"publish": "maybe"}}, ["body", "grants", "publish"]),
        ({"identity": "a", "grants": {"publish_data": 2}}, ["body", "grants", "publish_data"]),
        ({"identity": "a", "grants": {"admin": True}}, ["body", "grants", "admin"]),
        ({"identity": "a", "metadata": "x" * 4097}, ["body", "metadata"]),
        ({"identity": "a", "attributes": {str(i): "" for i in range(17)}}, ["body", "attributes"]),
        ({"identity": "a", "attributes": {"role": 1}}, ["body", "attributes", "role"]),
        ({"identity": "a", "attributes": {"": "x"}}, ["body", "attributes", "", "[key]"]),
        ({"identity": "a", "attributes": {"a\tb": "x"}}, ["body", "attributes", "a\tb", "[key]"]),
    ],
)
async def test_bad_token_bodies_are_422(
    memory_client: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
) -> None:
    response = await memory_client.post("/v1/rooms/r1/tokens", json=body, auth=AUTH)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


# -- nodes, health, metrics ----------------------------------------------------------------


async def test_list_nodes_with_liveness(client: httpx.AsyncClient, store: Store) -> None:
    await live_node(store, "n1", T0 - 1, participants=3)
    await store.register_node(NodeInfo(id="n2", url="wss://n2.test/ws", capacity=9))
    nodes = (await client.get("/v1/nodes", auth=AUTH)).json()
    assert nodes == [
        {
            "id": "n1",
            "url": "wss://n1.test/ws",
            "capacity": 50,
            "state": "active",
            "load": {"participants": 3, "tracks": 0, "packets_per_s": 0.0, "cpu": 0.0},
            "heartbeat_at": T0 - 1,
            "alive": True,
            "rooms": [],
        },
        {
            "id": "n2",
            "url": "wss://n2.test/ws",
            "capacity": 9,
            "state": "active",
            "load": {"participants": 0, "tracks": 0, "packets_per_s": 0.0, "cpu": 0.0},
            "heartbeat_at": None,
            "alive": False,
            "rooms": [],
        },
    ]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_metrics_count_requests_by_route_template(memory_client: httpx.AsyncClient) -> None:
    await memory_client.get("/v1/rooms/nope", auth=AUTH)
    await memory_client.get("/v1/rooms/other", auth=AUTH)
    await memory_client.get("/no/such/path")
    response = await memory_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'control_api_requests_total{method="GET",route="/v1/rooms/{name}",status="404"} 2.0' in text
    )
    assert 'route="unmatched",status="404"} 1.0' in text
    assert "nope" not in text


async def test_metrics_registries_are_per_app(store: Store) -> None:
    async with client_for(create_app(settings(), store)) as one:
        await one.get("/healthz")
        await one.get("/healthz")
    async with client_for(create_app(settings(), store)) as two:
        await two.get("/healthz")
        text = (await two.get("/metrics")).text
    assert 'route="/healthz",status="200"} 1.0' in text


async def test_openapi_documents_basic_auth(memory_client: httpx.AsyncClient) -> None:
    spec = (await memory_client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBasic"]["scheme"] == "basic"
    assert "/v1/rooms/{name}/tokens" in spec["paths"]


# -- an unreachable store ------------------------------------------------------------------


@pytest.mark.redis
async def test_unreachable_redis_gives_503_never_500(clock: Clock) -> None:
    port = free_port()  # nothing listens there
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        async with client_for(create_app(settings(), store, clock=clock)) as http:
            for method, path, body in V1_ROUTES:
                response = await http.request(method, path, json=body, auth=AUTH)
                assert response.status_code == 503, (method, path)
                assert response.json()["detail"].startswith("store unavailable")
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (503, {"status": "store unavailable"})
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await store.close()


def test_every_control_error_has_an_http_status() -> None:
    def subclasses(cls: type[ControlError]) -> set[type[ControlError]]:
        direct = set(cls.__subclasses__())
        return direct.union(*(subclasses(sub) for sub in direct))

    assert subclasses(ControlError) <= set(app_module._ERROR_STATUS)


# -- demo route, static page, mounts -------------------------------------------------------


async def test_demo_route_is_off_by_default(memory_client: httpx.AsyncClient) -> None:
    response = await memory_client.post("/demo/token", json={"room": "r1", "identity": "a"})
    assert response.status_code == 404


async def test_demo_route_issues_short_tokens_with_the_demo_key(store: Store, clock: Clock) -> None:
    await live_node(store, "n1", T0)
    demo = settings(demo=True, demo_token_ttl_s=120)
    async with client_for(create_app(demo, store, clock=clock)) as http:
        response = await http.post("/demo/token", json={"room": "lobby", "identity": "guest-1"})
        bad = await http.post("/demo/token", json={"room": "no way", "identity": "guest-1"})
    assert response.status_code == 200
    body = response.json()
    assert (body["node_url"], body["room"], body["identity"], body["expires_at"]) == (
        "wss://n1.test/ws",
        "lobby",
        "guest-1",
        T0 + 120,
    )
    token = body["token"]
    assert jwt.get_unverified_header(token)["kid"] == DEMO_KEY_ID
    claims = verify_join_token(token, secrets=demo.token_secrets(), max_ttl_s=120, now=T0)
    assert claims.grants == JoinGrants(publish=True, subscribe=True)
    # never signed with an API key: a node without demo mode refuses it
    with pytest.raises(TokenError, match="token key unknown"):
        verify_join_token(token, secrets=demo.api_keys, max_ttl_s=86400, now=T0)
    assert bad.status_code == 422


async def test_token_lifetime_is_bounded_by_the_settings(store: Store, clock: Clock) -> None:
    await live_node(store, "n1", T0)
    app = create_app(settings(token_ttl_s=600, token_max_ttl_s=3600), store, clock=clock)
    async with client_for(app) as http:
        url = "/v1/rooms/standup/tokens"
        longer = await http.post(url, json={"identity": "a", "ttl_s": 3601}, auth=(K1, S1))
        longest = await http.post(url, json={"identity": "a", "ttl_s": 3600}, auth=(K1, S1))
    assert longer.status_code == 422
    assert longer.json()["detail"][0]["loc"] == ["body", "ttl_s"]
    assert longest.status_code == 200


async def test_static_page_is_served_after_the_api(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<h1>seed-sfu</h1>")

    async def node_app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("node")(scope, receive, send)

    app = create_app(
        settings(), store, static_dir=tmp_path, mounts={"/node": node_app}, clock=clock
    )
    async with client_for(app) as http:
        assert (await http.get("/")).text == "<h1>seed-sfu</h1>"
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/v1/rooms")).status_code == 401
        assert (await http.get("/node/v1/signal")).text == "node"
        assert (await http.get("/missing.js")).status_code == 404
        text = (await http.get("/metrics")).text
    assert 'route="/*",status="200"} 1.0' in text
    assert 'route="/node/*",status="200"} 1.0' in text
