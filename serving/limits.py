"""Bounds on what one HTTP client may make a server of ours hold: settings and the body limit.

Settings (prefix ``SFU_``), read once by each process that serves HTTP:

SFU_HTTP_HEADER_TIMEOUT_S   a request's line and headers must arrive within this (10 s)
SFU_HTTP_BODY_TIMEOUT_S     and its body within this after the headers (10 s)
SFU_HTTP_KEEP_ALIVE_S       an idle keep-alive connection is closed after this (5 s)
SFU_HTTP_MAX_CONNECTIONS    connections (WebSockets too) above which requests get 503 (1000)
SFU_HTTP_MAX_HEADER_BYTES   request line and headers above this get 431 (16 KiB)

The timeouts, header size and WebSocket handshakes are enforced by the server's protocol
(`serving.bounded_http`); bodies by `BodyLimit`, an ASGI middleware, per app.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The rest of a refused body is never read: the connection cannot carry another request.
CLOSE = {"Connection": "close"}


class HttpLimits(BaseSettings):
    """Per-connection bounds of every HTTP/WebSocket server we run (`serving.server`)."""

    model_config = SettingsConfigDict(env_prefix="SFU_", frozen=True)

    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=10.0, gt=0)
    http_keep_alive_s: int = Field(default=5, gt=0)
    http_max_connections: int = Field(default=1000, gt=0)
    http_max_header_bytes: int = Field(default=16 * 1024, gt=0)


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or a transfer coding)."""
    headers = Headers(scope=scope)
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


class BodyTooLarge(HTTPException):
    """Raised by `BodyLimit`'s receive; an HTTPException so the app's own handler answers it
    (FastAPI re-raises HTTPExceptions met while reading a body instead of answering 400)."""

    def __init__(self, limit: int, setting: str | None) -> None:
        named = f" ({setting})" if setting else ""
        super().__init__(413, f"request body is larger than {limit} bytes{named}", CLOSE)


class BodyLimit:
    """ASGI middleware: a request body above `max_bytes` gets 413 and is never read.

    A Content-Length above the limit is refused before the app runs; a body without one is
    counted as the app receives it and refused once it passes the limit. Starlette's own
    `RequestBodyLimitMiddleware` checks the length only when the app reads, keeps the
    connection open for the rest of the body, and names no limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, setting: str | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge(self.max_bytes, self.setting)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes, self.setting)
        response = JSONResponse({"detail": error.detail}, error.status_code, error.headers)
        await response(scope, receive, send)
