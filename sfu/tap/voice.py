"""A bot's voice: the PCM frames it sends on its tap, played out in real time as an Opus track.

A bot may send faster than real time (a text-to-speech burst): its frames wait in a bounded
playout buffer and one leaves per frame period, so the room hears it at the pace it speaks and a
`clear` (barge-in) can still drop what has not been heard. Imported, like `sfu.tap.audio`, only
when a bot speaks.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

import av
import numpy as np

from sfu.media.description import ExtensionIds, MediaLine
from sfu.rtp.rtp_py import rewrite_rtp  # 50 packets a second: the pure form is enough
from sfu.tap.audio import OPUS_RATE, Pcm

OPUS_FRAME = OPUS_RATE // 50  # 20 ms: what browsers send and expect
OPUS_BITRATE = 32000
# The bot's track, as the node's ingress sees it: a publisher with one m-line
MID = b"0"
MID_ID, AUDIO_LEVEL_ID = 1, 2
PAYLOAD_TYPE = 111
LINE = MediaLine(
    MID.decode(), "audio", PAYLOAD_TYPE, "audio/opus", OPUS_RATE,
    ExtensionIds(mid=MID_ID, audio_level=AUDIO_LEVEL_ID),
)  # fmt: skip
_RTP_HEADER = bytes([0x80]) + bytes(11)  # rewrite_rtp replaces it whole


def level_dbov(pcm: Pcm) -> int:
    """RFC 6464's audio level of `pcm`: 0 (loudest) to 127 (silence), in -dBov."""
    if not len(pcm):
        return 127
    rms = math.sqrt(float(np.mean(np.square(pcm.astype(np.float64)))))
    if rms < 1:
        return 127
    return min(127, max(0, round(-20 * math.log10(rms / 32768))))


class BotVoice:
    """PCM frames of `frame_samples` at `sample_rate` in; RTP packets of Opus out, paced by
    `play`, which the tap calls once a frame period."""

    def __init__(self, sample_rate: int, frame_samples: int, max_frames: int) -> None:
        self.frame_bytes = frame_samples * 2
        self._max_frames = max_frames
        self._queue: deque[bytes] = deque()
        self._sample_rate = sample_rate
        self._encoder: Any = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = OPUS_RATE
        self._encoder.layout = "mono"
        self._encoder.format = "s16"
        self._encoder.bit_rate = OPUS_BITRATE
        self._encoder.options = {"application": "voip"}
        self._encoder.open()
        self._resampler: Any = None
        self._new_resampler()
        self.ssrc = random.getrandbits(32) | 1
        self._seq = random.getrandbits(16)
        self._base_ts = random.getrandbits(32)
        self._next_ts = 0  # RTP time (unwrapped) after the last packet sent
        self._speaking = False
        self.dropped = 0  # frames refused because the playout buffer was full

    def push(self, pcm: bytes) -> bool:
        """Queue one frame; False (dropped) when `max_frames` wait already."""
        if len(self._queue) >= self._max_frames:
            self.dropped += 1
            return False
        self._queue.append(pcm)
        return True

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def clear(self) -> int:
        """Drop what waits (the bot was interrupted); how many frames."""
        dropped = len(self._queue)
        self._queue.clear()
        self._new_resampler()
        return dropped

    def _new_resampler(self) -> None:
        """Resampled audio waits in whole Opus frames: a new resampler drops the rest of what
        was said (under 20 ms), which the next talk spurt must not start with."""
        self._resampler = av.AudioResampler(
            format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME
        )

    def play(self, now_ms: int) -> list[bytes]:
        """The RTP packets of the next frame, if one waits. A talk spurt starts with a marker
        and RTP time taken from `now_ms`, so receivers see silence as the gap it was."""
        if not self._queue:
            if self._speaking:
                self._speaking = False
                self._new_resampler()
            return []
        pcm = np.frombuffer(self._queue.popleft(), dtype="<i2")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self._sample_rate
        packets = []
        for resampled in self._resampler.resample(frame):
            resampled.pts = None
            level = level_dbov(resampled.to_ndarray().reshape(-1))
            for encoded in self._encoder.encode(resampled):
                packets.append(self._rtp(bytes(encoded), level, now_ms))
        return packets

    def _rtp(self, payload: bytes, level: int, now_ms: int) -> bytes:
        spurt = not self._speaking
        ts = max(self._next_ts, now_ms * (OPUS_RATE // 1000)) if spurt else self._next_ts
        self._next_ts = ts + OPUS_FRAME
        self._speaking = True
        self._seq = (self._seq + 1) & 0xFFFF
        packet: bytes = rewrite_rtp(
            _RTP_HEADER + payload, 12, self.ssrc, PAYLOAD_TYPE, self._seq,
            (self._base_ts + ts) & 0xFFFFFFFF, spurt,
            MID_ID, MID, 0, 0, AUDIO_LEVEL_ID, level, -1, -1,
        )  # fmt: skip
        return packet
