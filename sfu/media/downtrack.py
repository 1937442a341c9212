"""One subscription: a published track forwarded to one subscriber as one seamless stream.

Per packet, one call to the ``Forwarder`` kernel decides whether the packet goes, renumbers it
(sequence, timestamp, VP8 picture ids), rewrites its header (SSRC, payload type, extensions
with the subscriber's ids) and remembers that numbering for NACKs; the layer's ``fan_out`` does
that for all of a track's subscriptions in one compiled loop and hands the rest to ``handle``.
What stays in Python is rare: layer switches (timestamps aligned by sender reports), keyframe
requests, pausing, resends (rewritten again from the layer's store). Which layer to aim for is
decided elsewhere (``Allocator``) and handed in with ``set_target``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import MediaLine
from sfu.media.history_py import HISTORY_SIZE
from sfu.media.kernels import Forwarder, RtpPacket, StreamStats
from sfu.media.selector import NO_LAYER, SWITCH, fallback_layer
from sfu.media.transport import MediaSink
from sfu.rtp.kernels import wrap_rtx
from sfu.rtp.rtcp import SenderReport, build_sr, ntp_middle32, round_trip_ms
from sfu.rtp.seqnum import diff32

# Keyframe requests go out every 500 ms while waiting; after this long we stop waiting.
KEYFRAME_WAIT_MS = 3_000
# The most padding one packet can carry (its count is one byte): fewest packets per probe
PADDING_SIZE = 255
# A source taking over an m-line starts this fraction of a second after the last one's last
# packet in RTP time (one frame at 30 fps): the wall time between them is not known here.
SOURCE_GAP = 30


class TrackSource(Protocol):
    """What a subscription uses of its published track (``TrackReceiver`` is one)."""

    @property
    def layer_count(self) -> int: ...

    @property
    def stats(self) -> Sequence[StreamStats]:
        """Per layer: the publisher's sender reports map its RTP time to its NTP clock."""

    @property
    def downtracks(self) -> list[DownTrack[Any]]: ...

    def active_layers(self, now_ms: int) -> list[bool]: ...

    def arrived_before(self, packet: RtpPacket) -> list[RtpPacket]: ...

    def stored(self, layer: int, ext_seq: int) -> RtpPacket | None: ...

    def request_keyframe(self, layer: int, now_ms: int) -> None: ...

    def refresh_needed(self, now_ms: int) -> None:
        """Dynacast: tell the publisher which layers its subscriptions receive or wait for."""


# The source's own type, for its owner (the subscription itself needs only a TrackSource).
S = TypeVar("S", bound=TrackSource)


