"""The tap's wire format: binary PCM frames with a 12-byte header, JSON control and events.

Pure: no I/O, no numpy. docs/tap.md is the reference.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# kind, reserved (0), track index (0: the mix), timestamp (Unix ms), little-endian; 12 bytes keep
# the 16-bit samples after it aligned
HEADER = struct.Struct("<BBHQ")
KIND_AUDIO = 1
MIX_INDEX = 0
SAMPLE_RATES = (16000, 48000)
MAX_CONTROL_BYTES = 4096

Mode = Literal["mixed", "participants"]


class Start(BaseModel):
    """The bot's first control message: what audio it wants."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["start"]
    mode: Mode = "mixed"
    sample_rate: Literal[16000, 48000] = 16000
    channels: Literal[1] = 1
    frame_ms: int = Field(default=20, ge=10, le=100, multiple_of=10)
    speak: bool = False  # the bot sends audio too: published as its microphone


class Clear(BaseModel):
    """Drop the bot's audio that waits to be played (it was interrupted)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["clear"]


Control = Annotated[Start | Clear, Field(discriminator="type")]
CONTROL: TypeAdapter[Start | Clear] = TypeAdapter(Control)


def encode_frame(index: int, timestamp_ms: int, pcm: bytes) -> bytes:
    """One binary frame: the header, then 16-bit little-endian mono samples."""
    return HEADER.pack(KIND_AUDIO, 0, index, timestamp_ms) + pcm


def decode_frame(data: bytes) -> tuple[int, int, int, bytes]:
    """(kind, track index, timestamp ms, PCM bytes) of a binary frame; ValueError if short."""
    if len(data) < HEADER.size:
        raise ValueError(f"tap frame of {len(data)} bytes is shorter than its header")
    kind, _, index, timestamp_ms = HEADER.unpack_from(data)
    return kind, index, timestamp_ms, data[HEADER.size :]


def samples_per_frame(sample_rate: int, frame_ms: int) -> int:
    return sample_rate * frame_ms // 1000
