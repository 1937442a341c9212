"""Driving our SFU through its public interfaces: join tokens from the REST API, then the
signaling WebSocket (docs/signaling.md). Optionally starts a local single-process deployment
(``python -m standalone``) so its CPU and memory can be read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import websockets

from load_tests.clip import Clip
from load_tests.participant import Participant
from load_tests.process import start, stop, wait_answering
from load_tests.receiving import ReceivePath
from load_tests.scenario import Scenario
from load_tests.server import ProcSample, read_proc, scrape

QUALITY = {"q": "low", "h": "medium", "f": "high"}
STEP_TIMEOUT_S = 15.0


class OurParticipant(Participant):
    def __init__(
        self,
        target: OurSfu,
        room: str,
        identity: str,
        scenario: Scenario,
        clip: Clip,
        path: ReceivePath,
        *,
        publish: bool,
    ) -> None:
        super().__init__(identity, scenario, clip, path, publish=publish)
        self.target, self.room = target, room
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._asked: set[str] = set()
        # the node's last word on our downlink: its estimate and whether from transport-cc
        self.downlink: dict[str, Any] | None = None

    async def join(self) -> None:
        ticket = await self.target.token(self.room, self.identity, publish=self.publishes)
        self._ws = await websockets.connect(
            self.target.signal_url(ticket["node_url"]), max_size=2**22
        )
        self._reader = asyncio.create_task(self._read())
        joined = self._expect("joined")
        await self._send(
            {"type": "join", "protocol": 1, "room": self.room, "token": ticket["token"]}
        )
        async with asyncio.timeout(STEP_TIMEOUT_S):
            await joined
        if self.publishes:
            await self.publish_via(self._exchange)

    async def _exchange(self, offer: str) -> str:
        answered = self._expect("publish_answer")
        await self._send({"type": "publish_offer", "sdp": offer})
        async with asyncio.timeout(STEP_TIMEOUT_S):
            return str((await answered)["sdp"])

    def _expect(self, kind: str) -> asyncio.Future[dict[str, Any]]:
        future = self._waiting[kind] = asyncio.get_running_loop().create_future()
        return future

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self._ws:
                message = json.loads(text)
                future = self._waiting.pop(message["type"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                if message["type"] == "subscribe_offer":
                    await self._subscribe(message)
                elif message["type"] == "downlink":
                    self.downlink = message
                elif message["type"] == "publisher_layers":
                    self._pause_layers(message["active"])

    def _pause_layers(self, active: list[str]) -> None:
        """Dynacast, as the bundled web client answers it (unless the target runs without)."""
        if self.source is not None and self.target.dynacast:
            self.source.set_active(active)

    async def _subscribe(self, message: dict[str, Any]) -> None:
        answer = await self.answer_subscription(message["sdp"])
        await self._send({"type": "subscribe_answer", "sdp": answer})
        quality = QUALITY[self.scenario.layer]
        for info in message["tracks"].values():
            if info["kind"] == "video" and info["track_id"] not in self._asked:
                self._asked.add(info["track_id"])
                await self._send(
                    {"type": "video_quality", "track_id": info["track_id"], "quality": quality}
                )

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._send({"type": "leave"})
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        await super().close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OurSfu:
    """A deployment at ``api_url`` with an API key; ``pid``: its node process, when local."""

    name = "ours"
    ice_host = "127.0.0.1"

    def __init__(
        self,
        api_url: str,
        key_id: str,
        secret: str,
        *,
        pid: int | None = None,
        metrics_url: str | None = None,
        name: str = "ours",
        dynacast: bool = True,
    ) -> None:
        self.name = name
        self.dynacast = dynacast  # publishers pause the layers the node says nobody receives
        self.api_url, self.pid, self.metrics_url = api_url, pid, metrics_url
        self._key = (key_id, secret)
        self.api = httpx.AsyncClient(base_url=api_url, auth=(key_id, secret), timeout=10)

    def remote(self) -> dict[str, Any]:
        """What a worker process needs to drive this deployment (``load_tests.worker``)."""
        key_id, secret = self._key
        return {
            "kind": "ours",
            "api_url": self.api_url,
            "key_id": key_id,
            "secret": secret,
            "metrics_url": self.metrics_url,
            "dynacast": self.dynacast,
        }

    def adopt(self, remote: dict[str, Any]) -> None:
        """Take what a worker learned while joining (the node's /metrics URL)."""
        self.metrics_url = self.metrics_url or remote.get("metrics_url")

    def signal_url(self, node_url: str) -> str:
        url = urljoin(self.api_url.replace("http", "ws", 1) + "/", node_url)
        if self.metrics_url is None:
            self.metrics_url = url.replace("ws", "http", 1).removesuffix("/v1/signal") + "/metrics"
        return url

    async def prepare(self, scenario: Scenario, rooms: list[str]) -> None:
        size = scenario.publishers + scenario.viewers
        for room in rooms:
            response = await self.api.post(
                "/v1/rooms", json={"name": room, "max_participants": size}
            )
            response.raise_for_status()

    async def token(self, room: str, identity: str, *, publish: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"identity": identity}
        response = await self.api.post(f"/v1/rooms/{room}/tokens", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def participant(
        self,
        room: str,
        identity: str,
        scenario: Scenario,
        clip: Clip,
        path: ReceivePath,
        *,
        publish: bool,
    ) -> OurParticipant:
        return OurParticipant(self, room, identity, scenario, clip, path, publish=publish)

    async def end_rooms(self, rooms: list[str]) -> None:
        for room in rooms:
            with contextlib.suppress(httpx.HTTPError):
                await self.api.delete(f"/v1/rooms/{room}")

    def proc(self) -> ProcSample | None:
        with contextlib.suppress(OSError):  # gone, e.g. after a Ctrl-C reached it first
            return read_proc(self.pid) if self.pid else None
        return None

    async def counters(self) -> dict[str, float]:
        if self.metrics_url is None:
            return {}
        with contextlib.suppress(httpx.HTTPError):
            metrics = await scrape(self.api, self.metrics_url)
            return {
                "packets_out": metrics.get("sfu_packets_out_total", 0.0),
                "packets_in": metrics.get("sfu_packets_in_total", 0.0),
            }
        return {}

    async def close(self) -> None:
        await self.api.aclose()


@contextlib.asynccontextmanager
async def local_sfu(
    workdir: Path,
    *,
    name: str = "ours",
    env: dict[str, str] | None = None,
    dynacast: bool = True,
    cpus: Collection[int] | None = None,
) -> Any:
    """``python -m standalone`` on a free loopback port: the control API and one
    media node in one process, with a fresh API key; ``env`` adds settings (``SFU_...``);
    ``dynacast``: whether our publishers pause the layers nobody receives; ``cpus``: where the
    process runs (``load_tests.cores``). Always stopped on exit."""
    port, secret = _free_port(), secrets.token_hex(20)
    env = {
        **os.environ,
        "SFU_API_KEYS": f"load:{secret}",
        "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
        "SFU_LOG_LEVEL": "WARNING",
        # admission control is not under test: a ramp's next room must not be refused while
        # the node still reports the last step's participants
        "SFU_NODE_CAPACITY": "100000",
        **(env or {}),
    }
    command = [sys.executable, "-m", "standalone", "--host", "127.0.0.1", "--port", str(port)]
    log = workdir / "sfu.log"
    proc = start(command, log, env=env, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    sfu = OurSfu(url, "load", secret, pid=proc.pid, name=name, dynacast=dynacast)
    try:
        await wait_answering(f"{url}/healthz", proc, log, timeout_s=30)
        yield sfu
    finally:
        await sfu.close()
        stop(proc)
