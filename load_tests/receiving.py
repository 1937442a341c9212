"""What a counting subscriber knows about each stream it receives: packets, frames, loss from
sequence gaps, freezes, end-to-end delay, and the simulcast layer (keyframe height). Nothing is
decoded. Time is passed in (monotonic nanoseconds)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from load_tests.rtp import read_rtp, vp8_keyframe_height

FREEZE_NS = 200_000_000  # Chrome counts a freeze at max(3x the mean frame interval, +150 ms)


@dataclass(slots=True)
class StreamStats:
    kind: str
    packets: int = 0
    bytes: int = 0
    frames: int = 0
    freezes: int = 0
    layer_switches: int = 0
    height: int = 0
    first_seq: int = -1
    highest: int = -1  # extended sequence number
    last_frame_ns: int = 0
    # counters at the start of the measurement window
    base_packets: int = 0
    base_expected: int = 0
    base_bytes: int = 0
    base_frames: int = 0

    @property
    def expected(self) -> int:
        return 0 if self.first_seq < 0 else self.highest - self.first_seq + 1

    def on_seq(self, seq: int) -> None:
        if self.highest < 0:
            self.first_seq = self.highest = seq
            return
        delta = (seq - self.highest) & 0xFFFF
        if 0 < delta < 0x8000:
            self.highest += delta

    def mark_window(self) -> None:
        self.base_packets, self.base_expected = self.packets, self.expected
        self.base_bytes, self.base_frames = self.bytes, self.frames


@dataclass
class Receiver:
    """All streams of one subscribe connection. ``kinds`` maps payload type to kind."""

    kinds: dict[int, str] = field(default_factory=dict)
    streams: dict[int, StreamStats] = field(default_factory=dict)
    delays_ms: array[float] = field(default_factory=lambda: array("d"))
    recording: bool = False
    first_packet_ns: int = 0
    malformed: int = 0

    def on_rtp(self, data: bytes, now_ns: int) -> None:
        try:
            view = read_rtp(data)
        except ValueError:
            self.malformed += 1
            return
        stream = self.streams.get(view.ssrc)
        if stream is None:
            kind = self.kinds.get(view.pt)
            if kind is None:  # padding or a probe on another payload type
                return
            stream = self.streams[view.ssrc] = StreamStats(kind)
            if not self.first_packet_ns:
                self.first_packet_ns = now_ns
        stream.packets += 1
        stream.bytes += len(data)
        stream.on_seq(view.seq)
        if self.recording and view.send_ns:
            self.delays_ms.append((now_ns - view.send_ns) / 1e6)
        if stream.kind != "video":
            stream.frames += 1
            return
        height = vp8_keyframe_height(data, view.payload_start)
        if height is not None and height != stream.height:
            stream.layer_switches += int(stream.height != 0)
            stream.height = height
        if view.marker:
            if (
                self.recording
                and stream.last_frame_ns
                and now_ns - stream.last_frame_ns > FREEZE_NS
            ):
                stream.freezes += 1
            stream.frames += 1
            stream.last_frame_ns = now_ns

    def start_window(self) -> None:
        self.recording = True
        for stream in self.streams.values():
            stream.mark_window()