class DownTrack(Generic[S]):
    """Forwards one ``TrackSource`` to one subscriber's ``MediaSink``.

    ``forwarder_class`` is the kernel implementation, for tests that run both; production uses
    the one sfu.media.kernels selects.
    """

    __slots__ = (  # forwarder is read per packet by the compiled fan-out: slots are fastest
        "_continues",
        "_counters",
        "_cut_layer",
        "_last_sr",
        "_on_layer",
        "_rtx_seq",
        "_sink",
        "_waiting_since_ms",
        "allocated",
        "closed",
        "congestion_cuts",
        "forwarder",
        "keyframe_timeouts",
        "line",
        "receiver",
        "switches",
    )

    forwarder: Forwarder

    def __init__(
        self,
        receiver: S,
        sink: MediaSink,
        line: MediaLine,
        *,
        initial_layer: int,
        counters: MediaCounters,
        on_layer: Callable[[DownTrack[S]], None],
        forwarder_class: type[Forwarder] = Forwarder,
        continues: DownTrack[Any] | None = None,
    ) -> None:
        """``continues``: the down track this one takes over the same m-line and SSRC from
        (another source, on a WHEP player that cannot renegotiate). It goes on sending until this
        one's first keyframe, from which this one numbers on from its last packet, so the
        receiver sees one stream without a gap; the owner closes it then (``on_layer``)."""
        self.receiver = receiver
        self.line = line
        self._sink = sink
        self._counters = counters
        self._on_layer = on_layer
        self.allocated = min(initial_layer, receiver.layer_count - 1)
        ext = line.extensions
        self._continues = continues
        self.closed = False
        # Start below 2**15 so the subscriber's SRTP rollover counter is never ambiguous.
        first_seq, first_ts = random.randint(1, 0x7FFF), random.getrandbits(32)
        self._rtx_seq = random.randint(1, 0x7FFF)  # our RTX stream's, when negotiated
        self.forwarder = forwarder_class(
            ssrc=line.ssrc,
            payload_type=line.payload_type,
            mid_id=ext.mid,
            mid=line.mid.encode(),
            abs_send_time_id=ext.abs_send_time,
            audio_level_id=ext.audio_level,
            transport_cc_id=ext.transport_cc,
            clock_rate=line.clock_rate,
            first_seq=first_seq,
            first_ts=first_ts,
            target=self.allocated,
            send_rtp=sink.send_rtp,
            # a stream the subscriber cannot NACK (Opus) keeps a slot, not 16 KB
            history_size=HISTORY_SIZE if line.nack else 1,
        )
        self.switches = 0
        self.keyframe_timeouts = 0
        self.congestion_cuts = 0  # layers stopped before the next one's keyframe (congestion)
        self._cut_layer = NO_LAYER
        self._waiting_since_ms = -1
        self._last_sr = (0, 0)  # the compact NTP time of our last SR, and when we sent it

    @property
    def ssrc(self) -> int:
        return self.line.ssrc

    @property
    def packets_sent(self) -> int:
        return self.forwarder.packets_sent

    @property
    def octets_sent(self) -> int:
        return self.forwarder.octets_sent

    def write(self, packet: RtpPacket, now_ms: int) -> None:
        """One packet of the track (the layer's fan-out does the common cases for all
        subscriptions, and hands the rest to ``handle``)."""
        out = self.forwarder.forward(packet, now_ms)
        if isinstance(out, bytes):
            self._send(out)
        else:
            self.handle(out, packet, now_ms)

    def _send(self, out: bytes) -> None:
        if self.forwarder.send(out):
            self._counters.packets_out += 1
            self._counters.bytes_out += len(out)

    def handle(self, code: int, packet: RtpPacket, now_ms: int) -> None:
        """The forwarder's verdict on ``packet`` when it was not sent: ``SWITCH`` or a drop."""
        if code == SWITCH:
            self._switch(packet, now_ms)
            return
        if packet.layer == self._cut_layer:  # reordered behind a congestion cut?
            late = self.forwarder.forward_late(packet, now_ms)
            if late is not None:
                self._send(late)
                return
        self._drop(code, now_ms)

    def _switch(self, keyframe: RtpPacket, now_ms: int) -> None:
        """Start the target layer at its keyframe, then send it and what arrived before it."""
        if not self._sink.connected:
            self._counters.drop(DropReason.TRANSPORT_NOT_READY)
            return
        old = self.forwarder.current if self.forwarder.current != NO_LAYER else self._cut_layer
        aligned = -1 if old == NO_LAYER else self._aligned_timestamp(old, keyframe)
        self._cut_layer = NO_LAYER
        if self._continues is not None:  # taking over the m-line: number on from its last
            before = self._continues
            self._continues = None
            self.forwarder.rebase(
                before.forwarder.last_seq + 1,
                (before.forwarder.last_ts + self.line.clock_rate // SOURCE_GAP) & 0xFFFFFFFF,
            )
            self._rtx_seq = before._rtx_seq
        self.forwarder.switch(
            keyframe.ext_seq,
            keyframe.timestamp,
            keyframe.picture_id,
            keyframe.tl0picidx,
            now_ms,
            aligned,
        )
        self.switches += 1
        self._waiting_since_ms = -1
        # the new layer's keyframe makes everything sent before it useless to resend
        self.forwarder.history.forget_before((self.forwarder.last_seq + 1) & 0xFFFF)
        self._on_layer(self)
        self.write(keyframe, now_ms)
        for early in self.receiver.arrived_before(keyframe):
            self.write(early, now_ms)  # reordered ahead of the keyframe: not a loss

    def _aligned_timestamp(self, old: int, keyframe: RtpPacket) -> int:
        """The output timestamp of this keyframe's capture time on the old layer's timeline,
        or -1 without sender reports of both layers.

        Layers have unrelated RTP timestamp origins; the publisher's sender reports map each
        to its NTP clock, which is common to all of them.
        """
        old_stats, new_stats = self.receiver.stats[old], self.receiver.stats[keyframe.layer]
        if old_stats.last_sr_at_ms < 0 or new_stats.last_sr_at_ms < 0:
            return -1
        # on_old = old SR's RTP time + (this packet's NTP time - old SR's NTP time) * rate
        since_new_sr = diff32(keyframe.timestamp, new_stats.last_sr_rtp)
        sr_gap = new_stats.last_sr_ntp - old_stats.last_sr_ntp
        gap_ticks = (sr_gap * self.line.clock_rate + (1 << 31)) >> 32  # NTP is 32.32 fixed point
        on_old = old_stats.last_sr_rtp + since_new_sr + gap_ticks
        return (on_old + self.forwarder.ts_offset) & 0xFFFFFFFF

    def _drop(self, code: int, now_ms: int) -> None:
        """Count the drop; while the target's keyframe is awaited, ask the publisher for it."""
        reason = DropReason.of(code)
        self._counters.drop(reason)
        if reason is DropReason.WAITING_FOR_KEYFRAME:
            if not self._sink.connected:
                return
        elif reason is not DropReason.LAYER_NOT_SELECTED or not self.forwarder.waiting:
            return
        if self._waiting_since_ms < 0:
            self._waiting_since_ms = now_ms
        self.receiver.request_keyframe(self.forwarder.target, now_ms)

    def set_target(self, layer: int, now_ms: int, *, congested: bool = False) -> None:
        """The allocator's decision; ``NO_LAYER`` pauses the subscription.

        A step down for congestion stops the current layer now instead of at the lower layer's
        keyframe: its packets would only fill the queue the lower layer's keyframe waits in.
        A layer new to the publisher's list is asked for (dynacast) before we aim: once asked
        for, a paused layer counts as coming, so the subscription waits for it instead of
        switching to another layer first (two switches, two keyframes).
        """
        if layer != self.allocated:
            self.allocated = layer
            self.receiver.refresh_needed(now_ms)
        current = self.forwarder.current
        if congested and NO_LAYER != layer < current:
            self.forwarder.pause()
            self._cut_layer = current  # its timeline still leads to the next layer's
            self.congestion_cuts += 1
        self._aim(now_ms)

    def _aim(self, now_ms: int) -> None:
        """Aim the forwarder at the allocated layer, or the nearest one the publisher sends."""
        target = fallback_layer(self.allocated, self.receiver.active_layers(now_ms))
        if target == self.forwarder.target:
            return
        if target == NO_LAYER:
            self.forwarder.pause()
            self._on_layer(self)
            return
        self.forwarder.target = target
        self._waiting_since_ms = -1
        if self._sink.connected:
            self.receiver.request_keyframe(target, now_ms)

    def retransmit(self, fci: bytes, now_ms: int) -> None:
        """Answer a generic NACK (its FCI) from the layers' stores, each packet rewritten as it
        was sent (the publisher is not asked): capped, rationed and rate-limited by the history,
        the refusals counted here."""
        forwarder = self.forwarder
        resends, over_limit, rate_limited = forwarder.history.answer(fci, now_ms)
        for layer, ext_seq, seq, timestamp, picture_id, tl0picidx in resends:
            packet = self.receiver.stored(layer, ext_seq)
            if packet is None:  # the layer's store moved on (or the layer was re-bound)
                continue
            out = forwarder.rewrite(packet, seq, timestamp, picture_id, tl0picidx, now_ms)
            if self.line.rtx_payload_type and self.line.rtx_ssrc:  # a resend the receiver
                # can tell from the original (its stats, its bandwidth estimate)
                out = wrap_rtx(out, self.line.rtx_payload_type, self._rtx_seq, self.line.rtx_ssrc)
                self._rtx_seq += 1
            if self._sink.send_rtp(out):
                self._counters.retransmits += 1
        if over_limit:
            self._counters.drop(DropReason.NACK_OVER_LIMIT, over_limit)
        if rate_limited:
            self._counters.drop(DropReason.NACK_RATE_LIMITED, rate_limited)

    def send_padding(self, now_ms: int) -> bool:
        """Send one padding-only packet (PADDING_SIZE bytes of padding) of a bandwidth probe,
        numbered into this stream; False when none can go now (mid-frame, nothing sent)."""
        out = self.forwarder.pad(PADDING_SIZE, now_ms)
        return out is not None and self.forwarder.send(out)

    def request_keyframe(self, now_ms: int) -> None:
        """The subscriber asked (PLI/FIR): relay to the layer it is getting or waiting for."""
        layer = (
            self.forwarder.current if self.forwarder.current != NO_LAYER else self.forwarder.target
        )
        self.receiver.request_keyframe(layer, now_ms)

    def tick(self, now_ms: int) -> None:
        """Once a second: follow layers that stopped or came back, give up a keyframe that does
        not come (keep the old layer), and send a sender report."""
        if (
            self.forwarder.waiting
            and self.forwarder.current != NO_LAYER
            and self._waiting_since_ms >= 0
            and now_ms - self._waiting_since_ms > KEYFRAME_WAIT_MS
        ):
            self.keyframe_timeouts += 1
            self.forwarder.target = self.forwarder.current
            self._waiting_since_ms = -1
        else:
            self._aim(now_ms)
        report = self._sender_report(now_ms)
        if report is not None and self._sink.send_rtcp(build_sr(report)):
            self._last_sr = (ntp_middle32(report.ntp), now_ms)

    def round_trip_ms(self, lsr: int, dlsr: int, now_ms: int) -> int | None:
        """The round trip a receiver report block about our stream gives, if it echoes our last
        SR: our SRs carry the publisher's NTP time, so "now" on that clock is the SR's time
        advanced by the wall time since we sent it."""
        sr_ntp, sent_ms = self._last_sr
        if lsr == 0 or lsr != sr_ntp:
            return None
        return round_trip_ms(lsr, dlsr, (sr_ntp + ((now_ms - sent_ms) << 16) // 1000) & 0xFFFFFFFF)

    def _sender_report(self, now_ms: int) -> SenderReport | None:
        """An SR in the publisher's NTP time base, so the subscriber can lip-sync audio and video.

        The publisher's last SR for the layer being sent maps its NTP clock to RTP time; both are
        extrapolated to now and the RTP time is shifted by our timestamp offset.
        """
        layer = self.forwarder.current
        if layer == NO_LAYER or not self.packets_sent:
            return None
        stats = self.receiver.stats[layer]
        if stats.last_sr_at_ms < 0:
            return None
        elapsed_ms = now_ms - stats.last_sr_at_ms
        ntp = stats.last_sr_ntp + (elapsed_ms << 32) // 1000
        rtp = (
            stats.last_sr_rtp + elapsed_ms * self.line.clock_rate // 1000 + self.forwarder.ts_offset
        )
        return SenderReport(
            self.ssrc, ntp, rtp & 0xFFFFFFFF, self.packets_sent, self.octets_sent, ()
        )

    def close(self) -> None:
        self.closed = True
        self._continues = None
        if self in self.receiver.downtracks:
            self.receiver.downtracks.remove(self)
