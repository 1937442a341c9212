"""A bot on the node's audio tap (docs/tap.md), for integration tests: collects PCM frames by
track index and the JSON events, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt
import websockets

from sfu.tap.wire import decode_frame, encode_frame
from tests.support.waiting import until


def tap_url(signal_url: str) -> str:
    return signal_url.replace("/v1/signal", "/v1/tap")


Pcm = npt.NDArray[np.int16]


def peak_hz(pcm: Pcm, sample_rate: int) -> float:
    """The strongest frequency of `pcm` (a Hann-windowed FFT)."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / sample_rate)[int(np.argmax(spectrum))])


def sine(frequency: float, sample_rate: int, seconds: float, amplitude: float = 0.3) -> Pcm:
    """A sine as 16-bit samples."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (np.sin(2 * np.pi * frequency * t) * amplitude * 32767).astype("<i2")


class TapBot:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.frames: dict[int, list[tuple[int, float, bytes]]] = defaultdict(list)
        self.events: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def connect(self, **sock: Any) -> None:
        self._ws = await websockets.connect(
            self.url, additional_headers={"Authorization": f"Bearer {self.token}"}, **sock
        )

    async def start(self, **fields: Any) -> None:
        await self._ws.send(json.dumps({"type": "start", **fields}))

    async def speak(self, pcm: Pcm, sample_rate: int, frame_ms: int = 20) -> None:
        """Send `pcm` as audio frames, all at once: the node plays them out in real time."""
        samples = sample_rate * frame_ms // 1000
        for i in range(0, len(pcm) - samples + 1, samples):
            await self._ws.send(encode_frame(0, 0, pcm[i : i + samples].tobytes()))

    def read(self) -> None:
        self._task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            async for message in self._ws:
                if isinstance(message, bytes):
                    _, index, at_ms, pcm = decode_frame(message)
                    self.frames[index].append((at_ms, time.time() * 1000, pcm))
                else:
                    self.events.append(json.loads(message))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason or ""
            self._changed.set()

    def pcm(self, index: int) -> npt.NDArray[np.int16]:
        return np.frombuffer(b"".join(f[2] for f in self.frames[index]), dtype="<i2")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def wait_until(self, predicate: Any, timeout: float = 20.0) -> None:
        await until(predicate, self._changed, timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2)
            self._ws.transport.abort()  # a bot that never read may not finish the handshake
