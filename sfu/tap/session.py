"""One tap WebSocket: a bot authenticated by a join token with the `hidden` grant joins a room
unseen and receives its audio as PCM frames, with JSON events (docs/tap.md).

The tap is a hidden member of the room (a `MemberHandle`): for each published audio track it
adds a down track whose sink is a `TapSink`, which only queues the forwarded packet. A ticker
decodes, resamples and mixes every frame period; frames wait for the bot in a `Backlog` that
drops the oldest when full, and a bot that reads nothing for `stall_s` is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from cluster.models import new_id
from cluster.tokens import JoinClaims
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.rooms.events import (
    MemberJoined,
    MemberLeft,
    RoomEvent,
    SpeakersChanged,
    TracksPublished,
    TracksUnpublished,
)
from sfu.rooms.member import Member, Track
from sfu.rooms.room import Room
from sfu.rtp.kernels import parse_rtp
from sfu.signaling import close_codes
from sfu.signaling.admission import Refusal, replace_identity
from sfu.signaling.session import Refused, TokenCheck, bearer_token, describe, receive_text
from sfu.tap.backlog import Backlog, TapCounters
from sfu.tap.wire import (
    CONTROL,
    KIND_AUDIO,
    MAX_CONTROL_BYTES,
    MIX_INDEX,
    Clear,
    Start,
    decode_frame,
    encode_frame,
    samples_per_frame,
)

if TYPE_CHECKING:
    from sfu.tap.audio import TrackAudio
    from sfu.tap.voice import BotVoice

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
INBOX_PACKETS = 50  # forwarded packets a track may hold between two ticks (1 s of Opus)
OPUS_PAYLOAD_TYPE = 111
MAX_VOICE_S = 30  # a bot's audio waiting to be played, beyond which its frames are dropped


@dataclass(frozen=True, slots=True)
class TapLimits:
    backlog_frames: int = 50  # frames waiting for the bot, beyond which the oldest are dropped
    stall_s: float = 10.0  # a bot that reads nothing this long while frames wait is cut off


class TapSink:
    """A down track's `MediaSink` that keeps the forwarded Opus packets for the ticker: on the
    packet path, only an append."""

    connected = True

    def __init__(self) -> None:
        self._inbox: deque[tuple[bytes, float]] = deque(maxlen=INBOX_PACKETS)

    def send_rtp(self, data: bytes) -> bool:
        self._inbox.append((data, time.time() * 1000))
        return True

    def received(self) -> Iterator[tuple[bytes, int, float]]:
        """What arrived since: (Opus payload, RTP timestamp, Unix ms it arrived), in order."""
        while self._inbox:
            data, arrival_ms = self._inbox.popleft()
            try:
                parsed = parse_rtp(data, 0, 0, 0, 0)
            except ValueError:
                continue
            yield data[parsed[5] : parsed[6]], parsed[3], arrival_ms

    def send_rtcp(self, data: bytes) -> bool:
        return True


@dataclass(slots=True)
class Tapped:
    index: int
    track: Track
    sink: TapSink
    downtrack: DownTrack[TrackReceiver]
    audio: TrackAudio


class TapSession:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        admit: Callable[[JoinClaims], Awaitable[Room | Refusal]],
        tokens: TokenCheck,
        counters: TapCounters,
        limits: TapLimits,
    ) -> None:
        self._ws = websocket
        self._admit = admit
        self._tokens = tokens
        self._counters = counters
        self._limits = limits
        self._media = MediaCounters()  # the tap's own: its packets are not forwarded traffic
        self._events: deque[str] = deque()
        self._frames: Backlog[bytes] = Backlog(limits.backlog_frames, round(limits.stall_s * 1000))
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._close: tuple[int, str] = (close_codes.NORMAL, "bye")
        self._room: Room | None = None
        self._member: Member | None = None
        self._start: Start | None = None
        self._tapped: dict[str, Tapped] = {}  # by track id
        self._next_index = MIX_INDEX + 1
        self._voice: BotVoice | None = None
        self._overflowing = False
        self._refused_audio = False  # the bot was told its frames are not heard
        # the bot's voice enters the room as a publisher's packets would
        self._ingress = PublisherIngress(self._media, remb_bps=0, repair=False)

    async def run(self) -> None:
        await self._ws.accept()
        try:
            claims = self._authenticate()
            self._start = await self._await_start()
            await self._enter(claims)
        except Refused as refused:
            with contextlib.suppress(Exception):
                await self._ws.close(refused.code, refused.reason[:120])
            return
        except WebSocketDisconnect:
            await self._leave()
            return
        self._counters.opened += 1
        tasks = [
            asyncio.create_task(self._write_loop()),
            asyncio.create_task(self._tick_loop()),
            asyncio.create_task(self._read_loop()),
        ]
        try:
            await self._closed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._leave()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(*self._close), 2)

    # MemberHandle

    async def room_event(self, event: RoomEvent) -> None:
        member = self._member
        match event:
            case MemberJoined(member=joined) if joined is member:
                assert self._room is not None and member is not None
                self._tap(self._room.tracks(besides=member))
            case MemberJoined(member=joined) if not joined.grants.hidden:
                self._event("participant_joined", participant=joined.identity)
            case MemberLeft(member=left) if left is member:
                self._stop()
            case MemberLeft(member=left, tracks=tracks):
                self._untap(tracks)
                if not left.grants.hidden:
                    self._event("participant_left", participant=left.identity)
            case TracksPublished(tracks=tracks):
                self._tap(tracks)
            case TracksUnpublished(tracks=tracks):
                self._untap(tracks)
                if member is not None and any(t.publisher is member for t in tracks):
                    self._voice = None  # the REST API took its publish grant
                    self._refused_audio = True  # told here: its frames are dropped unsaid
                    self._error("not_allowed", "publishing was revoked: the bot is not heard")
            case SpeakersChanged(speakers=speakers):
                self._event(
                    "speakers",
                    speakers=[
                        {
                            "participant": s.key.publisher.identity,
                            "track_id": s.key.id,
                            "index": self._tapped[s.key.id].index
                            if s.key.id in self._tapped
                            else None,
                            "level": s.level,
                        }
                        for s in speakers.active
                    ],
                )

    def disconnect(self, code: int, reason: str) -> None:
        self._close = (code, reason[:120])
        self._closed.set()

    # the handshake

    def _authenticate(self) -> JoinClaims:
        token = bearer_token(self._ws.headers) or self._ws.query_params.get("access_token")
        claims = self._tokens.verify(token)
        if not claims.grants.subscribe:
            raise Refused(close_codes.FORBIDDEN, "a tap needs a token with the subscribe grant")
        return claims

    async def _await_start(self) -> Start:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                text = await asyncio.wait_for(receive_text(self._ws), max(left, 0))
            except TimeoutError:
                raise Refused(close_codes.BAD_JOIN, "no valid start message in time") from None
            start = self._parse_control(text)
            if isinstance(start, Start):
                return start
            if start is not None:
                self._error("bad_state", "nothing to clear before the start")
            while self._events:
                await self._ws.send_text(self._events.popleft())

    def _parse_control(self, text: str) -> Start | Clear | None:
        if len(text.encode()) > MAX_CONTROL_BYTES:
            self._error("too_large", f"control message over {MAX_CONTROL_BYTES} bytes")
            return None
        try:
            return CONTROL.validate_json(text)
        except ValidationError as exc:
            self._error("bad_message", describe(exc, limit=200))
            return None

    async def _enter(self, claims: JoinClaims) -> None:
        room = await self._admit(claims)
        if isinstance(room, Refusal):
            raise Refused(room.code, room.reason)
        await replace_identity(room, claims.identity)
        start = self._start
        assert start is not None
        self._room = room
        self._member = Member.of_claims(claims)
        self._event(
            "started",
            room=room.name,
            mode=start.mode,
            sample_rate=start.sample_rate,
            channels=start.channels,
            frame_ms=start.frame_ms,
        )
        await room.join(self._member, self)
        if start.speak:
            await self._speak(room, self._member, start)

    async def _speak(self, room: Room, member: Member, start: Start) -> None:
        """Publish the bot's voice as its microphone: a track like any other, whose packets the
        ticker hands to the ingest kernel as if they had arrived from a client."""
        if not member.may_publish("microphone"):
            why = "the token does not allow publishing a microphone (publish grant, not hidden)"
            self._error("not_allowed", why)
            return
        from sfu.tap import voice  # PyAV and numpy: only for a bot that speaks

        frames = MAX_VOICE_S * 1000 // start.frame_ms
        self._voice = voice.BotVoice(
            start.sample_rate, samples_per_frame(start.sample_rate, start.frame_ms), frames
        )
        receiver = self._ingress.add_track(new_id("TR"), voice.LINE)
        track = Track(
            id=receiver.track_id,
            kind="audio",
            simulcast=(),
            source=receiver,
            publisher=member,
            capture="microphone",
        )
        await room.publish(member, [track])
        self._event("speaking", track_id=track.id)

    # streaming

    async def _read_loop(self) -> None:
        """After the start: the bot's audio frames and `clear`; its leaving ends the tap."""
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    self._hear(message["bytes"])
                    continue
                control = self._parse_control(message.get("text") or "")
                if isinstance(control, Start):
                    self._error("bad_state", "already started")
                elif control is not None and self._voice is not None:
                    self._voice.clear()
        except WebSocketDisconnect:
            pass
        self._stop()

    def _hear(self, data: bytes) -> None:
        """One audio frame from the bot, queued to be played; a bad one gets an error."""
        voice = self._voice
        if voice is None:
            if not self._refused_audio:  # once: a bot streams 50 frames a second
                self._refused_audio = True
                self._error("bad_state", "audio from a bot that does not speak (start with speak)")
            return
        try:
            kind, _, _, pcm = decode_frame(data)
        except ValueError as exc:
            self._error("bad_frame", str(exc))
            return
        if kind != KIND_AUDIO or len(pcm) != voice.frame_bytes:
            start = self._start
            assert start is not None
            self._error(
                "bad_frame",
                f"expected kind {KIND_AUDIO} and {voice.frame_bytes} bytes of PCM "
                f"({start.frame_ms} ms at {start.sample_rate} Hz), got kind {kind} and {len(pcm)}",
            )
            return
        if voice.push(pcm):
            return
        self._counters.voice_dropped += 1
        if not self._overflowing:
            self._overflowing = True  # one error per overflow, not one per frame
            self._error("overflow", f"over {MAX_VOICE_S} s of audio waits: frames dropped")

    def _tap(self, tracks: Any) -> None:
        from sfu.tap.audio import TrackAudio  # PyAV and numpy: only in a room with a tap

        start = self._start
        assert start is not None
        for track in tracks:
            if track.kind != "audio" or track.id in self._tapped:
                continue
            line = track.source.line
            if line.mime != "audio/opus":
                self._error("unsupported_codec", f"track {track.id} is {line.mime}: not tapped")
                continue
            sink = TapSink()
            ours = MediaLine(
                "tap", "audio", OPUS_PAYLOAD_TYPE, "audio/opus", line.clock_rate, ExtensionIds(),
                ssrc=random.getrandbits(32) | 1,
            )  # fmt: skip
            downtrack = DownTrack(
                track.source,
                sink,
                ours,
                initial_layer=0,
                counters=self._media,
                on_layer=lambda _: None,
            )
            track.source.downtracks.append(downtrack)
            index = self._next_index
            self._next_index += 1
            self._tapped[track.id] = Tapped(
                index, track, sink, downtrack, TrackAudio(start.sample_rate)
            )
            self._event(
                "track_added",
                index=index,
                participant=track.publisher.identity,
                track_id=track.id,
                source=track.capture,
            )

    def _untap(self, tracks: Any) -> None:
        for track in tracks:
            tapped = self._tapped.pop(track.id, None)
            if tapped is not None:
                tapped.downtrack.close()
                self._event(
                    "track_removed",
                    index=tapped.index,
                    participant=track.publisher.identity,
                    track_id=track.id,
                )

    async def _tick_loop(self) -> None:
        start = self._start
        assert start is not None
        from sfu.tap.audio import mix

        period_s = start.frame_ms / 1000
        samples = samples_per_frame(start.sample_rate, start.frame_ms)
        loop = asyncio.get_running_loop()
        began, frames = loop.time(), 0
        while True:
            frames += 1
            await asyncio.sleep(max(0.0, began + frames * period_s - loop.time()))
            now_ms = monotonic_ms()
            if self._frames.stalled(now_ms):
                self._counters.cut_off += 1
                logger.info(
                    "tap in %s: the bot read nothing for %.0f s: cut off",
                    self._room.name if self._room else "?",
                    self._limits.stall_s,
                )
                self.disconnect(close_codes.SLOW_READER, "read nothing for too long")
                return
            cpu = time.thread_time()
            try:
                self._tick(now_ms, start, samples, mix)
            except Exception:  # a tap that cannot go on ends, rather than hang
                logger.exception("tap in %s failed", self._room.name if self._room else "?")
                self.disconnect(close_codes.INTERNAL_ERROR, "internal error")
                return
            self._counters.cpu_s += time.thread_time() - cpu

    def _tick(self, now_ms: int, start: Start, samples: int, mix: Callable[..., Any]) -> None:
        """One frame period: the bot's voice out, the room's audio decoded, frames queued."""
        if self._voice is not None:
            for packet in self._voice.play(now_ms):
                self._ingress.on_rtp(packet, now_ms)
                self._counters.spoken += 1
            self._overflowing = self._overflowing and self._voice.waiting > 0
        for tapped in list(self._tapped.values()):
            for payload, rtp_ts, arrival_ms in tapped.sink.received():
                tapped.audio.decode(payload, rtp_ts, arrival_ms)
        if start.mode == "participants":
            for tapped in list(self._tapped.values()):
                while (taken := tapped.audio.take(samples)) is not None:
                    at_ms, pcm = taken
                    self._frame(encode_frame(tapped.index, round(at_ms), pcm.tobytes()), now_ms)
        else:
            at_ms = round(time.time() * 1000) - start.frame_ms
            parts = [
                taken[1]
                for tapped in self._tapped.values()
                if (taken := tapped.audio.take(samples, partial=True)) is not None
            ]
            self._frame(encode_frame(MIX_INDEX, at_ms, mix(parts, samples).tobytes()), now_ms)

    def _frame(self, frame: bytes, now_ms: int) -> None:
        if not self._frames.offer(frame, now_ms):
            self._counters.dropped += 1
        self._wake.set()

    def _event(self, kind: str, **fields: Any) -> None:
        self._events.append(json.dumps({"type": kind, **fields}))
        self._wake.set()

    def _error(self, code: str, message: str) -> None:
        self._event("error", code=code, message=message)

    async def _write_loop(self) -> None:
        try:
            while True:
                if self._events:
                    await self._ws.send_text(self._events.popleft())
                    continue
                frame = self._frames.take(monotonic_ms())
                if frame is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._ws.send_bytes(frame)
                self._counters.frames += 1
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._stop()

    def _stop(self) -> None:
        self._closed.set()

    async def _leave(self) -> None:
        self._untap(list(t.track for t in self._tapped.values()))
        if self._room is not None and self._member is not None:
            try:
                await self._room.leave(self._member)
            except Exception:
                logger.exception("tap leaving room %s failed", self._room.name)
            self._member = None
