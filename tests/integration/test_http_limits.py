"""Every server we run bounds what one client can make it hold (issue #12, item 4).

Real processes (`python -m control_api`, `python -m sfu`, both through `serve_until_stopped`)
on loopback ports, spoken to over raw sockets so that nothing on the client side finishes or
reads what a real attacker would not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from load_tests.process import stop
from tests.support.ports import free_port, free_udp_port
from tests.support.process import start, wait_healthy

KEY_ID, SECRET = "limits", "s" * 40
AUTH_HEADER = f"Authorization: Basic {base64.b64encode(f'{KEY_ID}:{SECRET}'.encode()).decode()}\r\n"
TIMEOUT_S = 1.0  # SFU_HTTP_HEADER_TIMEOUT_S and SFU_HTTP_BODY_TIMEOUT_S of these servers
MAX_BODY = 64 * 1024  # the control API's default SFU_HTTP_MAX_BODY_BYTES
HUGE = 60 * 1024 * 1024
MIB = 1024 * 1024
CHUNK = 64 * 1024


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]

    def rss(self) -> int:
        """The process's resident memory, bytes (VmRSS of /proc/<pid>/status)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) * 1024


@contextlib.asynccontextmanager
async def serving(kind: str, tmp_path: Path, env: Mapping[str, str] = {}) -> AsyncIterator[Server]:
    """`python -m control_api` or `python -m sfu` on a free loopback port with short timeouts."""
    port = free_port()
    full_env = {
        **os.environ,
        "SFU_API_KEYS": f"{KEY_ID}:{SECRET}",
        "SFU_HTTP_HEADER_TIMEOUT_S": str(TIMEOUT_S),
        "SFU_HTTP_BODY_TIMEOUT_S": str(TIMEOUT_S),
        **env,
    }
    if kind == "control_api":
        args = ["-m", "control_api", "--host", "127.0.0.1", "--port", str(port)]
    else:
        args = ["-m", "sfu"]
        full_env |= {
            "SFU_NODE_HOST": "127.0.0.1",
            "SFU_NODE_PORT": str(port),
            "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
            "SFU_UDP_PORT": str(free_udp_port()),
            "SFU_UDP_BIND": "127.0.0.1",
            "SFU_TCP_PORT": str(free_port()),
        }
    log = tmp_path / f"{kind}.log"
    process = start(args, full_env, log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)
        yield Server(port, process)
    finally:
        stop(process)


@dataclass
class Answer:
    status: int | None  # None: closed without a response
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of the request the client managed to send
    after_s: float  # from the last byte sent until the server closed the connection

    def detail(self) -> str:
        detail: str = json.loads(self.body)["detail"]
        return detail


async def connect(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def exchange(port: int, head: str, body: Iterable[bytes] = ()) -> Answer:
    return await converse(await connect(port), head, body)


async def converse(sock: socket.socket, head: str, body: Iterable[bytes] = ()) -> Answer:
    """Send `head`, then `body` chunks while the server takes them, and read what the server
    answers until it closes: with plain sockets, so that a reset after the response (the
    server closing with the body unread) still leaves the response readable."""
    loop = asyncio.get_running_loop()
    with sock:
        sent = 0
        last_sent = time.monotonic()

        async def send_all() -> None:
            nonlocal sent, last_sent
            with contextlib.suppress(ConnectionError):
                for chunk in (head.encode(), *body):
                    await loop.sock_sendall(sock, chunk)
                    sent += len(chunk)
                    last_sent = time.monotonic()

        sender = asyncio.create_task(send_all())
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while data := await asyncio.wait_for(loop.sock_recv(sock, 65536), 20):
                received += data
        closed = time.monotonic()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return _parse(received, sent, closed - last_sent)


def _parse(received: bytes, sent: int, after_s: float) -> Answer:
    if not received:
        return Answer(None, {}, b"", sent, after_s)
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split()[1]), headers, body, sent, after_s)


def post_rooms(*, auth: bool, length: int | None) -> str:
    """The head of `POST /v1/rooms`, with a Content-Length or chunked when `length` is None."""
    framing = (
        f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    )
    authorization = AUTH_HEADER if auth else ""
    return (
        f"POST /v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}"
        f"Content-Type: application/json\r\nConnection: close\r\n{framing}\r\n"
    )


def raw_body(total: int) -> Iterator[bytes]:
    chunk = b"x" * CHUNK
    for offset in range(0, total, CHUNK):
        yield chunk[: min(CHUNK, total - offset)]


def chunked_body(total: int) -> Iterator[bytes]:
    for chunk in raw_body(total):
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


