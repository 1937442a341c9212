"""The tap's decoding, resampling and mixing, on Opus packets PyAV's libopus encodes here."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from sfu.tap.audio import TrackAudio, mix
from tests.support.tapbot import peak_hz


def opus_packets(frequency: float, seconds: float) -> list[tuple[bytes, int]]:
    """(payload, RTP timestamp) of 20 ms Opus packets of a sine at 48 kHz."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "mono", "s16"
    encoder.time_base = fractions.Fraction(1, 48000)
    packets = []
    for n in range(int(seconds * 50)):
        t = (np.arange(960) + n * 960) / 48000
        pcm = (np.sin(2 * np.pi * frequency * t) * 10000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, n * 960
        packets += [(bytes(p), int(p.pts) & 0xFFFFFFFF) for p in encoder.encode(frame)]
    return packets


def test_mix_sums_pads_and_clips() -> None:
    a = np.array([1000, 30000, -30000], dtype=np.int16)
    b = np.array([1, 10000], dtype=np.int16)
    assert mix([a, b], 4).tolist() == [1001, 32767, -30000, 0]
    assert mix([], 2).tolist() == [0, 0]


@pytest.mark.parametrize("rate", [16000, 48000])
def test_a_second_of_opus_becomes_a_second_at_the_asked_rate(rate: int) -> None:
    audio, frame = TrackAudio(rate), rate // 50
    taken = []
    for payload, ts in opus_packets(440, 1.2):
        audio.decode(payload, ts, arrival_ms=1000.0)
        while (out := audio.take(frame)) is not None:
            taken.append(out)
    assert abs(len(taken) * frame - 1.2 * rate) <= frame  # within a frame (resampler delay)
    assert [at for at, _ in taken[:3]] == pytest.approx([1000.0, 1020.0, 1040.0])
    pcm = np.concatenate([p for _, p in taken])[-rate:]
    assert abs(peak_hz(pcm, rate) - 440) <= 10


def test_what_waits_is_bounded_to_the_newest_200_ms() -> None:
    audio = TrackAudio(16000)
    for payload, ts in opus_packets(440, 1.0):
        audio.decode(payload, ts, arrival_ms=0.0)
    assert len(audio) == 3200
    at_ms, _ = audio.take(320) or (0.0, None)
    assert 790 <= at_ms <= 810  # the oldest kept is 800 ms in (give or take the resampler)


def test_a_lost_packet_becomes_silence_and_a_late_one_is_dropped() -> None:
    audio = TrackAudio(16000)
    packets = opus_packets(440, 0.2)
    for payload, ts in packets[:3] + packets[4:]:
        audio.decode(payload, ts, arrival_ms=0.0)
    assert audio.gaps == 320
    before = len(audio)
    audio.decode(*packets[3], arrival_ms=0.0)  # too late: its place was filled
    assert len(audio) == before


def test_a_payload_that_is_not_opus_is_counted_and_the_track_goes_on() -> None:
    """From a publisher: garbage is dropped (its time becomes silence), an empty payload
    (padding) is skipped, not taken as the end of the stream; then Opus decodes again."""
    packets = opus_packets(440, 0.2)
    audio = TrackAudio(48000)
    audio.decode(*packets[0], 0.0)
    audio.decode(b"\xff" * 5, packets[1][1], 20.0)
    audio.decode(b"", packets[2][1], 40.0)
    for payload, rtp_ts in packets[3:]:
        audio.decode(payload, rtp_ts, 60.0)
    assert audio.undecodable == 1
    assert len(audio) >= 9 * 960  # the nine good packets and the silence between them
