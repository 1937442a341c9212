"""What the browser tests drive: the one-machine stack as a subprocess, and participants, each a
page of the web client in its own browser context, read through the page's `window.sfu`.

Facts behind the flags and the network namespace: shared/research/browser.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, ViewportSize

from tests.support.client import Client
from tests.support.ports import free_port, free_udp_port

CHROMIUM = "/usr/lib/chromium/chromium"
# Playwright adds --headless, --no-sandbox and a fresh --user-data-dir, and passes its own
# --disable-features list: a second --disable-features would replace it, so there is none here.
CHROME_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    # three fake cameras: fake_device_0 (I420, the default), fake_device_1 (Y16, a depth camera:
    # WebRTC sends none of its frames) and fake_device_2 (MJPEG), to switch between; the
    # microphones are "Fake Default Audio Input", "Fake Audio Input 1" and "2" regardless
    "--use-fake-device-for-media-stream=device-count=3",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",  # without it Chrome has no ICE candidate on lo
]

STACK_START_TIMEOUT_S = 30.0
STACK_STOP_TIMEOUT_S = 5.0
JOIN_TIMEOUT_MS = 20_000
MEDIA_TIMEOUT_MS = 20_000
POLL_INTERVAL_MS = 100

POLL_JS = """
async ([source, arg, timeoutMs, intervalMs]) => {
  const predicate = (0, eval)(`(${source})`);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await predicate(arg);
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`not true within ${timeoutMs} ms: ${source}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
"""

# Resolves to the stats once the page decodes video and receives audio from every identity in
# `peers`, each with more frames and audio packets than in `before` (a previous snapshot, or null).
RECEIVING_FROM_JS = """
async ({peers, before}) => {
  const stats = await window.sfu.stats();
  const ok = peers.every((id) => {
    const now = stats.remotes[id];
    const was = before?.remotes?.[id];
    return now?.video && now.audio
      && now.video.frameWidth > 0
      && now.video.framesDecoded > (was?.video?.framesDecoded ?? 0)
      && now.audio.packetsReceived > (was?.audio?.packetsReceived ?? 0);
  });
  return ok ? stats : null;
}
"""


# A page's video transceivers prefer H.264 (packetization mode 1) and its RTX only: its offer
# has no other video codec (shared/research/reach.md). Receiving is not restricted.
H264_ONLY_JS = """
const addTransceiver = RTCPeerConnection.prototype.addTransceiver;
RTCPeerConnection.prototype.addTransceiver = function (trackOrKind, init) {
  const transceiver = addTransceiver.call(this, trackOrKind, init);
  const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
  if (kind === 'video' && init?.direction === 'sendonly') {
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) =>
      (c.mimeType === 'video/H264' && c.sdpFmtpLine?.includes('packetization-mode=1'))
      || c.mimeType === 'video/rtx');
    transceiver.setCodecPreferences(codecs);
  }
  return transceiver;
};
"""
# `Participant.wait_video` test: frames of `codec` decoded
CODEC_IS = "(video, codec) => video.framesDecoded > 5 && video.codec === codec"

# A page's microphone is a steady 440 Hz tone at -13 dBov (Chromium's fake one beeps too briefly to
# count as speech); `window.tone.gain` turns it down.
TONE_MIC_JS = """
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  const context = new AudioContext();
  const out = context.createMediaStreamDestination();
  window.tone = new GainNode(context, {gain: 0.3});
  const oscillator = new OscillatorNode(context, {frequency: 440});
  oscillator.connect(window.tone).connect(out);
  oscillator.start();
  for (const track of stream.getAudioTracks()) {
    stream.removeTrack(track);
    track.stop();
  }
  stream.addTrack(out.stream.getAudioTracks()[0]);
  return stream;
};
"""
# Resolves to the page's stats once it decodes audio of `peer` beyond `before` (energy too).
AUDIO_FROM_JS = """
async ({peer, before}) => {
  const stats = await window.sfu.stats();
  const audio = stats.remotes[peer]?.audio;
  const was = before?.remotes?.[peer]?.audio;
  return audio && audio.packetsReceived > (was?.packetsReceived ?? 0) + 25
    && audio.totalAudioEnergy > (was?.totalAudioEnergy ?? 0) ? stats : null;
}
"""
# Makes getUserMedia fail, so that the page joins as a viewer (receives, publishes nothing).
NO_CAMERA_JS = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('no camera here', 'NotFoundError'));
"""

# Resolves to the video stats of `peer` once `test(video, arg)` holds for them (`test` is the
# source of a JS function, spliced in by `Participant.wait_video`).
VIDEO_JS = """
async ({peer, arg}) => {
  const video = (await window.sfu.stats()).remotes[peer]?.video;
  return video && (%s)(video, arg) ? video : null;
}
"""

# Installs `window.frameLog(peer)`: the frames (performance.now(), width, height) the tile of
# `peer` has presented since the log started, from requestVideoFrameCallback.
FRAME_LOG_JS = """
(peer) => {
  const logs = window.frameLogs ??= {};
  const video = document.querySelector(`.tile.remote[data-identity="${CSS.escape(peer)}"] video`);
  if (!video) throw new Error(`no video of ${peer}`);
  const log = logs[peer] = [];
  const onFrame = (now, meta) => {
    log.push([performance.now(), meta.width, meta.height]);
    if (log.length > 5000) log.splice(0, 1000);
    if (logs[peer] === log) video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  window.frameLog = (id) => logs[id];
}
"""
# Resolves to the page time of the first frame in the log of `peer` presented at or after
# `after` with a width in [min, max].
FRAME_JS = """
({peer, after, min, max}) => {
  const frame = window.frameLog(peer).find(([t, w]) => t >= after && w >= min && w <= max);
  return frame ? frame[0] : null;
}
"""


def loopback_only_problem() -> str | None:
    """Why this process is not in a loopback-only network namespace with `lo` up, or None."""
    try:
        out = subprocess.run(
            ["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        return f"cannot list network addresses ({err})"
    interfaces = {line.split()[1] for line in out.splitlines() if line.strip()}
    others = sorted(interfaces - {"lo"})
    if others:
        return f"non-loopback interfaces have addresses: {', '.join(others)}"
    if " 127.0.0.1/" not in out:
        return "lo has no 127.0.0.1 (is it up?)"
    return None


@dataclass
class Stack:
    """The one-machine stack (control API + demo mode + web page + one media node)."""

    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, port: int | None = None, env: dict[str, str] | None = None) -> Stack:
        """Starts the stack on `port` (a free one if None), its node on a free ICE-lite UDP port,
        with `env` added to its environment; returns once `/healthz` answers."""
        port = port or free_port()
        env = {
            **os.environ,
            "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
            "SFU_UDP_PORT": str(free_udp_port()),
            "SFU_UDP_BIND": "127.0.0.1",
            "SFU_TCP_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with tempfile.NamedTemporaryFile(prefix="sfu-stack-", suffix=".log", delete=False) as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "standalone",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        stack = cls(f"http://127.0.0.1:{port}", Path(log.name), process)
        try:
            stack._wait_healthy()
        except BaseException:
            stack.stop()
            raise
        return stack

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STACK_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the stack exited with {self.process.returncode}:\n{self.log()}"
                )
            if self.healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the stack did not answer /healthz in {STACK_START_TIMEOUT_S} s:\n{self.log()}"
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STACK_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def metric(self, sample: str) -> float:
        """A sample of the node's /metrics by name and labels, e.g. 'sfu_udp_transports'."""
        with urllib.request.urlopen(f"{self.base_url}/node/metrics", timeout=5) as response:
            text = response.read().decode()
        match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
        assert match, f"{sample} not in /metrics"
        return float(match.group(1))

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log(self, since: int = 0) -> str:
        with self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")


@dataclass
class Participant:
    """One person in a call: a page of the web client in its own browser context."""

    identity: str
    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.page.evaluate("window.sfu.stats()")
        return stats

    async def video_from(self, peer: str) -> dict[str, Any]:
        """The stats of the video we receive from `peer` (empty if none yet)."""
        video: dict[str, Any] | None = (await self.stats())["remotes"].get(peer, {}).get("video")
        return video or {}

    async def wait_video(
        self, peer: str, test_js: str, arg: Any = None, timeout_ms: float = MEDIA_TIMEOUT_MS
    ) -> dict[str, Any]:
        """Waits until `test_js` (`(video, arg) => boolean`) holds for the video stats of `peer`;
        returns those stats."""
        try:
            video: dict[str, Any] = await self.wait_for(
                VIDEO_JS % test_js, {"peer": peer, "arg": arg}, timeout_ms
            )
        except Error as err:
            err.add_note(f"{self.identity} waited for {test_js} ({arg}) on the video of {peer}")
            err.add_note(f"it has {await self.video_from(peer)}")
            raise
        return video

    async def start_frame_log(self, peer: str) -> None:
        """Starts logging the frames the tile of `peer` presents (see `frames`)."""
        await self.page.evaluate(FRAME_LOG_JS, peer)

    async def frames(self, peer: str) -> list[tuple[float, int, int]]:
        """(page time in ms, width, height) of each frame presented since `start_frame_log`."""
        log: list[list[float]] = await self.page.evaluate("(peer) => window.frameLog(peer)", peer)
        return [(t, int(w), int(h)) for t, w, h in log]

    async def wait_frame(
        self,
        peer: str,
        after_ms: float,
        widths: tuple[int, int],
        timeout_ms: float = MEDIA_TIMEOUT_MS,
    ) -> float:
        """The page time of the first frame of `peer` presented at or after `after_ms` (page
        time) whose width is within `widths` (inclusive), once there is one."""
        low, high = widths
        arg = {"peer": peer, "after": after_ms, "min": low, "max": high}
        try:
            shown: float = await self.wait_for(FRAME_JS, arg, timeout_ms)
        except Error as err:
            widths_seen = sorted({w for t, w, _ in await self.frames(peer) if t >= after_ms})
            err.add_note(f"{self.identity}: frames of {peer} since {after_ms}: {widths_seen}")
            raise
        return shown

    def page_errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("pageerror:")]

    async def wait_for(
        self, predicate_js: str, arg: Any = None, timeout_ms: float = MEDIA_TIMEOUT_MS
    ) -> Any:
        return await wait_for(self.page, predicate_js, arg, timeout_ms)

    async def wait_receiving(
        self, peers: list[str], before: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Waits until we decode video and hear audio from every one of `peers`, beyond `before`."""
        try:
            stats: dict[str, Any] = await self.wait_for(
                RECEIVING_FROM_JS, {"peers": peers, "before": before}
            )
        except Error as err:
            err.add_note(f"{self.identity} expected media from {peers}; has {await self.stats()}")
            raise
        return stats

    async def hears(self, peer: str) -> dict[str, Any]:
        """Waits until we decode more and more of `peer`'s audio, with energy; our stats."""
        first = await self.wait_for(AUDIO_FROM_JS, {"peer": peer, "before": None})
        stats: dict[str, Any] = await self.wait_for(AUDIO_FROM_JS, {"peer": peer, "before": first})
        return stats

    async def remote_tiles(self) -> list[str]:
        tiles: list[str] = await self.page.eval_on_selector_all(
            ".tile.remote", "tiles => tiles.map((t) => t.dataset.identity)"
        )
        return sorted(tiles)

    async def leave(self) -> None:
        await self.page.click("#leave")
        await self.wait_for("() => window.sfu.state === 'left'")

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed, or the browser is gone
            await self.context.close()


async def wait_for(
    page: Page, predicate_js: str, arg: Any = None, timeout_ms: float = MEDIA_TIMEOUT_MS
) -> Any:
    """Polls `predicate_js` (a function, may be async) in the page until it returns a truthy
    value, and returns that value. (`page.wait_for_function` does not await a promise: an async
    predicate would count as true at once.)"""
    return await page.evaluate(POLL_JS, [predicate_js, arg, timeout_ms, POLL_INTERVAL_MS])


async def join(
    browser: Browser,
    base_url: str,
    room: str,
    identity: str,
    name: str | None = None,
    init_script: str | None = None,
    viewport: tuple[int, int] | None = None,
) -> Participant:
    """Opens the client in a new context with `?room=…&identity=…` and waits until it joined.
    `init_script` runs in the page before the client does; `viewport` is (width, height) in CSS
    pixels (Playwright's default: 1280x720)."""
    size = ViewportSize(width=viewport[0], height=viewport[1]) if viewport else None
    context = await browser.new_context(viewport=size)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    participant = Participant(identity, context, page)
    page.on("console", lambda message: participant.console.append(_console_line(message)))
    page.on("pageerror", lambda error: participant.console.append(f"pageerror: {error}"))
    query = {"room": room, "identity": identity, **({"name": name} if name else {})}
    try:
        await page.goto(f"{base_url}/?{urlencode(query)}")
        state = await wait_for(
            page,
            "() => ['joined', 'error'].includes(window.sfu?.state) && window.sfu.state",
            timeout_ms=JOIN_TIMEOUT_MS,
        )
        if state != "joined":
            error = await page.evaluate("window.sfu.error")
            raise AssertionError(f"{identity} could not join {room}: {error}")
    except BaseException as err:
        err.add_note(f"console of {identity}:\n" + "\n".join(participant.console))
        await participant.close()
        raise
    return participant


async def demo_ticket(stack: Stack, room: str, identity: str) -> tuple[str, str]:
    """(signaling URL, join token) from the stack's demo token route, as the web client gets
    them."""

    def ticket() -> dict[str, Any]:
        request = urllib.request.Request(
            f"{stack.base_url}/demo/token",
            data=json.dumps({"room": room, "identity": identity}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    got = await asyncio.to_thread(ticket)
    # the stack serves its node on its own origin: a path, as the page resolves it
    url = urllib.parse.urljoin(stack.base_url.replace("http", "ws", 1), got["node_url"])
    return url, got["token"]


async def aiortc_client(stack: Stack, room: str, identity: str) -> Client:
    """An aiortc participant (not connected yet) with a demo token of the stack's."""
    url, token = await demo_ticket(stack, room, identity)
    return Client(url, room, token)


def _console_line(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


JoinFactory = Callable[..., Awaitable[Participant]]
"""`await participants(room, identity, name=None, init_script=None, viewport=None)`: see `join`."""


async def _tc(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "tc", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"tc {' '.join(args)}: {out.decode(errors='replace')}")


async def tc_class_stats() -> str:
    """`tc -s class show dev lo`, to report what a shaper sent and dropped."""
    process = await asyncio.create_subprocess_exec(
        "tc", "-s", "class", "show", "dev", "lo", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode(errors="replace")


@contextlib.asynccontextmanager
async def shaped_udp_source(port: int, kbit: int, queue_packets: int = 20) -> AsyncIterator[None]:
    """Caps the UDP packets leaving 127.0.0.1:`port` to `kbit` kbit/s, with a `queue_packets`
    long queue (tail drop beyond it), for the time of the `async with`. `tc` on `lo` of this
    process's network namespace (htb + u32; this kernel has no netem): refused anywhere else,
    since a shared `lo` carries other people's traffic."""
    problem = loopback_only_problem()
    if problem:
        raise RuntimeError(f"not shaping outside a loopback-only network namespace: {problem}")
    await _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "30")
    try:
        await _tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:1",
                  "htb", "rate", "10gbit")  # fmt: skip
        await _tc("class", "add", "dev", "lo", "parent", "1:1", "classid", "1:10",
                  "htb", "rate", f"{kbit}kbit", "ceil", f"{kbit}kbit", "burst", "15k")  # fmt: skip
        await _tc("class", "add", "dev", "lo", "parent", "1:1", "classid", "1:30",
                  "htb", "rate", "10gbit")  # fmt: skip
        await _tc("qdisc", "add", "dev", "lo", "parent", "1:10", "handle", "10:",
                  "pfifo", "limit", str(queue_packets))  # fmt: skip
        await _tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
                  "u32", "match", "ip", "protocol", "17", "0xff",
                  "match", "ip", "sport", str(port), "0xffff", "flowid", "1:10")  # fmt: skip
        yield
    finally:
        await _tc("qdisc", "del", "dev", "lo", "root")
