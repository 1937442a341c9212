"""What a counting subscriber knows about each stream it receives: packets, frames, loss from
sequence gaps, freezes, interarrival jitter, end-to-end delay, and the simulcast layer (keyframe
height). Nothing is decoded. Time is passed in (monotonic nanoseconds).

This is the spec of ``load_tests/counting.pyx``, which runs it per packet without Python; the
tests run both.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from load_tests.rtp import one_byte_extension, read_rtp, vp8_keyframe_height
from load_tests.tally import DELAY_BIN_NS, StreamCount
from load_tests.transport_cc import feedback
from sfu.rtp.rtcp import build_transport_feedback

FREEZE_NS = 200_000_000  # Chrome counts a freeze at max(3x the mean frame interval, +150 ms)
CLOCK_RATES = {"audio": 48_000, "video": 90_000}
DELAY_BINS = 50_000  # of DELAY_BIN_NS: up to 5 s; the last bin holds everything later
ARRIVALS = 16_384  # transport-wide arrivals kept between two feedbacks; later ones are dropped


@dataclass(slots=True)
class StreamReport:
    """What a receiver report block says about one stream (RFC 3550 §6.4.1), cumulatively."""

    ssrc: int
    packets: int
    expected: int
    highest: int  # extended highest sequence number
    jitter: int  # in RTP timestamp units


class DelayHistogram:
    """End-to-end delays of every packet of a process's window, in 0.1 ms bins: a percentile
    over all packets without keeping one value per packet."""

    def __init__(self) -> None:
        self.bins = array("q", bytes(8 * DELAY_BINS))

    def add(self, delay_ns: int) -> None:
        self.bins[min(max(delay_ns, 0) // DELAY_BIN_NS, DELAY_BINS - 1)] += 1

    def nonzero(self) -> dict[int, int]:
        """Bin index -> count, for the bins that hold something."""
        return {index: n for index, n in enumerate(self.bins) if n}


@dataclass(slots=True)
class StreamStats:
    ssrc: int
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
    jitter: float = 0.0  # RTP timestamp units, RFC 3550 A.8
    transit: int | None = None
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

    def on_timing(self, rtp_ts: int, now_ns: int) -> None:
        arrival = now_ns // 1000 * CLOCK_RATES[self.kind] // 1_000_000
        transit = (arrival - rtp_ts) & 0xFFFFFFFF
        if self.transit is not None:
            d = abs(((transit - self.transit + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            self.jitter += (d - self.jitter) / 16
        self.transit = transit

    def mark_window(self) -> None:
        self.base_packets, self.base_expected = self.packets, self.expected
        self.base_bytes, self.base_frames = self.bytes, self.frames


@dataclass
class Receiver:
    """All streams of one subscribe connection; delays go to the process's ``delays``.

    With ``transport_cc_id`` set (the negotiated extension id), every RTP packet's
    transport-wide seq and arrival are kept for the connection's transport-cc feedback, as a
    browser keeps them for its own: whatever the stream, padding and probes included. The
    extension block is then read, so a malformed one makes the packet malformed.
    """

    delays: DelayHistogram
    kinds: dict[int, str] = field(default_factory=dict)  # payload type -> kind
    streams: dict[int, StreamStats] = field(default_factory=dict)
    recording: bool = False
    first_packet_ns: int = 0
    malformed: int = 0
    transport_cc_id: int = 0
    transport_cc_overflow: int = 0  # arrivals dropped: ARRIVALS were waiting for feedback
    _arrivals: list[tuple[int, int]] = field(default_factory=list, init=False, repr=False)
    _next_seq: int | None = field(default=None, init=False, repr=False)
    _feedbacks: int = field(default=0, init=False, repr=False)

    def add_kinds(self, kinds: dict[int, str]) -> None:
        self.kinds.update(kinds)

    def on_rtp(self, data: bytes, now_ns: int) -> None:
        try:
            view = read_rtp(data)
        except ValueError:
            self.malformed += 1
            return
        if self.transport_cc_id:
            try:
                value = one_byte_extension(data, self.transport_cc_id)
            except ValueError:
                self.malformed += 1
                return
            if value is not None and len(value) == 2:
                if len(self._arrivals) < ARRIVALS:
                    self._arrivals.append((int.from_bytes(value), now_ns // 1000))
                else:
                    self.transport_cc_overflow += 1
        stream = self.streams.get(view.ssrc)
        if stream is None:
            kind = self.kinds.get(view.pt)
            if kind is None:  # padding or a probe on another payload type
                return
            stream = self.streams[view.ssrc] = StreamStats(view.ssrc, kind)
            if not self.first_packet_ns:
                self.first_packet_ns = now_ns
        stream.packets += 1
        stream.bytes += len(data)
        stream.on_seq(view.seq)
        stream.on_timing(view.ts, now_ns)
        if self.recording and view.send_ns:
            self.delays.add(now_ns - view.send_ns)
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

    def take_arrivals(self) -> list[tuple[int, int]]:
        """(transport seq, arrival µs) of each packet since the last call, in arrival order."""
        taken, self._arrivals = self._arrivals, []
        return taken

    def transport_feedback(self, sender_ssrc: int, media_ssrc: int) -> list[bytes]:
        """RTCP transport-cc feedback on the packets received since the last call: the first
        from the lowest seq received, each later one from the first seq not yet reported
        (``load_tests.transport_cc.feedback``); none when nothing arrived."""
        packets = feedback(
            self.take_arrivals(),
            self._next_seq,
            self._feedbacks,
            sender_ssrc=sender_ssrc,
            media_ssrc=media_ssrc,
        )
        if packets:
            last = packets[-1]
            self._next_seq = (last.base_seq + len(last.arrivals)) & 0xFFFF
            self._feedbacks = (last.feedback_count + 1) & 0xFF
        return [build_transport_feedback(packet) for packet in packets]

    def start_window(self) -> None:
        self.recording = True
        for stream in self.streams.values():
            stream.mark_window()

    def stop(self) -> None:
        self.recording = False

    def window(self) -> list[StreamCount]:
        """Each stream's counts since ``start_window``."""
        return [
            StreamCount(
                kind=s.kind,
                height=s.height,
                packets=s.packets - s.base_packets,
                bytes=s.bytes - s.base_bytes,
                expected=s.expected - s.base_expected,
                frames=s.frames - s.base_frames,
                freezes=s.freezes,
                layer_switches=s.layer_switches,
            )
            for s in self.streams.values()
        ]

    def reports(self) -> list[StreamReport]:
        return [
            StreamReport(s.ssrc, s.packets, s.expected, s.highest, int(s.jitter))
            for s in self.streams.values()
        ]
