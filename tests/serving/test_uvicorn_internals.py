"""Every uvicorn internal that serving/bounded_http.py relies on, against the installed uvicorn.

The header and body timeouts, the header size limit and the WebSocket connection limit live in
a subclass of uvicorn's httptools protocol. If an upgrade renames or reorders what it
overrides or reads, this fails loudly here instead of silently leaving a server unbounded.
tests/integration/test_http_limits.py checks the behaviour on real servers.
"""

from __future__ import annotations

import inspect

import uvicorn
import uvicorn.server
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from serving.bounded_http import BoundedHttpProtocol, bounded_protocol
from serving.limits import HttpLimits


def _source(obj: object) -> str:
    return inspect.getsource(obj)  # type: ignore[arg-type]


def test_config_takes_our_protocol_class_and_the_server_builds_it_with_fixed_arguments() -> None:
    protocol = bounded_protocol(HttpLimits())
    config = uvicorn.Config(lambda: None, http=protocol, limit_concurrency=3, timeout_keep_alive=2)
    assert (config.http, config.limit_concurrency, config.timeout_keep_alive) == (protocol, 3, 2)
    assert "self.http_protocol_class = self.http" in _source(uvicorn.Config.load)
    startup = _source(uvicorn.server.Server.startup)
    assert "config.http_protocol_class(" in startup
    for argument in ("config=config", "server_state=self.server_state", "app_state=", "_loop="):
        assert argument in startup, argument


def test_the_overridden_methods_keep_their_parameters() -> None:
    expected = {
        "__init__": ["self", "config", "server_state", "app_state", "_loop"],
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "data_received": ["self", "data"],
        "on_message_begin": ["self"],
        "on_headers_complete": ["self"],
        "on_message_complete": ["self"],
        "handle_websocket_upgrade": ["self"],
    }
    for name, parameters in expected.items():
        assert list(inspect.signature(getattr(HttpToolsProtocol, name)).parameters) == parameters
        assert name in BoundedHttpProtocol.__dict__, name


def test_the_parser_drives_the_callbacks_we_time_by() -> None:
    init = _source(HttpToolsProtocol.__init__)
    assert "httptools.HttpRequestParser(self)" in init  # the protocol is the callback object
    for name in ("self.loop =", "self.connections =", "self.tasks =", "self.cycle:"):
        assert name in init, name
    assert "self.transport = transport" in _source(HttpToolsProtocol.connection_made)
    data_received = _source(HttpToolsProtocol.data_received)
    assert "self.parser.feed_data(data)" in data_received
    assert "self.handle_websocket_upgrade()" in data_received


def test_a_websocket_handshake_is_parsed_whole_before_the_handover() -> None:
    """So the header timeout bounds it, and the handover is where the limit applies."""
    upgrade = _source(HttpToolsProtocol.handle_websocket_upgrade)
    assert "self.transport.set_protocol(protocol)" in upgrade
    assert 'protocol.data_received(b"".join(output))' in upgrade
    # uvicorn applies its concurrency limit to plain requests only: we mirror its test.
    headers_complete = _source(HttpToolsProtocol.on_headers_complete)
    assert (
        "len(self.connections) >= self.limit_concurrency "
        "or len(self.tasks) >= self.limit_concurrency"
    ) in headers_complete
    assert headers_complete.index("should_upgrade") < headers_complete.index("limit_concurrency")


def test_the_request_cycle_fields_we_read_and_set() -> None:
    cycle = _source(RequestResponseCycle.__init__)
    for field in ("disconnected", "keep_alive", "response_started", "response_complete"):
        assert f"self.{field} =" in cycle, field
    send = _source(RequestResponseCycle.send)
    assert "if self.disconnected:\n            return" in send
    assert "if not self.keep_alive:\n                    self.transport.close()" in send


def test_uvicorn_itself_still_has_no_header_timeout() -> None:
    """If it gains one, ours may be redundant: look at serving/bounded_http.py again."""
    timeouts = {
        name for name in inspect.signature(uvicorn.Config).parameters if name.startswith("timeout_")
    }
    assert timeouts == {
        "timeout_keep_alive",
        "timeout_notify",
        "timeout_graceful_shutdown",
        "timeout_worker_healthcheck",
    }


def test_the_housekeeping_loop_we_replace_is_the_one_serve_awaits() -> None:
    """serving.server._Server replaces main_loop (a tick a second, woken by should_exit)."""
    assert "await self.main_loop()" in _source(uvicorn.server.Server._serve)
    on_tick = _source(uvicorn.server.Server.on_tick)
    assert "if counter % 10 == 0:" in on_tick and "if self.should_exit:" in on_tick
    assert "self.should_exit = True" in _source(uvicorn.server.Server.handle_exit)
    assert "self.should_exit = False" in _source(uvicorn.server.Server.__init__)
