"""A property-based fuzz of the whole OpenAPI (schemathesis), and API-key auth on every /v1 route.

The fuzz builds the real app on each store (memory, Redis) with a few media nodes (alive with
little capacity, draining, dead), a room and two participants, then sends every operation
of /openapi.json requests generated from the document: valid ones and invalid ones, one
operation at a time, then stateful sequences that follow the links schemathesis infers (create
a room, then read, join or delete it). Every response must be documented (status code,
content type, body schema, required headers); invalid input must get a 4xx, valid input no
422; the only 5xx allowed is the documented 503 about media nodes (none free, or not
listening), never one from the store, which is up.

Hypothesis runs in a worker thread (schemathesis' state machine is synchronous) and each
request is sent to the app on the test's event loop, where the store and its connections live.
CI runs a fixed set of examples: the `sfu` profile in tests/conftest.py sets `derandomize`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from cluster.models import (
    NodeInfo,
    NodeLoad,
    ParticipantRecord,
    RoomInfo,
    TrackRecord,
)
from cluster.store import MemoryStore, Store
from cluster.tokens import MAX_TOKEN_TTL_S
from control_api.app import create_app
from control_api.settings import ControlSettings
from tests.support.stores import RedisStoreFactory

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI < 0.137.2 still copies included routes into `app.routes`
    iter_route_contexts = iter  # type: ignore[assignment]

KEY, SECRET = "fuzz-key", "f" * 32
OTHER_SECRET = "o" * 32
T0 = 1_700_000_000.0

MAX_EXAMPLES = 40  # per operation, store and generation mode (valid, invalid)
STATEFUL_SCENARIOS = 30  # per store, of up to 8 requests each

# The checks every response must pass (schemathesis' `ignored_auth` would re-send requests
# over the network, and auth has its own test below).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
]
# A created room must be readable until it is deleted. (Not `use_after_free`: asking for a
# join token creates a missing room on purpose, so a deleted room can come back that way.)
STATEFUL_CHECKS = ["ensure_resource_availability"]


def control_settings() -> ControlSettings:
    # Demo on: /demo/token is part of the fuzzed document too. Token lifetimes up to the
    # document's bound are allowed, so that every schema-valid request is accepted.
    return ControlSettings(api_keys={KEY: SECRET}, demo=True, token_max_ttl_s=MAX_TOKEN_TTL_S)


def fuzz_config(checks: list[str]) -> schemathesis.Config:
    enabled: dict[str, Any] = {name: {"enabled": True} for name in checks}
    # 503 is documented (Retry-After) for "no media node"; `Api.call` narrows it further.
    enabled["not_a_server_error"]["expected-statuses"] = ["2xx", "3xx", "4xx", "503"]
    return schemathesis.Config.from_dict(
        {
            "auth": {"basic": {"username": KEY, "password": SECRET}},
            "checks": {"enabled": False, **enabled},
        }
    )


# Operations and routes are read from an app built here, so new routes are fuzzed without edits.
APP = create_app(control_settings(), MemoryStore())
SCHEMA = schemathesis.openapi.from_dict(APP.openapi(), config=fuzz_config(CHECKS))
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


def _can_be_invalid(label: str) -> bool:
    """Negative generation needs something to break: a parameter, a body or credentials."""
    method, path = label.split(" ", 1)
    spec = SCHEMA.raw_schema["paths"][path][method.lower()]
    return any(key in spec for key in ("parameters", "requestBody", "security"))


FUZZ_CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label in OPERATIONS
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE or _can_be_invalid(label)
]

# -- the app under test --------------------------------------------------------------------

NODES = [
    (NodeInfo(id="n1", url="wss://n1.test/ws", capacity=3), T0),
    (NodeInfo(id="n2", url="wss://n2.test/ws", capacity=2), T0 - 1),
    (NodeInfo(id="n3", url="wss://n3.test/ws", capacity=50, state="draining"), T0),
    (NodeInfo(id="n4", url="wss://n4.test/ws", capacity=50), T0 - 600),  # dead
]
ROOM = "standup"
PARTICIPANTS = [
    ParticipantRecord(
        identity="alice",
        name="Alice",
        node_id="n1",
        joined_at=T0,
        tracks=(TrackRecord(id="mic", kind="audio"), TrackRecord(id="cam", kind="video")),
    ),
    ParticipantRecord(identity="bob", name="Bob", node_id="n1", joined_at=T0),
]
# Path parameter values that name something seeded above: half of the valid requests use them,
# so the fuzz gets past 404 to the handlers' other paths.
KNOWN_PATH_VALUES: dict[str, list[str]] = {
    "name": [ROOM],
    "identity": [p.identity for p in PARTICIPANTS],
    "track_id": ["mic", "cam"],
    "node_id": [info.id for info, _ in NODES],
}


async def seed(store: Store) -> None:
    for info, heartbeat_at in NODES:
        await store.register_node(info)
        await store.heartbeat(info.id, NodeLoad(), heartbeat_at)
    await store.create_room(
        RoomInfo(
            name=ROOM,
            max_participants=10,
            empty_timeout_s=60,
            metadata="",
            created_at=T0,
            id="RM_1",
        )
    )
    await store.assign_room(ROOM, T0, control_settings().node_ttl_s)
    for participant in PARTICIPANTS:
        await store.put_participant(ROOM, participant)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Api:
    """The app on the test's event loop, driven from Hypothesis code in a worker thread."""

    def __init__(self, new_store: Callable[[], Store], loop: asyncio.AbstractEventLoop) -> None:
        self._new_store = new_store
        self._loop = loop
        self._stack = AsyncExitStack()
        self._client: httpx.AsyncClient | None = None

    async def reset(self) -> None:
        """Start over on a fresh store holding the seed data."""
        await self._stack.aclose()
        store = self._new_store()
        await seed(store)
        # n1 listens for commands, so removing and muting its participants can succeed.
        await self._stack.enter_async_context(store.subscribe_commands("n1"))
        app = create_app(control_settings(), store, clock=lambda: T0)
        self._client = await self._stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        )

    async def close(self) -> None:
        await self._stack.aclose()

    def reset_from_thread(self) -> None:
        asyncio.run_coroutine_threadsafe(self.reset(), self._loop).result(timeout=30)

    def call(self, case: Case) -> schemathesis.Response:
        sent = asyncio.run_coroutine_threadsafe(self._send(case), self._loop)
        response = schemathesis.Response.from_any(sent.result(timeout=30))
        if response.status_code == 503:
            # Documented wherever the store is read; here the store is up, so only the 503s
            # about media nodes may happen (none has room, or it does not listen for commands).
            detail = response.json()["detail"]
            assert not detail.startswith("store unavailable"), (case.operation.label, detail)
        return response

    async def _send(self, case: Case) -> httpx.Response:
        assert self._client is not None, "reset() first"
        # Keyword arguments for `requests`; the same names work for httpx but for a raw body.
        kwargs = case.as_transport_kwargs(base_url=str(self._client.base_url))
        request = {
            key: kwargs[key]
            for key in ("method", "url", "headers", "params", "json")
            if key in kwargs
        }
        if "data" in kwargs:
            request["content"] = kwargs["data"]
        if kwargs.get("cookies"):
            request["cookies"] = kwargs["cookies"]
        return await self._client.request(**request)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_store(store_kind: str, request: pytest.FixtureRequest) -> Callable[[], Store]:
    """Like the `store` fixture of conftest.py, but a new store on each call."""
    if store_kind == "memory":
        return MemoryStore
    make: RedisStoreFactory = request.getfixturevalue("make_redis_store")
    return lambda: make(prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture
async def api(new_store: Callable[[], Store]) -> AsyncIterator[Api]:
    api = Api(new_store, asyncio.get_running_loop())
    await api.reset()
    yield api
    await api.close()


def strategy_for(label: str, mode: GenerationMode) -> st.SearchStrategy[Case]:
    operation = OPERATIONS[label]
    generated = operation.as_strategy(generation_mode=mode)
    known = [name for name in re.findall(r"{(\w+)}", operation.path) if name in KNOWN_PATH_VALUES]
    if mode is GenerationMode.NEGATIVE or not known:
        return generated
    fixed = st.fixed_dictionaries(
        {name: st.sampled_from(KNOWN_PATH_VALUES[name]) for name in known}
    )
    return st.one_of(
        generated,
        fixed.flatmap(
            lambda path: operation.as_strategy(generation_mode=mode, path_parameters=path)
        ),
    )


# -- the fuzz ------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "mode"), FUZZ_CASES)
async def test_every_operation_answers_as_documented(
    api: Api, label: str, mode: GenerationMode
) -> None:
    """State carries over from one example to the next, as on a live server: rooms pile up on
    the nodes until token requests get 503."""

    @settings(
        max_examples=MAX_EXAMPLES,
        suppress_health_check=[HealthCheck.too_slow],  # generating invalid data is slow
    )
    @given(case=strategy_for(label, mode))
    def fuzz(case: Case) -> None:
        case.validate_response(api.call(case))

    await asyncio.to_thread(fuzz)


async def test_stateful_sequences_answer_as_documented(api: Api) -> None:
    """Each scenario starts on a fresh store, so a replayed scenario gets the same answers."""
    schema = schemathesis.openapi.from_dict(
        SCHEMA.raw_schema, config=fuzz_config(CHECKS + STATEFUL_CHECKS)
    )

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            api.reset_from_thread()

        def call(self, case: Case, **kwargs: Any) -> schemathesis.Response:
            return api.call(case)

    runs = settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=8,
        suppress_health_check=[HealthCheck.too_slow],  # generating invalid data is slow
    )
    await asyncio.to_thread(Workflow.run, settings=runs)