@pytest.fixture
async def control_api(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving("control_api", tmp_path) as server:
        yield server


async def test_60_mb_bodies_are_refused_before_they_are_read(control_api: Server) -> None:
    port = control_api.port
    # Warm up every path measured below, so that only what the bodies cost shows.
    for auth in (False, True):
        await exchange(port, post_rooms(auth=auth, length=MAX_BODY + 1), raw_body(MAX_BODY + 1))
    before = control_api.rss()
    unauthenticated = [
        exchange(port, post_rooms(auth=False, length=HUGE), raw_body(HUGE)) for _ in range(6)
    ]
    answers = await asyncio.gather(
        *unauthenticated,
        exchange(port, post_rooms(auth=True, length=HUGE), raw_body(HUGE)),
        exchange(port, post_rooms(auth=False, length=None), chunked_body(HUGE)),
        exchange(port, post_rooms(auth=True, length=None), chunked_body(HUGE)),
    )
    growth = control_api.rss() - before
    sent = [round(a.sent / MIB, 1) for a in answers]
    print(f"RSS {before / MIB:.1f} MiB + {growth / MIB:.2f} MiB; MiB sent before refusal: {sent}")

    assert [a.status for a in answers] == [401] * 6 + [413, 401, 413]
    assert answers[0].detail().startswith("API key required")
    limit = "request body is larger than 65536 bytes (SFU_HTTP_MAX_BODY_BYTES)"
    assert answers[6].detail() == answers[8].detail() == limit
    assert all(a.headers["connection"] == "close" for a in answers)
    assert all(a.sent < HUGE for a in answers), "the server read a whole body"
    assert growth < 10 * MIB


async def test_an_authenticated_oversize_body_gets_413_and_a_fitting_one_works(
    control_api: Server,
) -> None:
    port = control_api.port
    big = await exchange(port, post_rooms(auth=True, length=MAX_BODY + 1), raw_body(MAX_BODY + 1))
    assert big.status == 413
    assert "SFU_HTTP_MAX_BODY_BYTES" in big.detail()

    room = json.dumps({"name": "fits", "metadata": "m" * 1000}).encode()
    fits = await exchange(port, post_rooms(auth=True, length=len(room)), [room])
    assert fits.status in (200, 201), fits.body
    assert json.loads(fits.body)["name"] == "fits"


async def test_normal_requests_keep_working_on_kept_alive_connections(control_api: Server) -> None:
    base = f"http://127.0.0.1:{control_api.port}"
    async with httpx.AsyncClient(base_url=base, auth=(KEY_ID, SECRET)) as http:
        for name in ("a", "b", "c"):
            created = await http.post("/v1/rooms", json={"name": name})
            assert created.status_code in (200, 201), created.text
        listed = await http.get("/v1/rooms")
        assert [room["name"] for room in listed.json()["rooms"]] == ["a", "b", "c"]
        unauthenticated = await http.get("/v1/rooms", auth=None)
        assert unauthenticated.status_code == 401
        assert (await http.get("/healthz")).status_code == 200


async def _half_open(port: int, partial: str, count: int) -> list[Answer]:
    """`count` connections that each send `partial` and nothing more, until the server closes
    them all."""
    return await asyncio.gather(*(exchange(port, partial) for _ in range(count)))


HALF_OPEN = {
    "control_api": "POST /v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
    "sfu": "GET /v1/signal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Up",
}


@pytest.mark.parametrize("kind", list(HALF_OPEN))
async def test_half_open_requests_are_closed_after_the_header_timeout(
    kind: str, tmp_path: Path
) -> None:
    async with serving(kind, tmp_path) as server:
        started = time.monotonic()
        answers = await _half_open(server.port, HALF_OPEN[kind], 50)
        elapsed = time.monotonic() - started
        waits = sorted(a.after_s for a in answers)
        print(f"{kind}: 50 half-open closed after {waits[0]:.2f}..{waits[-1]:.2f} s, ", end="")
        print(f"all within {elapsed:.2f} s")
        assert {a.status for a in answers} == {408}
        assert "(SFU_HTTP_HEADER_TIMEOUT_S)" in answers[0].detail()
        assert waits[0] >= TIMEOUT_S / 2 and waits[-1] < TIMEOUT_S + 2
        # and the server still serves
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200


async def test_a_partial_request_after_a_kept_alive_one_is_closed_too(control_api: Server) -> None:
    first_and_part = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /heal"
    answer = await exchange(control_api.port, first_and_part)
    assert answer.status == 200
    assert b"HTTP/1.1 408 Request Timeout\r\n" in answer.body  # after the first response
    assert TIMEOUT_S / 2 <= answer.after_s < TIMEOUT_S + 2


async def test_a_trickled_body_is_closed_after_the_body_timeout(control_api: Server) -> None:
    answer = await exchange(control_api.port, post_rooms(auth=True, length=100), [b'{"name": "slo'])
    assert answer.status == 408
    assert answer.detail() == "request body not received within 1 s (SFU_HTTP_BODY_TIMEOUT_S)"
    assert TIMEOUT_S / 2 <= answer.after_s < TIMEOUT_S + 2


async def test_headers_over_the_limit_get_431(control_api: Server) -> None:
    endless = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {'a' * 20_000}"
    answer = await exchange(control_api.port, endless)
    assert answer.status == 431
    assert "(SFU_HTTP_MAX_HEADER_BYTES)" in answer.detail()
    assert answer.after_s < TIMEOUT_S  # refused at once, not by the header timeout


@pytest.mark.parametrize("kind", list(HALF_OPEN))
async def test_over_the_connection_limit_requests_and_handshakes_get_503(
    kind: str, tmp_path: Path
) -> None:
    async with serving(kind, tmp_path, {"SFU_HTTP_MAX_CONNECTIONS": "4"}) as server:
        url = f"127.0.0.1:{server.port}"
        sockets = [await connect(server.port) for _ in range(4)]
        holders = asyncio.gather(*(converse(sock, "GET /he") for sock in sockets))
        async with httpx.AsyncClient() as http:
            refused = await http.get(f"http://{url}/healthz")
            assert refused.status_code == 503
            if kind == "sfu":
                with pytest.raises(websockets.InvalidStatus) as handshake:
                    await websockets.connect(f"ws://{url}/v1/signal")
                response = handshake.value.response
                assert response.status_code == 503
                assert "(SFU_HTTP_MAX_CONNECTIONS)" in json.loads(response.body)["detail"]
            await holders  # closed by the header timeout: room again
            assert (await http.get(f"http://{url}/healthz")).status_code == 200


async def test_a_websocket_handshake_still_opens(tmp_path: Path) -> None:
    async with (
        serving("sfu", tmp_path) as server,
        websockets.connect(f"ws://127.0.0.1:{server.port}/v1/signal") as ws,
    ):
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
