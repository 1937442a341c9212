"""The control-plane FastAPI app: routes, auth, error mapping, metrics and the static page.

Auth for every /v1 route: HTTP Basic, API key id as user name and secret as password
(`Authorization: Basic base64("<key id>:<secret>")`; see `control_api.deps`).

`create_app` takes an opened store and never closes it: whoever opened it owns it (the
one-process run shares a MemoryStore with the in-process media node).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from cluster.errors import (
    ControlError,
    NodeNotFound,
    NodeUnreachable,
    NoNodeAvailable,
    NotRoomOwner,
    ParticipantNotFound,
    RoomNotFound,
    StoreUnavailable,
    TrackNotFound,
)
from cluster.store.base import Store
from control_api.api import demo, health, nodes, rooms
from control_api.auth import ApiKeyGate
from control_api.deps import AppState
from control_api.metrics import ControlMetrics, RequestCounter
from control_api.settings import ControlSettings
from serving.limits import BodyLimit

logger = logging.getLogger(__name__)

# The one place where control-plane errors become HTTP statuses.
_ERROR_STATUS: dict[type[ControlError], int] = {
    RoomNotFound: 404,
    NodeNotFound: 404,
    ParticipantNotFound: 404,
    TrackNotFound: 404,
    NoNodeAvailable: 503,
    NodeUnreachable: 503,
    NotRoomOwner: 409,  # raised to nodes only; mapped so that no store error is ever a 500
    StoreUnavailable: 503,
}
# Both 503s are transient: nodes heartbeat every ~2 s and Redis reconnects.
_RETRY_AFTER_S = "2"


class ErrorOut(BaseModel):
    """The body of every error but 422 (FastAPI's `HTTPValidationError`)."""

    detail: str


# Documented by `_document_errors` on the operations that can answer them.
_ERROR_RESPONSES: dict[int, tuple[str, str | None]] = {  # status: (description, header)
    401: ("No API key, or a wrong one", "WWW-Authenticate"),
    404: ("Nothing by a name given in the path", None),
    413: ("The body is larger than SFU_HTTP_MAX_BODY_BYTES; it was not read", None),
    503: (
        "No media node can take it, or the store is unreachable; try again after "
        "Retry-After seconds",
        "Retry-After",
    ),
}


def create_app(
    settings: ControlSettings,
    store: Store,
    *,
    static_dir: Path | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app. `mounts` adds other ASGI apps by path prefix (the one-process run puts
    the media node's signaling there); `static_dir` is served at / after everything else."""
    metrics = ControlMetrics()
    app = FastAPI(
        title="seed-sfu control API",
        version="1",
        description="Rooms, media nodes and join tokens. /v1 routes need HTTP Basic auth "
        "with an API key id and secret.",
    )
    app.state.control = AppState(settings=settings, store=store, clock=clock, metrics=metrics)
    app.add_exception_handler(ControlError, _control_error)
    app.add_exception_handler(HTTPException, _http_error)
    openapi = app.openapi
    app.openapi = lambda: _document_errors(openapi())  # type: ignore[method-assign]
    # Outermost first: count every request, then refuse a /v1 one without a key, then a body
    # over the limit, all before FastAPI reads the body.
    max_body = settings.http_max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_body, setting="SFU_HTTP_MAX_BODY_BYTES")
    app.add_middleware(ApiKeyGate, api_keys=settings.api_keys)
    app.add_middleware(RequestCounter, metrics=metrics)
    app.include_router(health.router)
    app.include_router(rooms.router)
    app.include_router(nodes.router)
    if settings.demo:
        logger.warning(
            "SFU_DEMO is on: POST /demo/token gives anyone who reaches this server a join token "
            "(%d s) for any room",
            settings.demo_token_ttl_s,
        )
        app.include_router(demo.router)
    for prefix, mounted in (mounts or {}).items():
        app.mount(prefix, mounted)
    if static_dir is not None:
        # Last: the catch-all mount must not shadow any API route.
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")
    return app


async def _control_error(request: Request, exc: Exception) -> JSONResponse:
    """Registered for `ControlError`: map it to its status with the reason as `detail`."""
    status = next((_ERROR_STATUS[kind] for kind in type(exc).__mro__ if kind in _ERROR_STATUS), 400)
    if isinstance(exc, NoNodeAvailable):
        request.app.state.control.metrics.no_node.inc()
    headers = {"Retry-After": _RETRY_AFTER_S} if status == 503 else None
    reason = exc.reason if isinstance(exc, ControlError) else str(exc)
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI answers 400 to a JSON body that is not UTF-8: make it the 422 `json_invalid` that
    any other body that is not JSON gets, so every malformed body is a documented 422."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.__cause__.start),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": f"not {exc.__cause__.encoding}"},
        }
        return await request_validation_exception_handler(request, RequestValidationError([error]))
    return await http_exception_handler(request, exc)


def _document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Add to the OpenAPI document the errors each operation can answer with: 401 where an API
    key is required, 404 where the path names something, 413 where it takes a body, 503
    wherever the store is read (all but the health routes). What an operation documents
    itself is kept. Idempotent."""
    spec.setdefault("components", {}).setdefault("schemas", {})["ErrorOut"] = (
        ErrorOut.model_json_schema()
    )
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            statuses = []
            if "security" in operation:
                statuses.append(401)
            if "{" in path:
                statuses.append(404)
            if "requestBody" in operation:
                statuses.append(413)
            if "health" not in operation.get("tags", ()):
                statuses.append(503)
            for status in statuses:
                operation["responses"].setdefault(str(status), _error_response(status))
    return spec


def _error_response(status: int) -> dict[str, Any]:
    description, header = _ERROR_RESPONSES[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    if header is not None:
        response["headers"] = {header: {"required": True, "schema": {"type": "string"}}}
    return response
