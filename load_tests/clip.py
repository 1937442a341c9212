"""Pre-encoded media for synthetic publishers: VP8 at three simulcast sizes and Opus.

Encoding is the expensive part of a real client, so it is done once (PyAV, from a generated
moving pattern) and cached on disk: video as IVF files, audio as length-prefixed Opus frames.
Publishers then only packetize and replay.
"""

from __future__ import annotations

import array
import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

FPS = 30
CLIP_FRAMES = 120  # 4 s, looped
GOP_FRAMES = 60  # a keyframe every 2 s
AUDIO_FRAME_SAMPLES = 960  # 20 ms at 48 kHz
AUDIO_FRAMES = 50
CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class LayerSpec:
    rid: str
    width: int
    height: int
    bitrate: int


LAYER_SPECS = (
    LayerSpec("q", 320, 180, 150_000),
    LayerSpec("h", 640, 360, 500_000),
    LayerSpec("f", 1280, 720, 1_500_000),
)


@dataclass(frozen=True, slots=True)
class VideoClip:
    frames: tuple[bytes, ...]
    keyframes: tuple[int, ...]  # indexes of keyframes in ``frames``

    def next_keyframe(self, index: int) -> int:
        """The first keyframe at or after ``index``, wrapping around the loop."""
        index %= len(self.frames)
        return next((k for k in self.keyframes if k >= index), self.keyframes[0])


@dataclass(frozen=True, slots=True)
class Clip:
    layers: tuple[VideoClip, ...]  # in LAYER_SPECS order
    audio: tuple[bytes, ...]


def is_vp8_keyframe(frame: bytes) -> bool:
    return bool(frame) and not frame[0] & 1


_RAMP = bytes(i % 256 for i in range(4096 + 2048))


def _plane(width: int, height: int, line: int, shift: int, slope: int) -> bytes:
    """A diagonal gradient moving with ``shift``; rows padded to the plane's ``line`` size."""
    pad = b"\x80" * (line - width)
    return b"".join(_RAMP[(y * slope + shift) % 2048 :][:width] + pad for y in range(height))


def _frame(spec: LayerSpec, index: int) -> av.VideoFrame:
    """A moving gradient with a bouncing block of noise: enough motion for a realistic rate."""
    frame = av.VideoFrame(spec.width, spec.height, "yuv420p")
    for plane_index, plane in enumerate(frame.planes):
        div = 1 if plane_index == 0 else 2
        width, height = spec.width // div, spec.height // div
        data = bytearray(_plane(width, height, plane.line_size, index * 4 * (plane_index + 1), 2))
        if plane_index == 0:
            size = height // 8
            bx = int((width - size) * (0.5 + 0.5 * math.sin(index / 15)))
            by = int((height - size) * (0.5 + 0.5 * math.cos(index / 11)))
            for y in range(by, by + size):
                start = y * plane.line_size + bx
                data[start : start + size] = os.urandom(size)
        plane.update(bytes(data))
    return frame


def _encode_vp8(spec: LayerSpec) -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = spec.width, spec.height, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.framerate = Fraction(FPS, 1)
    codec.bit_rate = spec.bitrate
    codec.gop_size = GOP_FRAMES
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "maxrate": str(spec.bitrate),
        "minrate": str(spec.bitrate),
        "bufsize": str(spec.bitrate),
        "qmax": "63",
    }
    frames: list[bytes] = []
    for index in range(CLIP_FRAMES):
        frame = _frame(spec, index)
        frame.pts = index
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    return frames


def _encode_opus() -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48_000, "stereo", "s16"
    codec.bit_rate = 32_000
    packets: list[bytes] = []
    for index in range(AUDIO_FRAMES):
        samples = array.array("h")
        for n in range(AUDIO_FRAME_SAMPLES):
            value = int(
                8000 * math.sin(2 * math.pi * 440 * (index * AUDIO_FRAME_SAMPLES + n) / 48_000)
            )
            samples.extend((value, value))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate, frame.pts = 48_000, index * AUDIO_FRAME_SAMPLES
        packets.extend(bytes(p) for p in codec.encode(frame))
    return packets[:AUDIO_FRAMES]


def write_ivf(path: Path, spec: LayerSpec, frames: list[bytes]) -> None:
    header = struct.pack(
        "<4sHH4sHHIIII", b"DKIF", 0, 32, b"VP80", spec.width, spec.height, FPS, 1, len(frames), 0
    )
    chunks = [header] + [struct.pack("<IQ", len(f), i) + f for i, f in enumerate(frames)]
    path.write_bytes(b"".join(chunks))


def read_ivf(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if data[:4] != b"DKIF":
        raise ValueError(f"{path}: not an IVF file")
    offset, frames = struct.unpack_from("<H", data, 6)[0], []
    while offset + 12 <= len(data):
        size = struct.unpack_from("<I", data, offset)[0]
        frames.append(data[offset + 12 : offset + 12 + size])
        offset += 12 + size
    return frames


def _write_frames(path: Path, frames: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack("<H", len(f)) + f for f in frames))


def _read_frames(path: Path) -> list[bytes]:
    data, offset, frames = path.read_bytes(), 0, []
    while offset + 2 <= len(data):
        size = struct.unpack_from("<H", data, offset)[0]
        frames.append(data[offset + 2 : offset + 2 + size])
        offset += 2 + size
    return frames


def load_clip(cache_dir: Path) -> Clip:
    """The cached clip, encoding (a few seconds of CPU, once) whatever is missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    layers = []
    for spec in LAYER_SPECS:
        name = f"vp8-{spec.width}x{spec.height}-{spec.bitrate // 1000}k-v{CACHE_VERSION}.ivf"
        path = cache_dir / name
        if not path.exists():
            partial = path.with_suffix(".part")
            write_ivf(partial, spec, _encode_vp8(spec))
            partial.replace(path)
        frames = read_ivf(path)
        keys = tuple(i for i, f in enumerate(frames) if is_vp8_keyframe(f))
        if not keys:
            raise ValueError(f"{path}: no keyframe; delete it to re-encode")
        layers.append(VideoClip(tuple(frames), keys))
    audio_path = cache_dir / f"opus-48k-32k-v{CACHE_VERSION}.bin"
    if not audio_path.exists():
        partial = audio_path.with_suffix(".part")
        _write_frames(partial, _encode_opus())
        partial.replace(audio_path)
    return Clip(tuple(layers), tuple(_read_frames(audio_path)))
