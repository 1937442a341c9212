"""Decoding, resampling and mixing for the tap, with PyAV and numpy: imported only when a tap
starts, so that a node without one never loads either (tests/sfu/webrtc/test_nocodecs.py)."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import numpy.typing as npt

from sfu.rtp.seqnum import diff32

OPUS_RATE = 48000  # Opus's RTP clock, whatever the rate it was encoded at (RFC 7587)
MAX_GAP_S = 1  # a longer jump in RTP time is a new start, not silence to fill
# Decoded audio kept per track, beyond which the oldest goes: bounds the mix's latency when the
# publisher's clock runs ahead of ours
MAX_BUFFER_MS = 200

Pcm = npt.NDArray[np.int16]


def mix(frames: list[Pcm], samples: int) -> Pcm:
    """Sum of `frames` (each at most `samples` long; a short one is padded with silence),
    clipped to 16 bits."""
    total = np.zeros(samples, dtype=np.int32)
    for frame in frames:
        total[: len(frame)] += frame
    return np.clip(total, -32768, 32767).astype(np.int16)


class TrackAudio:
    """One Opus track: RTP payloads in, mono 16-bit PCM at `sample_rate` out, with the Unix
    time (ms) of its first sample: when the track's first packet arrived, plus RTP time since."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._decoder: Any = av.CodecContext.create("opus", "r")
        self._resampler: Any = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self._pcm: Pcm = np.zeros(0, dtype=np.int16)
        self._anchor: tuple[int, float] | None = None  # (RTP time, Unix ms) of the first packet
        self._pcm_rtp = 0  # RTP time (48 kHz, unwrapped from the anchor) of _pcm[0]
        self._next_rtp = 0  # RTP time (wire) the next packet should have
        self.gaps = 0  # samples of silence put in for lost packets
        self.undecodable = 0  # payloads that are not Opus

    def __len__(self) -> int:
        return len(self._pcm)

    def decode(self, payload: bytes, rtp_ts: int, arrival_ms: float) -> None:
        """One packet's payload; a late (reordered) packet is dropped, a gap filled with silence,
        a payload Opus cannot decode counted and dropped (the gap it leaves is silence)."""
        if not payload:
            return  # padding only; an empty packet would end the decoder's stream
        ahead = diff32(rtp_ts, self._next_rtp)
        if self._anchor is not None and -OPUS_RATE * MAX_GAP_S < ahead < 0:
            return  # late: its place was filled
        if self._anchor is None or not 0 <= ahead < OPUS_RATE * MAX_GAP_S:
            self._anchor = (rtp_ts, arrival_ms)
            self._pcm = np.zeros(0, dtype=np.int16)
            self._pcm_rtp = 0
        else:
            silence = ahead * self.sample_rate // OPUS_RATE
            if silence:
                self.gaps += silence
                self._append(np.zeros(silence, dtype=np.int16))
        try:
            frames = self._decoder.decode(av.Packet(payload))
        except av.FFmpegError:
            self.undecodable += 1
            return
        decoded = 0
        for frame in frames:
            decoded += frame.samples * OPUS_RATE // frame.sample_rate
            frame.pts = None
            for out in self._resampler.resample(frame):
                self._append(out.to_ndarray().reshape(-1))
        self._next_rtp = (rtp_ts + (decoded or OPUS_RATE // 50)) & 0xFFFFFFFF

    def take(self, samples: int, *, partial: bool = False) -> tuple[float, Pcm] | None:
        """The next `samples` (fewer with `partial`, if that is all there is) and the Unix ms
        of the first; None if there are not enough."""
        if len(self._pcm) < samples and not (partial and len(self._pcm)):
            return None
        assert self._anchor is not None
        at_ms = self._anchor[1] + self._pcm_rtp * 1000 / OPUS_RATE
        out, self._pcm = self._pcm[:samples], self._pcm[samples:]
        self._pcm_rtp += len(out) * OPUS_RATE // self.sample_rate
        return at_ms, out

    def _append(self, pcm: Pcm) -> None:
        self._pcm = np.concatenate((self._pcm, pcm))
        excess = len(self._pcm) - MAX_BUFFER_MS * self.sample_rate // 1000
        if excess > 0:
            self._pcm = self._pcm[excess:]
            self._pcm_rtp += excess * OPUS_RATE // self.sample_rate
