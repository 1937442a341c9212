"""The control-plane FastAPI app: routes, auth, error mapping, metrics and the static page.

Auth for every /v1 route: HTTP Basic, API key id as user name and secret as password
(`Authorization: Basic base64("<key id>:<secret>")`; see `control_api.deps`).

`create_app` takes an opened store and never closes it: whoever opened it owns it (the
one-process run shares a MemoryStore with the in-process media node).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from control_api.api import demo, health, nodes, rooms
from control_api.deps import AppState
from control_api.errors import (
    ControlError,
    NodeNotFound,
    NoNodeAvailable,
    RoomNotFound,
    StoreUnavailable,
)
from control_api.metrics import ControlMetrics, RequestCounter
from control_api.settings import ControlSettings
from control_api.store.base import Store

# The one place where control-plane errors become HTTP statuses.
_ERROR_STATUS: dict[type[ControlError], int] = {
    RoomNotFound: 404,
    NodeNotFound: 404,
    NoNodeAvailable: 503,
    StoreUnavailable: 503,
}
# Both 503s are transient: nodes heartbeat every ~2 s and Redis reconnects.
_RETRY_AFTER_S = "2"


STATIC_DIR = Path(__file__).parent / "static"  # the bundled web client

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
    app.add_middleware(RequestCounter, metrics=metrics)
    app.include_router(health.router)
    app.include_router(rooms.router)
    app.include_router(nodes.router)
    if settings.demo:
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
