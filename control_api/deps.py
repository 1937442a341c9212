"""FastAPI dependencies: the per-app state and API-key authentication.

Authentication is HTTP Basic (RFC 7617) with the API key id as user name and its secret as
password: `Authorization: Basic base64("<key id>:<secret>")`, e.g. `curl -u id:secret`.
The key that authenticates a request is also the key that signs the join tokens it asks for.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from control_api.metrics import ControlMetrics
from control_api.settings import ControlSettings
from control_api.store.base import Store


@dataclass(frozen=True, slots=True)
class AppState:
    settings: ControlSettings
    store: Store
    clock: Callable[[], float]
    metrics: ControlMetrics


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    secret: str


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.control
    return state


State = Annotated[AppState, Depends(get_state)]

_basic = HTTPBasic(
    auto_error=False,
    realm="seed-sfu",
    description="API key id as user name, API key secret as password.",
)
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="seed-sfu"'}
# Compared against when the key id is unknown, so timing does not reveal which ids exist.
_NO_SECRET = b"\x00" * 32


def require_api_key(
    state: State, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> ApiKey:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="API key required: HTTP Basic auth with key id and secret",
            headers=_CHALLENGE,
        )
    secret = state.settings.api_keys.get(credentials.username)
    expected = secret.encode() if secret is not None else _NO_SECRET
    if not hmac.compare_digest(expected, credentials.password.encode()) or secret is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers=_CHALLENGE
        )
    return ApiKey(id=credentials.username, secret=secret)


Authenticated = Annotated[ApiKey, Depends(require_api_key)]
