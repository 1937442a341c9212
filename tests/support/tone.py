"""A microphone for aiortc participants whose loudness a test sets: aiortc measures each frame it
encodes (RFC 6465's RMS level) and writes it into the packets' ssrc-audio-level extension when
the answer negotiated it, as a browser does."""

from __future__ import annotations

import math
from array import array

from aiortc.mediastreams import AudioStreamTrack
from av import AudioFrame

FREQUENCY_HZ = 400  # a whole number of periods in every 20 ms frame at aiortc's 8 kHz


class Tone(AudioStreamTrack):
    """A sine at `amplitude` (0 to 1 of full scale), changeable while it plays."""

    def __init__(self, amplitude: float) -> None:
        super().__init__()
        self.amplitude = amplitude

    async def recv(self) -> AudioFrame:  # type: ignore[override]
        frame: AudioFrame = await super().recv()  # silence, paced in real time
        plane = frame.planes[0]
        step = 2 * math.pi * FREQUENCY_HZ / frame.sample_rate
        peak = self.amplitude * 32767
        samples = array("h", (round(peak * math.sin(step * i)) for i in range(frame.samples)))
        plane.update(samples.tobytes().ljust(plane.buffer_size, b"\0"))
        return frame
