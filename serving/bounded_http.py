"""uvicorn's httptools protocol with the bounds uvicorn lacks: header and body timeouts, a
header size limit, and the concurrency limit on WebSocket handshakes too.

uvicorn times out idle keep-alive connections only: a client that never finishes its request
line and headers, or trickles its body, holds the connection forever, and llhttp grows one
header line without bound. uvicorn parses a WebSocket handshake with this protocol before
handing the connection over, so the header timeout bounds handshakes as well. Each refusal is
a JSON `detail` naming the setting, then the connection is closed.

This is the only module that relies on uvicorn's protocol internals (its parser callbacks,
`cycle`, `connections`, `tasks`); tests/serving/test_uvicorn_internals.py pins them.
"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from serving.limits import HttpLimits


def bounded_protocol(limits: HttpLimits) -> type[BoundedHttpProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` (uvicorn builds it with fixed
    arguments, so the limits travel as a class attribute)."""
    return type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"limits": limits})


class BoundedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._headers_pending = True
        self._header_bytes = 0  # received while the current request's headers are incomplete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.http_header_timeout_s, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Counted here, not in the parser callbacks: httptools buffers a header line until it
        # ends. Still pending after parsing means every counted byte was request line/headers.
        if self._headers_pending:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._headers_pending and self._header_bytes > self.limits.http_max_header_bytes:
            limit = self.limits.http_max_header_bytes
            self._refuse(431, f"request line and headers exceed {limit} bytes", "MAX_HEADER_BYTES")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a later request on a kept-alive connection
            self._arm(self.limits.http_header_timeout_s, self._headers_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._headers_pending = False
        self._header_bytes = 0
        super().on_headers_complete()
        # Disarmed by on_message_complete, at once for a request without a body.
        self._arm(self.limits.http_body_timeout_s, self._body_late)

    def on_message_complete(self) -> None:
        self._disarm()
        self._headers_pending = True
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        # uvicorn applies limit_concurrency to HTTP requests only: the same test here.
        limit = self.limits.http_max_connections
        if len(self.connections) >= limit or len(self.tasks) >= limit:
            self._refuse(503, f"over {limit} connections, try again later", "MAX_CONNECTIONS")
            return
        super().handle_websocket_upgrade()

    def _headers_late(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request: finish the current one, close
            return
        timeout = self.limits.http_header_timeout_s
        self._refuse(408, f"request headers not received within {timeout:g} s", "HEADER_TIMEOUT_S")

    def _body_late(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_started:
            self.transport.close()
            return
        self.cycle.disconnected = True  # the app's late response must not follow this one
        timeout = self.limits.http_body_timeout_s
        self._refuse(408, f"request body not received within {timeout:g} s", "BODY_TIMEOUT_S")

    def _refuse(self, status: int, reason: str, setting: str) -> None:
        """Answer `status` with `reason` and the setting that bounds it, then close."""
        if self.transport.is_closing():
            return
        body = json.dumps({"detail": f"{reason} (SFU_HTTP_{setting})"}).encode()
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def _arm(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
