"""API-key authentication of the REST API, decided in one place: `authenticate`.

HTTP Basic (RFC 7617) with the API key id as user name and its secret as password:
`Authorization: Basic base64("<key id>:<secret>")`, e.g. `curl -u id:secret`. The key that
authenticates a request is also the key that signs the join tokens it asks for.

`ApiKeyGate` runs it for every /v1 request before the app: FastAPI reads and parses a body
before it solves dependencies, so a dependency alone would let anyone make the server read
whatever they send. The `require_api_key` dependency then only reads the gate's result.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException, status
from fastapi.security import HTTPBasic
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.limits import CLOSE, has_body

basic = HTTPBasic(
    auto_error=False,
    realm="seed-sfu",
    description="API key id as user name, API key secret as password.",
)
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="seed-sfu"'}
# Compared against when the key id is unknown, so timing does not reveal which ids exist.
_NO_SECRET = b"\x00" * 32
_SCOPE_KEY = "seed_sfu.api_key"
PREFIX = "/v1/"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    secret: str


async def authenticate(connection: HTTPConnection, api_keys: Mapping[str, str]) -> ApiKey:
    """The request's API key, remembered in its scope; HTTPException 401 if it has none."""
    known = connection.scope.get(_SCOPE_KEY)
    if isinstance(known, ApiKey):
        return known
    credentials = await basic(connection)  # 401 "Not authenticated" if malformed
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="API key required: HTTP Basic auth with key id and secret",
            headers=_CHALLENGE,
        )
    secret = api_keys.get(credentials.username)
    expected = secret.encode() if secret is not None else _NO_SECRET
    if not hmac.compare_digest(expected, credentials.password.encode()) or secret is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers=_CHALLENGE
        )
    key = ApiKey(id=credentials.username, secret=secret)
    connection.scope[_SCOPE_KEY] = key
    return key


class ApiKeyGate:
    """ASGI middleware: a /v1 request without a valid API key gets 401 before the app runs,
    its body unread (and the connection closed, so the rest of it is never read either)."""

    def __init__(self, app: ASGIApp, *, api_keys: Mapping[str, str]) -> None:
        self.app = app
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and f"{scope['path']}/".startswith(PREFIX):
            try:
                await authenticate(HTTPConnection(scope), self.api_keys)
            except HTTPException as exc:
                headers = {**(exc.headers or {}), **(CLOSE if has_body(scope) else {})}
                response = JSONResponse({"detail": exc.detail}, exc.status_code, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
