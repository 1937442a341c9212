"""FastAPI dependencies: the per-app state and the request's API key (`control_api.auth`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasicCredentials

from cluster.store.base import Store
from control_api.auth import ApiKey, authenticate, basic
from control_api.metrics import ControlMetrics
from control_api.settings import ControlSettings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: ControlSettings
    store: Store
    clock: Callable[[], float]
    metrics: ControlMetrics


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.control
    return state


State = Annotated[AppState, Depends(get_state)]


async def require_api_key(
    request: Request,
    state: State,
    _: Annotated[HTTPBasicCredentials | None, Depends(basic)],  # documents the scheme
) -> ApiKey:
    """The key `ApiKeyGate` accepted before the body was read (checked here if it did not)."""
    return await authenticate(request, state.settings.api_keys)


Authenticated = Annotated[ApiKey, Depends(require_api_key)]
