"""Firefox ESR from Debian, driven over WebDriver BiDi (its built-in Remote Agent) with a small
`websockets` client: no geckodriver, no browser download. Playwright cannot drive Debian's
Firefox (it needs its own patched build). Facts behind the profile, the environment and the
route: shared/research/firefox.md.

A `FirefoxParticipant` offers what the tests use of a Chromium `Participant`: `stats()`,
`wait_for(predicate_js, arg)` (the same predicates: they run in the page) and `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import websockets

from tests.browser.harness import JOIN_TIMEOUT_MS, MEDIA_TIMEOUT_MS, POLL_INTERVAL_MS, POLL_JS

FIREFOX = "/usr/bin/firefox-esr"
USER_JS = Path(__file__).with_name("firefox.user.js")
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
LISTENING = re.compile(rb"WebDriver BiDi listening on (ws://\S+)")


class BidiError(RuntimeError):
    """A BiDi command failed, or a script threw in the page."""


class Bidi:
    """A WebDriver BiDi session: commands by id; events (console lines) kept as text."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self._socket = socket
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._socket:
                message = json.loads(raw)
                future = self._waiting.pop(message.get("id", -1), None)
                if future is not None:
                    future.set_result(message)
                elif message.get("method") == "log.entryAdded":
                    entry = message["params"]
                    self.console.append(f"{entry.get('level')}: {entry.get('text')}")
        for future in self._waiting.values():
            future.set_exception(BidiError("Firefox closed the BiDi connection"))

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        future = self._waiting[self._next] = asyncio.get_running_loop().create_future()
        await self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        if reply.get("type") == "error":
            raise BidiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, context: str, expression: str) -> Any:
        """The JSON value of `expression` (awaited if a promise), which must evaluate to a
        string of JSON: BiDi's own serialization of objects is not plain JSON."""
        result = await self.command(
            "script.evaluate",
            expression=expression,
            target={"context": context},
            awaitPromise=True,
            resultOwnership="none",
        )
        if result["type"] == "exception":
            raise BidiError(result["exceptionDetails"]["text"])
        value = result["result"].get("value")
        return None if value is None else json.loads(value)

    async def close(self) -> None:
        await self._socket.close()
        await self._reader


@dataclass
class FirefoxParticipant:
    """One person in a call: the web client in a Firefox ESR of its own."""

    identity: str
    bidi: Bidi
    context: str

    @property
    def console(self) -> list[str]:
        return self.bidi.console

    async def evaluate(self, function_js: str, arg: Any = None) -> Any:
        """`function_js(arg)` in the page, awaited; its result as JSON."""
        expression = f"(async () => JSON.stringify(await ({function_js})({json.dumps(arg)})))()"
        return await self.bidi.evaluate(self.context, expression)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.evaluate("() => window.sfu.stats()")
        return stats

    async def wait_for(
        self, predicate_js: str, arg: Any = None, timeout_ms: float = MEDIA_TIMEOUT_MS
    ) -> Any:
        """Polls `predicate_js` in the page until it returns a truthy value (as the Chromium
        harness's `wait_for`)."""
        return await self.evaluate(POLL_JS, [predicate_js, arg, timeout_ms, POLL_INTERVAL_MS])


@dataclass
class Firefox:
    """A headless Firefox ESR process with a fresh profile and its BiDi session."""

    process: asyncio.subprocess.Process
    bidi: Bidi
    profile: Path
    output: list[str] = field(default_factory=list)

    async def join(self, base_url: str, room: str, identity: str) -> FirefoxParticipant:
        """Opens the client with `?room=…&identity=…` in the first tab; waits until it joined."""
        tree = await self.bidi.command("browsingContext.getTree", maxDepth=0)
        context = tree["contexts"][0]["context"]
        url = f"{base_url}/?{urlencode({'room': room, 'identity': identity})}"
        await self.bidi.command(
            "browsingContext.navigate", context=context, url=url, wait="complete"
        )
        participant = FirefoxParticipant(identity, self.bidi, context)
        state = await participant.wait_for(
            "() => ['joined', 'error'].includes(window.sfu?.state) && window.sfu.state",
            timeout_ms=JOIN_TIMEOUT_MS,
        )
        if state != "joined":
            error = await participant.evaluate("() => window.sfu.error")
            raise AssertionError(f"{identity} (Firefox) could not join {room}: {error}")
        return participant


def ensure_default_route() -> None:
    """Firefox without a persistent camera permission gathers only its "default address",
    found by routing towards the internet: in the loopback-only namespace that must be lo, with
    127.0.0.1 as source (no packet leaves: shared/research/firefox.md). The caller checked that
    this is the loopback-only namespace."""
    routes = subprocess.run(
        ["ip", "route", "show", "default"], capture_output=True, text=True, check=True
    )
    if not routes.stdout.strip():
        subprocess.run(
            ["ip", "route", "add", "default", "dev", "lo", "src", "127.0.0.1"], check=True
        )


@contextlib.asynccontextmanager
async def firefox() -> AsyncIterator[Firefox]:
    """A Firefox ESR for the time of the `async with`, stopped (and its profile removed) after."""
    profile = Path(tempfile.mkdtemp(prefix="sfu-firefox-"))
    shutil.copy(USER_JS, profile / "user.js")
    # Remote Settings stay off, and any connection off loopback aborts Firefox (a tripwire)
    env = {**os.environ, "MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1"}
    process = await asyncio.create_subprocess_exec(
        FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
        "--remote-debugging-port", "0", "about:blank",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    output: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        url = await asyncio.wait_for(_listening(process, output), START_TIMEOUT_S)
        drain = asyncio.create_task(_drain(process, output))
        socket = await websockets.connect(url + "/session", max_size=None)
        bidi = Bidi(socket)
        await bidi.command("session.new", capabilities={})
        await bidi.command("session.subscribe", events=["log.entryAdded"])
        try:
            yield Firefox(process, bidi, profile, output)
        finally:
            with contextlib.suppress(Exception):
                await bidi.command("browser.close")
            await bidi.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
            await process.wait()
        if drain is not None:
            await drain
        shutil.rmtree(profile, ignore_errors=True)


async def _listening(process: asyncio.subprocess.Process, output: list[str]) -> str:
    assert process.stderr is not None
    while True:
        line = await process.stderr.readline()
        if not line:
            raise RuntimeError(
                "Firefox exited before its BiDi server listened:\n" + "".join(output)
            )
        output.append(line.decode(errors="replace"))
        found = LISTENING.search(line)
        if found:
            return found.group(1).decode()


async def _drain(process: asyncio.subprocess.Process, output: list[str]) -> None:
    """Keep reading Firefox's stderr (a full pipe would block it); the last lines are kept."""
    assert process.stderr is not None
    while line := await process.stderr.readline():
        output.append(line.decode(errors="replace"))
        del output[:-200]
