"""The tap's frame header and start message (docs/tap.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sfu.tap.wire import HEADER, KIND_AUDIO, Start, decode_frame, encode_frame, samples_per_frame


def test_a_frame_decodes_to_what_was_encoded() -> None:
    pcm = bytes(range(20))
    frame = encode_frame(3, 1_765_000_000_123, pcm)
    assert len(frame) == HEADER.size + len(pcm) == 12 + 20
    assert decode_frame(frame) == (KIND_AUDIO, 3, 1_765_000_000_123, pcm)
    assert frame[:4] == bytes([1, 0, 3, 0])  # little-endian index after kind and a zero byte


def test_a_frame_shorter_than_its_header_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than its header"):
        decode_frame(b"\x01\x00\x03")


def test_start_defaults_and_bounds() -> None:
    start = Start.model_validate_json('{"type": "start"}')
    assert (start.mode, start.sample_rate, start.channels, start.frame_ms) == (
        "mixed",
        16000,
        1,
        20,
    )
    assert samples_per_frame(48000, 20) == 960
    for bad in (
        '{"type": "start", "sample_rate": 44100}',
        '{"type": "start", "frame_ms": 15}',
        '{"type": "start", "channels": 2}',
        '{"type": "start", "mode": "stereo"}',
        '{"type": "start", "extra": 1}',
    ):
        with pytest.raises(ValidationError):
            Start.model_validate_json(bad)
