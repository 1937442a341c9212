"""What a synthetic publisher sends: the cached clip replayed in real time as RTP, three simulcast
layers (each its own SSRC, named by the rid header extension) plus Opus.

A keyframe request for a layer makes that layer jump to the next keyframe of its loop at the next
frame, throttled like a real encoder. Building packets is pure (time passed in); sending is the
caller's business.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from load_tests.clip import FPS, LAYER_SPECS, Clip, VideoClip
from load_tests.rtp import build_rtp, build_sr, one_byte_extensions, stamp, vp8_payloads

VIDEO_TS_STEP = 90_000 // FPS
AUDIO_TS_STEP = 960
KEYFRAME_MIN_INTERVAL_NS = 300_000_000


@dataclass(frozen=True, slots=True)
class SendParams:
    """What negotiation decided: payload types, extension ids and mids (None: not sent)."""

    video_pt: int | None
    audio_pt: int | None
    video_mid: str
    audio_mid: str
    audio_ssrc: int | None  # as the offer declared it (video layers are named by rid instead)
    mid_ext: int
    rid_ext: int | None  # None: a single layer, no rid
    rids: tuple[str, ...]  # layers sent, lowest first


@dataclass(slots=True)
class _Stream:
    ssrc: int = field(default_factory=lambda: random.getrandbits(32) or 1)
    seq: int = field(default_factory=lambda: random.getrandbits(15))
    ts: int = field(default_factory=lambda: random.getrandbits(32))
    packets: int = 0
    octets: int = 0


@dataclass(slots=True)
class _Layer:
    clip: VideoClip
    extensions: bytes
    stream: _Stream = field(default_factory=_Stream)
    position: int = 0
    picture_id: int = field(default_factory=lambda: random.getrandbits(15))
    want_keyframe: bool = False
    last_keyframe_ns: int = 0
    active: bool = True


class MediaSource:
    def __init__(self, clip: Clip, params: SendParams) -> None:
        self.params = params
        self.layers: list[_Layer] = []
        if params.video_pt is not None:
            mid = params.video_mid.encode()
            names = [spec.rid for spec in LAYER_SPECS]
            for rid in params.rids:
                items = [(params.mid_ext, mid)]
                if params.rid_ext is not None:
                    items.append((params.rid_ext, rid.encode()))
                self.layers.append(
                    _Layer(clip.layers[names.index(rid)], one_byte_extensions(items))
                )
        self.audio_frames = clip.audio
        self.audio = _Stream() if params.audio_ssrc is None else _Stream(ssrc=params.audio_ssrc)
        self.audio_position = 0
        self.audio_extensions = one_byte_extensions([(params.mid_ext, params.audio_mid.encode())])
        self.keyframe_requests = 0
        self.nacks = 0

    @property
    def ssrcs(self) -> list[int]:
        return [layer.stream.ssrc for layer in self.layers]

    def request_keyframe(self, ssrc: int) -> None:
        self.keyframe_requests += 1
        for layer in self.layers:
            if layer.stream.ssrc == ssrc:
                layer.want_keyframe = True

    def set_active(self, rids: list[str]) -> None:
        """Dynacast, as the bundled web client applies it: send only these layers, and the lowest
        always; a layer that starts again starts with a keyframe, as an encoder's does."""
        for n, (rid, layer) in enumerate(zip(self.params.rids, self.layers, strict=True)):
            active = n == 0 or rid in rids
            if active and not layer.active:
                layer.position = layer.clip.next_keyframe(layer.position)
            layer.active = active

    def video_frame(self, now_ns: int) -> list[bytes]:
        """The packets of the next frame of every active layer (a paused layer's clip and
        timestamps go on, as a camera's do)."""
        pt = self.params.video_pt
        if pt is None:
            return []
        out: list[bytes] = []
        for layer in self.layers:
            if not layer.active:
                layer.stream.ts = (layer.stream.ts + VIDEO_TS_STEP) & 0xFFFFFFFF
                layer.position += 1
                continue
            if layer.want_keyframe and now_ns - layer.last_keyframe_ns > KEYFRAME_MIN_INTERVAL_NS:
                layer.position = layer.clip.next_keyframe(layer.position)
                layer.want_keyframe = False
            index = layer.position % len(layer.clip.frames)
            if index in layer.clip.keyframes:
                layer.last_keyframe_ns = now_ns
            frame = layer.clip.frames[index]
            stream = layer.stream
            payloads = list(vp8_payloads(frame, layer.picture_id))
            for n, payload in enumerate(payloads):
                packet = build_rtp(
                    pt,
                    stream.seq,
                    stream.ts,
                    stream.ssrc,
                    n == len(payloads) - 1,
                    layer.extensions,
                    stamp(payload, now_ns),
                )
                stream.seq = (stream.seq + 1) & 0xFFFF
                stream.packets += 1
                stream.octets += len(payload)
                out.append(packet)
            stream.ts = (stream.ts + VIDEO_TS_STEP) & 0xFFFFFFFF
            layer.picture_id = (layer.picture_id + 1) & 0x7FFF
            layer.position += 1
        return out

    def audio_frame(self, now_ns: int) -> bytes | None:
        pt, stream = self.params.audio_pt, self.audio
        if pt is None:
            return None
        payload = self.audio_frames[self.audio_position % len(self.audio_frames)]
        self.audio_position += 1
        packet = build_rtp(
            pt,
            stream.seq,
            stream.ts,
            stream.ssrc,
            False,
            self.audio_extensions,
            stamp(payload, now_ns),
        )
        stream.seq = (stream.seq + 1) & 0xFFFF
        stream.ts = (stream.ts + AUDIO_TS_STEP) & 0xFFFFFFFF
        stream.packets += 1
        stream.octets += len(payload)
        return packet

    def sender_reports(self, wall_s: float) -> list[bytes]:
        """A sender report for every stream that has sent something, each in its own packet as
        browsers send them: Janus reads a compound as the first sender's and drops it whole when
        a later SR has another SSRC ("Incoming RTCP SR SSRC does not match")."""
        streams = [layer.stream for layer in self.layers]
        if self.params.audio_pt is not None:
            streams.append(self.audio)
        return [build_sr(s.ssrc, wall_s, s.ts, s.packets, s.octets) for s in streams if s.packets]

    @property
    def packets_sent(self) -> int:
        return sum(layer.stream.packets for layer in self.layers) + self.audio.packets