# -- authentication on every /v1 route -----------------------------------------------------


def v1_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every /v1 route, in or out of the OpenAPI document."""
    found = set()
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path", None) or ""
        if path.startswith("/v1"):
            found.update((method, path) for method in getattr(route, "methods", None) or ())
    return sorted(found)


def example_path(method: str, template: str) -> str:
    """The template with each parameter set to a value its documented pattern takes."""
    operation = SCHEMA.raw_schema["paths"].get(template, {}).get(method.lower(), {})
    patterns = {
        parameter["name"]: parameter["schema"].get("pattern", ".")
        for parameter in operation.get("parameters", ())
        if parameter["in"] == "path"
    }

    def value(match: re.Match[str]) -> str:
        pattern = patterns.get(match[1], ".")
        for known in KNOWN_PATH_VALUES.get(match[1], ()):
            if re.search(pattern, known):
                return known
        return simplest_match(pattern)

    return re.sub(r"{(\w+)}", value, template)


@functools.cache
def simplest_match(pattern: str) -> str:
    return str(find(st.from_regex(pattern, fullmatch=True), lambda text: "/" not in text))


V1_ROUTES = v1_routes(APP)

BAD_CREDENTIALS: dict[str, str | None] = {
    "none": None,
    "wrong secret": basic(KEY, OTHER_SECRET),
    "unknown key id": basic("nobody", SECRET),
}


def test_the_route_list_is_complete() -> None:
    assert ("GET", "/v1/rooms") in V1_ROUTES
    assert ("POST", "/v1/rooms") in V1_ROUTES
    assert ("GET", "/v1/nodes") in V1_ROUTES
    # Every /v1 operation of the document is in the list the auth test walks.
    documented = {
        (method.upper(), path)
        for path, operations in SCHEMA.raw_schema["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    assert documented <= set(V1_ROUTES)


class UntouchableStore:
    """A store that fails the test if a request ever reaches it."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        pytest.fail(f"an unauthenticated request reached the store ({name})")


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_every_v1_route_rejects_missing_and_wrong_keys(
    method: str, path: str, credentials: str
) -> None:
    app = create_app(control_settings(), UntouchableStore(), clock=lambda: T0)  # type: ignore[arg-type]
    header = BAD_CREDENTIALS[credentials]
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.request(
            method, example_path(method, path), headers=headers, json={}
        )
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Basic realm="seed-sfu"'


# -- what the fuzz found -------------------------------------------------------------------


async def test_a_json_body_that_is_not_utf8_is_422_like_any_body_that_is_not_json() -> None:
    """FastAPI answered 400 (undocumented) to it; `control_api.app` makes it 422."""
    app = create_app(control_settings(), MemoryStore(), clock=lambda: T0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/v1/rooms",
            content=b'{"name": "\xff"}',
            headers={"Content-Type": "application/json", "Authorization": basic(KEY, SECRET)},
        )
    assert response.status_code == 422
    assert [error["type"] for error in response.json()["detail"]] == ["json_invalid"]
