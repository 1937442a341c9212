"""A bot's voice: PCM frames in, paced Opus RTP out, decodable by the tap's own decoder."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from sfu.rtp.rtp_py import parse_rtp
from sfu.tap.audio import TrackAudio
from sfu.tap.voice import AUDIO_LEVEL_ID, MID, MID_ID, PAYLOAD_TYPE, BotVoice, level_dbov
from tests.support.tapbot import peak_hz, sine


def frames(rate: int, frame_ms: int, seconds: float, frequency: float) -> list[bytes]:
    samples = rate * frame_ms // 1000
    pcm = sine(frequency, rate, seconds)
    return [pcm[i : i + samples].tobytes() for i in range(0, len(pcm), samples)]


@pytest.mark.parametrize(("rate", "frame_ms"), [(16000, 20), (48000, 10), (16000, 60)])
def test_a_second_of_pcm_plays_out_as_a_second_of_opus_at_its_pitch(
    rate: int, frame_ms: int
) -> None:
    voice = BotVoice(rate, rate * frame_ms // 1000, max_frames=500)
    for frame in frames(rate, frame_ms, 1.2, 1000):
        assert voice.push(frame)
    packets, now_ms = [], 10_000
    while voice.waiting:
        packets += voice.play(now_ms)
        now_ms += frame_ms
    parsed = [parse_rtp(p, MID_ID, 0, 0, AUDIO_LEVEL_ID) for p in packets]
    assert len(packets) >= 55  # 1.2 s of 20 ms packets, less the encoder's delay
    assert {p[0] for p in parsed} == {voice.ssrc}
    assert {p[1] for p in parsed} == {PAYLOAD_TYPE}
    assert {p[7] for p in parsed} == {MID}
    seqs, stamps = [p[2] for p in parsed], [p[3] for p in parsed]
    assert all((b - a) & 0xFFFF == 1 for a, b in pairwise(seqs))
    assert all((b - a) & 0xFFFFFFFF == 960 for a, b in pairwise(stamps))
    assert [p[4] for p in parsed] == [True] + [False] * (len(parsed) - 1)  # one talk spurt
    assert max(p[10] for p in parsed[5:]) < 20  # loud: the level extension says so

    audio, decoded = TrackAudio(48000), []
    for packet, p in zip(packets, parsed, strict=True):
        audio.decode(packet[p[5] : p[6]], p[3], 0.0)
        while (taken := audio.take(960)) is not None:
            decoded.append(taken[1])
    assert abs(peak_hz(np.concatenate(decoded)[-48000:], 48000) - 1000) <= 10


def test_a_talk_spurt_after_silence_is_marked_and_its_rtp_time_follows_the_clock() -> None:
    voice = BotVoice(48000, 960, max_frames=50)
    first, second = frames(48000, 20, 0.2, 500), frames(48000, 20, 0.2, 500)
    packets = []
    for frame in first:
        voice.push(frame)
    for n in range(len(first) + 1):
        packets += voice.play(1000 + 20 * n)
    assert voice.play(2000) == []  # nothing waits: nothing is sent
    for frame in second:
        voice.push(frame)
    later = voice.play(5000)
    assert later
    last = parse_rtp(packets[-1], 0, 0, 0, 0)
    resumed = parse_rtp(later[0], 0, 0, 0, 0)
    assert resumed[4]  # the marker of a new spurt
    # 5 s on the clock minus the ~1.2 s the first spurt's RTP time covered
    gap = (resumed[3] - last[3]) & 0xFFFFFFFF
    assert 3.5 * 48000 < gap < 4.1 * 48000


def test_beyond_its_buffer_frames_are_refused_and_clear_drops_what_waits() -> None:
    voice = BotVoice(16000, 320, max_frames=3)
    frame = bytes(640)
    assert [voice.push(frame) for _ in range(5)] == [True, True, True, False, False]
    assert voice.dropped == 2
    assert voice.clear() == 3
    assert voice.waiting == 0
    assert voice.play(0) == []


def test_level_is_minus_dbov() -> None:
    assert level_dbov(np.zeros(960, dtype=np.int16)) == 127
    assert level_dbov(np.full(960, 32767, dtype=np.int16)) == 0
    assert level_dbov(np.full(960, 3277, dtype=np.int16)) == 20
    assert level_dbov(np.zeros(0, dtype=np.int16)) == 127
