"""One signaling WebSocket: the join handshake, then messages to and from one participant.

Refusals before joining close the socket with a 44xx code and a reason; after joining, a bad
frame gets an ``error`` frame and the connection stays (docs/signaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from cluster.metadata import MetadataError, MetadataUpdate
from cluster.tokens import JoinClaims, TokenError, verify_join_token
from sfu.media.clock import monotonic_ms
from sfu.rooms.events import DataSent
from sfu.rooms.member import Member
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.rtc.negotiation import NegotiationError
from sfu.signaling import close_codes
from sfu.signaling.admission import Refusal, replace_identity
from sfu.signaling.data_budget import (
    DataBudget,
    DataCounters,
    DataDrop,
    DataLimits,
    RefusalReports,
)
from sfu.signaling.messages import (
    CLIENT_TYPES,
    MAX_FRAME_BYTES,
    Data,
    Error,
    ErrorCode,
    IceRestart,
    Join,
    Joined,
    Leave,
    Mute,
    Ping,
    Pong,
    PublishOffer,
    RemoveParticipant,
    ServerMessage,
    SubscribeAnswer,
    Trickle,
    UpdateMetadata,
    VideoQuality,
    VideoSize,
    client_message,
)
from sfu.signaling.participant import Participant, participant_info
from sfu.signaling.turn import TurnConfig, ice_servers
from sfu.webrtc.codecs import CodecCapability
from sfu.webrtc.peer import SdpError

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Close:
    """Queued after the last message: close the socket with this code and reason."""

    code: int
    reason: str


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SignalingSession:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        admit: Callable[[JoinClaims], Awaitable[Room | Refusal]],
        tokens: TokenCheck,
        config: MediaConfig,
        clock: Callable[[], float],
        participants: set[Participant],
        data: DataCounters,
        data_limits: DataLimits,
        turn: TurnConfig | None = None,
    ) -> None:
        """`participants`: the node's, which this session's joins while in its room; `data`:
        the node's data message counters; `turn`: the relays joining clients are given
        credentials for."""
        self._ws = websocket
        self._admit = admit
        self._tokens = tokens
        self._config = config
        self._clock = clock
        self._outbox: asyncio.Queue[ServerMessage | Close] = asyncio.Queue()
        self._stalled = asyncio.Event()  # the client stopped reading: cut off
        self._participants = participants
        self._participant: Participant | None = None
        self._turn = turn
        self._data = data
        self._data_limits = data_limits
        self._data_budget = DataBudget(data_limits, monotonic_ms())
        self._rate_reports = RefusalReports(data_limits.error_interval_ms)

    async def run(self) -> None:
        await self._ws.accept()
        writer = asyncio.create_task(self._write_loop())
        try:
            join, claims = await self._handshake()
            await self._enter(join, claims)
            await self._until_stalled(self._read_loop())
        except Refused as refused:
            self._post(Close(refused.code, refused.reason))
        except WebSocketDisconnect:
            pass
        finally:
            await self._leave()
            if self._stalled.is_set():  # the writer waits on the client: never mind it
                writer.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._ws.close(close_codes.SLOW_READER, "read nothing for too long"), 5
                    )
            else:
                self._post(Close(close_codes.NORMAL, "bye"))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, 5)

    async def _until_stalled(self, reading: Coroutine[Any, Any, None]) -> None:
        """Read until the client leaves, or until it is found not reading what we send."""
        reader = asyncio.create_task(reading)
        stalled = asyncio.create_task(self._stalled.wait())
        try:
            await asyncio.wait((reader, stalled), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stalled.cancel()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if not self._stalled.is_set():
            reader.result()  # its WebSocketDisconnect, if that ended it

    def _post(self, item: ServerMessage | Close) -> None:
        """Queue for the client; a client with ``receiver_backlog`` messages waiting unsent
        reads nothing (its socket's buffers are full): it is cut off, and nothing more waits."""
        if self._stalled.is_set():
            return
        if self._outbox.qsize() >= self._data_limits.receiver_backlog:
            self._stalled.set()
            self._data.cut_off += 1
            who = self._participant.member.identity if self._participant else "?"
            logger.info("signaling: %s read nothing while %d messages waited: cut off",
                        who, self._outbox.qsize())  # fmt: skip
            return
        self._outbox.put_nowait(item)

    async def _handshake(self) -> tuple[Join, JoinClaims]:
        try:
            text = await asyncio.wait_for(receive_text(self._ws), JOIN_TIMEOUT_S)
        except TimeoutError:
            raise Refused(close_codes.BAD_JOIN, f"no join within {JOIN_TIMEOUT_S:.0f} s") from None
        if len(text.encode()) > MAX_FRAME_BYTES:
            raise Refused(close_codes.TOO_BIG, f"frame larger than {MAX_FRAME_BYTES} bytes")
        try:
            join = Join.model_validate_json(text)
        except ValidationError as exc:
            raise Refused(
                close_codes.BAD_JOIN, f"first frame must be join: {describe(exc)}"
            ) from None
        claims = self._tokens.verify(join.token)
        if claims.room != join.room:
            raise Refused(
                close_codes.FORBIDDEN, f"token is for room {claims.room!r}, not {join.room!r}"
            )
        return join, claims

    async def _enter(self, join: Join, claims: JoinClaims) -> None:
        room = await self._admit(claims)
        if isinstance(room, Refusal):
            raise Refused(room.code, room.reason)
        await replace_identity(room, claims.identity)
        member = Member.of_claims(claims)
        participant = Participant(
            member,
            room,
            send=self._post,
            disconnect=lambda code, reason: self._post(Close(code, reason)),
            config=self._config,
            data=self._data,
            backlog=self._outbox.qsize,
            decoded=None
            if join.receive_codecs is None
            else [CodecCapability(c.mimeType, c.sdpFmtpLine) for c in join.receive_codecs],
        )
        self._participant = participant
        self._participants.add(participant)
        others = [participant_info(m) for m in room.members.values() if not m.grants.hidden]
        participant.send(
            Joined(
                participant=participant_info(member),
                participants=others,
                ice_servers=ice_servers(self._turn, claims),
            )
        )
        await room.join(member, participant)

    async def _read_loop(self) -> None:
        while True:
            text = await receive_text(self._ws)
            size = len(text.encode())
            if size > MAX_FRAME_BYTES:
                self._data.drops[DataDrop.TOO_LARGE] += 1
                self._error(
                    "too_large", f"frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit"
                )
                continue
            try:
                payload = json.loads(text)
            except ValueError as exc:
                self._error("bad_json", f"not JSON: {exc}")
                continue
            ref = payload.get("type") if isinstance(payload, dict) else None
            if ref not in CLIENT_TYPES:
                self._error("bad_message", f"unknown message type {str(ref)[:40]!r}", None)
                continue
            try:
                message = client_message.validate_python(payload)
            except ValidationError as exc:
                self._error("bad_message", describe(exc), ref)
                continue
            if isinstance(message, Leave):
                return
            try:
                await self._handle(message)
            except SdpError as exc:
                self._error("bad_sdp", str(exc), ref)
            except NegotiationError as exc:
                self._error("bad_state", str(exc), ref)
            except Exception:
                logger.exception("signaling: %s failed", ref)
                self._error("internal_error", f"{ref} failed; see the node's log", ref)

    async def _handle(self, message: object) -> None:
        participant = self._participant
        assert participant is not None
        room, member = participant.room, participant.member
        match message:
            case PublishOffer(sdp=sdp, sources=sources):
                # once publishing, offers are answered (they stop tracks too); what they add
                # is published only if the grants allow it
                if not member.grants.publish and not participant.publisher.receivers:
                    self._error("not_allowed", "the token has no publish grant", "publish_offer")
                    return
                await participant.publish(sdp, sources)
            case SubscribeAnswer(sdp=sdp):
                await participant.subscriber.apply_answer(sdp)
            case Trickle(target=target, candidate=candidate):
                half = participant.subscriber if target == "subscribe" else participant.publisher
                await half.add_ice_candidate(
                    candidate.candidate if candidate else None,
                    candidate.sdpMid if candidate else None,
                    candidate.sdpMLineIndex if candidate else None,
                )
            case Mute(track_id=track_id, muted=muted, participant=whose) if whose not in (
                None,
                member.identity,
            ):
                moderated = self._moderated(room, member, whose, "mute")
                if moderated is not None and not await room.mute(
                    moderated, track_id, muted, by_server=True
                ):
                    self._error("unknown_track", f"{whose} publishes no track {track_id!r}", "mute")
            case Mute(track_id=track_id, muted=muted):
                if not await room.mute(member, track_id, muted):
                    self._error("unknown_track", f"no published track {track_id!r}", "mute")
            case RemoveParticipant(identity=identity):
                removed = self._moderated(room, member, identity, "remove_participant")
                if removed is not None:
                    reason = f"removed by {member.identity}"
                    await room.remove(removed, close_codes.REMOVED, reason)
            case VideoSize(track_id=track_id, width=width, height=height):
                if not participant.subscriber.set_video_size(
                    track_id, width, height, monotonic_ms()
                ):
                    self._error("unknown_track", f"no subscribed track {track_id!r}", "video_size")
            case VideoQuality(track_id=track_id, quality=quality):
                if not participant.subscriber.set_video_quality(track_id, quality, monotonic_ms()):
                    self._error(
                        "unknown_track", f"no subscribed track {track_id!r}", "video_quality"
                    )
            case Data():
                await self._send_data(participant, message)
            case UpdateMetadata():
                await self._update_metadata(participant, message)
            case IceRestart():
                await participant.subscriber.restart_ice()
            case Ping(ts=ts):
                participant.send(Pong(ts=ts))
            case Join():
                self._error("bad_state", "already joined", "join")

    async def _send_data(self, participant: Participant, data: Data) -> None:
        """To the room within the sender's grant and budget; refusals are told (rate limits
        at most once per `error_interval_ms`) and counted."""
        if not participant.member.grants.publish_data:
            self._data.drops[DataDrop.NOT_ALLOWED] += 1
            self._error("not_allowed", "the token has no publish_data grant", "data")
            return
        now_ms = monotonic_ms()
        if not self._data_budget.take(
            len(data.payload.encode()), reliable=data.reliable, now_ms=now_ms
        ):
            self._data.drops[DataDrop.RATE_LIMITED] += 1
            refused = self._rate_reports.refused(now_ms)
            if refused is not None:
                self._error(
                    "rate_limited",
                    f"{refused} data message(s) refused since the last such error: over "
                    f"{self._data_limits.describe()}",
                    "data",
                )
            return
        sent = DataSent(
            participant.member,
            data.payload,
            data.topic,
            data.reliable,
            at_ms=round(self._clock() * 1000),
        )
        unknown = await participant.room.send_data(sent, data.to)
        if unknown:
            self._data.drops[DataDrop.UNKNOWN_RECIPIENT] += len(unknown)
            names = ", ".join(repr(n) for n in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            self._error(
                "unknown_recipient",
                f"not in the room: {names}{more}; sent to the others named",
                "data",
            )

    async def _update_metadata(self, participant: Participant, message: UpdateMetadata) -> None:
        """The participant's own change, within its grant and the bounds (the error names the
        field out of them)."""
        if not participant.member.grants.update_metadata:
            self._error("not_allowed", "the token has no update_metadata grant", "update_metadata")
            return
        try:
            update = MetadataUpdate.from_fields(message.model_dump(exclude={"type"}))
        except MetadataError as exc:
            code: ErrorCode = "too_large" if exc.too_large else "bad_message"
            self._error(code, str(exc), "update_metadata")
            return
        await participant.room.update(participant.member, update)

    def _moderated(self, room: Room, admin: Member, identity: str, ref: str) -> Member | None:
        """The member a room admin acts on; None (and an error frame) if it may not."""
        if not admin.grants.room_admin:
            self._error("not_allowed", "the token has no room_admin grant", ref)
            return None
        target = room.members.get(identity)
        if target is None or target.grants.hidden:  # a hidden one is not there for others
            self._error("unknown_participant", f"no participant {identity!r} here", ref)
            return None
        return target

    def _error(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        self._post(Error(code=code, message=message, ref=ref))

    async def _leave(self) -> None:
        participant = self._participant
        if participant is not None:
            try:
                await participant.room.leave(participant.member)
            except Exception:
                logger.exception("leaving room %s failed", participant.room.name)
            self._participants.discard(participant)
            self._participant = None

    async def _write_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                if isinstance(item, Close):
                    await self._ws.close(item.code, item.reason[:120])
                    return
                await self._ws.send_text(item.model_dump_json())
            except Exception:  # the socket is gone: nothing more to write
                return


def describe(exc: ValidationError, limit: int = 100) -> str:
    """First validation problem, as 'field: message', short enough for a close reason."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "frame"
    return f"{where}: {error['msg']}"[:limit]


async def receive_text(websocket: WebSocket) -> str:
    """The next message as text (bytes as UTF-8); WebSocketDisconnect once the client left."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", close_codes.NORMAL))
    text = message.get("text")
    if text is None:
        text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
    return str(text)


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """How a join token is verified: the node's keys, its longest accepted lifetime, its clock.
    One for the node's signaling, tap, WHIP and WHEP alike."""

    secrets: Mapping[str, str]
    max_ttl_s: float
    clock: Callable[[], float]

    def verify(self, token: str | None) -> JoinClaims:
        """A join token's claims, or Refused (4401) saying what is wrong with it."""
        try:
            return verify_join_token(
                token, secrets=self.secrets, now=self.clock(), max_ttl_s=self.max_ttl_s
            )
        except TokenError as exc:
            raise Refused(close_codes.BAD_TOKEN, str(exc)) from None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
