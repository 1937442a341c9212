"""Janus (Debian's ``janus`` 1.1.2) as the reference SFU: started on loopback with only the
VideoRoom plugin and the HTTP transport, then driven through its REST API with the same
synthetic participants.

Janus skips loopback interfaces when it gathers ICE candidates, so inside the tool's private
network namespace it gets an ``ifb`` device ``jlo0`` carrying 127.0.1.1 (created here only when
the namespace has nothing but ``lo``), and the participants gather 127.0.1.1 too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import httpx

from load_tests.clip import Clip
from load_tests.participant import Participant
from load_tests.process import start, stop, wait_answering
from load_tests.receiving import ReceivePath
from load_tests.scenario import LAYERS, Scenario
from load_tests.sdp import keep_candidates
from load_tests.server import ProcSample, read_proc

JANUS_HOST = "127.0.1.1"
DEVICE = "jlo0"
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
STEP_TIMEOUT_S = 15.0
POLL_EVENTS = 20

CONFIG = """general: {{
  configs_folder = "{conf}"
  plugins_folder = "{conf}/plugins"
  transports_folder = "{conf}/transports"
  events_folder = "{conf}/none"
  loggers_folder = "{conf}/none"
  debug_level = 3
  event_loops = {event_loops}
  session_timeout = 60
}}
certificates: {{}}
media: {{
  ipv6 = false
  rtp_port_range = "20000-40000"
}}
nat: {{
  ice_enforce_list = "{device}"
  ignore_mdns = true
  full_trickle = false
  ice_lite = false
}}
plugins: {{}}
transports: {{}}
events: {{ broadcast = false }}
loggers: {{}}
"""
HTTP_CONFIG = """general: {{
  json = "plain"
  base_path = "/janus"
  http = true
  port = {port}
  ip = "127.0.0.1"
  https = false
}}
admin: {{ admin_http = false admin_https = false }}
"""
VIDEOROOM_CONFIG = "general: { string_ids = false }\n"


def write_config(conf: Path, port: int, event_loops: int) -> None:
    """A config folder that loads only VideoRoom and the HTTP transport, on loopback."""
    for sub, lib in (("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_http.so")):
        (conf / sub).mkdir(parents=True, exist_ok=True)
        link = conf / sub / lib
        if not link.exists():
            link.symlink_to(LIB / sub / lib)
    (conf / "none").mkdir(exist_ok=True)
    (conf / "janus.jcfg").write_text(
        CONFIG.format(conf=conf, device=DEVICE, event_loops=event_loops)
    )
    (conf / "janus.transport.http.jcfg").write_text(HTTP_CONFIG.format(port=port))
    (conf / "janus.plugin.videoroom.jcfg").write_text(VIDEOROOM_CONFIG)


def ensure_device() -> None:
    """Give the namespace a non-loopback device with a loopback-range address for Janus."""
    interfaces = {name for _, name in socket.if_nameindex()}
    if DEVICE in interfaces:
        return
    if interfaces != {"lo"}:
        raise RuntimeError(
            "Janus needs a private network namespace: run the tool under "
            "`unshare -n sh -c 'ip link set lo up && exec ...'` (make bench does)"
        )
    for command in (
        ["ip", "link", "add", DEVICE, "type", "ifb"],
        ["ip", "addr", "add", f"{JANUS_HOST}/32", "dev", DEVICE],
        ["ip", "link", "set", DEVICE, "up"],
    ):
        subprocess.run(command, check=True)


class JanusSession:
    """One Janus session over REST: requests, and a long-poll loop routing events by
    transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=STEP_TIMEOUT_S + 40)
        self.session = 0
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.session = (await self._post(self.url, {"janus": "create"}))["data"]["id"]
        self._poller = asyncio.create_task(self._poll())

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or str(next(self._ids))}
        response = await self.http.post(url, json=body)
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        if reply.get("janus") == "error":
            raise RuntimeError(f"Janus: {reply['error']}")
        return reply

    async def _poll(self) -> None:
        while True:
            try:
                response = await self.http.get(
                    f"{self.url}/{self.session}", params={"maxev": POLL_EVENTS}, timeout=40
                )
                events = response.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                future = self._waiting.pop(str(event.get("transaction")), None)
                if future is not None and not future.done() and event.get("janus") != "ack":
                    future.set_result(event)

    async def attach(self) -> int:
        body = {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        return int((await self._post(f"{self.url}/{self.session}", body))["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (e.g. ``create``): its answer comes in the reply."""
        reply = await self._post(
            f"{self.url}/{self.session}/{handle}", {"janus": "message", "body": body}
        )
        data: dict[str, Any] = reply["plugindata"]["data"]
        if "error" in data:
            raise RuntimeError(f"VideoRoom: {data['error']}")
        return data

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An asynchronous plugin request: waits for the event with its transaction."""
        transaction = str(next(self._ids))
        future = self._waiting[transaction] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        await self._post(f"{self.url}/{self.session}/{handle}", message)
        async with asyncio.timeout(STEP_TIMEOUT_S):
            event = await future
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise RuntimeError(f"VideoRoom: {data['error']}")
        result: dict[str, Any] = event
        return result

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        with contextlib.suppress(Exception):
            await self._post(f"{self.url}/{self.session}", {"janus": "destroy"})
        await self.http.aclose()


class JanusParticipant(Participant):
    def __init__(
        self,
        target: JanusSfu,
        room: int,
        identity: str,
        scenario: Scenario,
        clip: Clip,
        path: ReceivePath,
        *,
        publish: bool,
    ) -> None:
        super().__init__(identity, scenario, clip, path, publish=publish)
        self.target, self.room = target, room

    async def join(self) -> None:
        janus = self.target.janus
        if self.publishes:
            handle = await janus.attach()
            joined = await janus.message(
                handle,
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.room,
                    "display": self.identity,
                },
            )
            feed = int(joined["plugindata"]["data"]["id"])

            async def exchange(offer: str) -> str:
                event = await janus.message(
                    handle,
                    {
                        "request": "publish",
                        "audio": self.scenario.audio,
                        "video": self.scenario.video,
                    },
                    # our a=rid lines go low to high; Janus assumes high first unless told
                    {"type": "offer", "sdp": offer, "trickle": False, "rid_order": "lmh"},
                )
                return keep_candidates(event["jsep"]["sdp"])

            await self.publish_via(exchange)
            self.target.feeds.setdefault(self.room, []).append((self.identity, feed))
        else:
            await self.after_publishers()

    async def after_publishers(self) -> None:
        """Janus subscribers name the feeds they want: all publishers are there by now."""
        feeds = [f for who, f in self.target.feeds.get(self.room, []) if who != self.identity]
        if feeds:
            await self._subscribe(feeds)

    async def _subscribe(self, feeds: list[int]) -> None:
        janus = self.target.janus
        handle = await janus.attach()
        # Substreams count up from the lowest layer (rid_order "lmh" above); asked for at join,
        # as a browser client would, rather than by a later configure.
        layer = LAYERS.index(self.scenario.layer)
        attached = await janus.message(
            handle,
            {
                "request": "join",
                "ptype": "subscriber",
                "room": self.room,
                "streams": [{"feed": feed, "substream": layer} for feed in feeds],
            },
        )
        answer = await self.answer_subscription(keep_candidates(attached["jsep"]["sdp"]))
        await janus.message(
            handle, {"request": "start"}, {"type": "answer", "sdp": answer, "trickle": False}
        )


class JanusSfu:
    name = "janus"
    ice_host = JANUS_HOST

    def __init__(self, janus: JanusSession, pid: int | None) -> None:
        self.janus, self.pid = janus, pid
        self.feeds: dict[int, list[tuple[str, int]]] = {}
        self._rooms: dict[str, int] = {}
        self._admin = 0

    async def prepare(self, scenario: Scenario, rooms: list[str]) -> None:
        if not self._admin:
            self._admin = await self.janus.attach()
        for name in rooms:
            number = self._rooms[name] = 1000 + len(self._rooms)
            await self.janus.request(
                self._admin,
                {
                    "request": "create",
                    "room": number,
                    "publishers": scenario.publishers,
                    "bitrate": 0,
                    "videocodec": "vp8",
                    "audiocodec": "opus",
                    "permanent": False,
                },
            )

    def participant(
        self,
        room: str,
        identity: str,
        scenario: Scenario,
        clip: Clip,
        path: ReceivePath,
        *,
        publish: bool,
    ) -> JanusParticipant:
        return JanusParticipant(
            self, self._rooms[room], identity, scenario, clip, path, publish=publish
        )

    async def end_rooms(self, rooms: list[str]) -> None:
        for name in rooms:
            number = self._rooms.pop(name, None)
            self.feeds.pop(number or 0, None)
            if number is not None:
                with contextlib.suppress(Exception):
                    await self.janus.request(self._admin, {"request": "destroy", "room": number})

    def proc(self) -> ProcSample | None:
        with contextlib.suppress(OSError):  # gone, e.g. after a Ctrl-C reached it first
            return read_proc(self.pid) if self.pid else None
        return None

    async def counters(self) -> dict[str, float]:
        return {}


@contextlib.asynccontextmanager
async def local_janus(
    workdir: Path, *, event_loops: int = 1, cpus: Collection[int] | None = None
) -> AsyncIterator[JanusSfu]:
    """Start ``janus`` with a private config (see ``write_config``) on ``cpus`` (None: anywhere);
    always stopped on exit."""
    binary = shutil.which("janus")
    if binary is None:
        raise RuntimeError("janus is not installed (apt-get install -y janus; make bench does)")
    ensure_device()
    conf, port = workdir / "janus", 8088
    write_config(conf, port, event_loops)
    command = [binary, "--configs-folder", str(conf), "--config", str(conf / "janus.jcfg")]
    log = workdir / "janus.log"
    proc = start(command, log, cpus=cpus)
    url = f"http://127.0.0.1:{port}/janus"
    janus = JanusSession(url)
    try:
        await wait_answering(f"{url}/info", proc, log)
        await janus.start()
        yield JanusSfu(janus, proc.pid)
    finally:
        await janus.close()
        stop(proc)
