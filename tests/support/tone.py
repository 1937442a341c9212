"""A microphone for aiortc participants whose loudness a test sets: aiortc measures each frame it
encodes (RFC 6465's RMS level) and writes it into the packets' ssrc-audio-level extension when
the answer negotiated it, as a browser does."""

from __future__ import annotations

import math
import time
from array import array

from aiortc.mediastreams import AudioStreamTrack
from av import AudioFrame

FREQUENCY_HZ = 400  # a whole number of periods in every 20 ms frame at aiortc's 8 kHz


class Tone(AudioStreamTrack):
    """A sine at `amplitude` (0 to 1 of full scale), changeable while it plays; its phase runs on
    across frames (`frequency` need not fit a frame). `onsets`: the wall-clock time (time.time)
    of the first frame made after each change of amplitude."""

    def __init__(self, amplitude: float, frequency: float = FREQUENCY_HZ) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.frequency = frequency
        self.onsets: list[float] = []
        self._made = amplitude

    async def recv(self) -> AudioFrame:  # type: ignore[override]
        frame: AudioFrame = await super().recv()  # silence, paced in real time
        plane = frame.planes[0]
        if self.amplitude != self._made:
            self._made = self.amplitude
            self.onsets.append(time.time())
        step = 2 * math.pi * self.frequency / frame.sample_rate
        peak = self.amplitude * 32767
        samples = array(
            "h", (round(peak * math.sin(step * (frame.pts + i))) for i in range(frame.samples))
        )
        plane.update(samples.tobytes().ljust(plane.buffer_size, b"\0"))
        return frame
