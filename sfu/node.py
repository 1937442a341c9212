"""A media node: its rooms, the signaling endpoint, metrics, and its place in the registry.

One node process is one core's worth; run several per machine, each registered separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from cluster.commands import NodeCommand
from cluster.errors import StoreUnavailable
from cluster.models import NodeInfo, NodeLoad, ParticipantRecord, TrackRecord
from cluster.store.base import Store
from cluster.tokens import JoinClaims
from cluster.webhooks import (
    EventType,
    WebhookEvent,
    WebhookParticipant,
    WebhookSender,
    WebhookTrack,
)
from serving.limits import BodyLimit
from sfu.control.commands import CommandListener
from sfu.control.presence import Presence
from sfu.control.registry import BEAT_INTERVAL_S, NodeRegistration
from sfu.control.stall import StallWatch
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.observability.load import LoadSample, load_rates
from sfu.observability.metrics import NodeMetrics, NodeSnapshot
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.settings import NodeSettings
from sfu.signaling import close_codes
from sfu.signaling.admission import Refusal, refusal
from sfu.signaling.data_budget import DataCounters
from sfu.signaling.participant import Participant
from sfu.signaling.session import SignalingSession, TokenCheck
from sfu.tap.backlog import TapCounters
from sfu.tap.session import TapLimits, TapSession
from sfu.webrtc.certificate import NodeCertificate
from sfu.webrtc.stack import configure_aiortc
from sfu.webrtc.udpmux import UdpMux
from sfu.whip import ingest, play
from sfu.whip.resource import Endpoint, Session

logger = logging.getLogger(__name__)

DRAIN_POLL_S = 0.5
FENCE_RETRY_S = 1.0
TICK_S = 1.0  # receiver reports, REMB, sender reports, layer fallback
# Each participant ticks once a TICK_S, in one of this many turns spread over it: a tick costs
# ~0.3 ms per participant, and a node ticking 70 at once stopped forwarding for 25 ms every
# second (a delay step every subscriber's estimator saw as congestion).
TICK_TURNS = 20
# Speaker detection: a voice is named after ~2 ticks, so 5 a second keeps that under half a
# second; it also bounds speaker updates to 5 a second per room.
SPEAKERS_TICK_S = 0.2


def tick_turn(identity: str) -> int:
    """Which of the TICK_TURNS a participant ticks in: by its identity's hash, so turns fill
    evenly and each participant keeps its own."""
    return hash(identity) % TICK_TURNS


def turns_to_next(turn: int, taken: set[int]) -> int:
    """How many turns after ``turn`` the tick loop wakes next: at the next turn someone ticks
    in, and at turn 0 (once a second) at the latest. A small node sleeps through empty turns:
    each wake-up costs it about as much as a few forwarded packets."""
    for step in range(1, TICK_TURNS - turn):
        if turn + step in taken:
            return step
    return TICK_TURNS - turn


class Node:
    def __init__(
        self, settings: NodeSettings, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.id = settings.resolved_id()
        self.url = settings.resolved_url()
        self.counters = MediaCounters()
        self.data = DataCounters()
        self.taps = TapCounters()
        self._tap_limits = TapLimits(settings.tap_backlog_frames, settings.tap_stall_s)
        self._data_limits = settings.data_limits()
        self._store = store
        # the demo key is derived: once
        self._tokens = TokenCheck(settings.token_secrets(), settings.token_max_ttl_s, clock)
        # Not running for as long as its last heartbeat may have been TTL old when it resumes,
        # this node may have lost its rooms: it holds media and asks the store which are
        # still its own before serving them again.
        self._stall = StallWatch(max(settings.node_ttl_s - BEAT_INTERVAL_S, 2 * TICK_S))
        self._fencing: asyncio.Task[None] | None = None
        self._losing: set[asyncio.Task[None]] = set()
        self.mux: UdpMux | None = None
        if settings.udp_port:
            self.mux = UdpMux(
                bind=settings.udp_bind,
                port=settings.udp_port,
                advertised=settings.ice_host_addresses,
                consent_timeout_s=settings.consent_timeout_s,
                drain_ms=settings.udp_drain_ms,
                segments=settings.udp_segments,
                tcp_port=settings.ice_tcp_port(),
                may_read=self._may_serve,
            )
        self.rooms: dict[str, Room] = {}
        self.participants: set[Participant] = set()  # everyone's session, while in a room
        self._clock = clock
        self._turn = settings.turn()
        self._config = MediaConfig(
            counters=self.counters,
            default_layer=settings.default_layer,
            start_bitrate_kbps=settings.start_bitrate_kbps,
            remb_bps=settings.remb_bps,
            mux=self.mux,
            uplink_repair=settings.uplink_repair,
            transport_cc=settings.transport_cc,
            answer_timeout_s=settings.subscribe_answer_timeout_s,
            certificate=NodeCertificate(),
        )
        self.whip = Endpoint(
            "/v1/whip",
            start=ingest.whip_start(self.admit, self._config),
            refuse=ingest.refuse,
            tokens=self._tokens,
            turn=self._turn,
        )
        self.whep = Endpoint(
            "/v1/whep",
            start=play.whep_start(self.admit, self._config),
            refuse=play.refuse,
            tokens=self._tokens,
            turn=self._turn,
        )
        self.webhooks = WebhookSender(settings.webhook_urls, settings.webhook_secret())
        self.presence = Presence(
            store, self.id, on_event=self._lifecycle, on_lost=self._room_lost, clock=clock
        )
        self._registration = NodeRegistration(
            store,
            NodeInfo(id=self.id, url=self.url, capacity=settings.node_capacity, state="active"),
            self.load,
            clock=clock,
            on_beat=self._after_beat,
        )
        self.commands = CommandListener(store, self.id, self.handle)
        self.metrics = NodeMetrics(self.snapshot)
        self._load_sample = self._sample_load()
        self._ticker: asyncio.Task[None] | None = None
        self._speakers_ticker: asyncio.Task[None] | None = None
        self.speaker_updates = 0  # speaker changes told to a room (each to all its members)
        self.draining = False
        # Set once the node may exit: drained (no one left, or the deadline passed).
        self.drained = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None

    async def admit(self, claims: JoinClaims) -> Room | Refusal:
        """The room a verified token may enter here, or why not: the store must know the room
        in the token's incarnation, assign it to this node, and not have removed the identity
        since the token was minted."""
        if self.draining and claims.room not in self.rooms:
            return Refusal(close_codes.ELSEWHERE, "node is draining: ask for a new token")
        if self._fencing is not None:
            return Refusal(close_codes.ELSEWHERE, "node is checking which rooms it still hosts")
        try:
            admission = await self._store.admission(claims.room, claims.identity)
        except StoreUnavailable as exc:
            logger.warning("join to %s refused: %s", claims.room, exc.reason)
            return Refusal(close_codes.TRY_AGAIN_LATER, "control plane unreachable: try again")
        refused = refusal(admission, claims, self.id)
        if refused is not None:
            return refused
        room = self.rooms.get(claims.room)
        if room is None:
            room = self.rooms[claims.room] = Room(claims.room, self.presence)
        return room

    def load(self) -> NodeLoad:
        """For the heartbeat: rates are over the time since the previous one."""
        sample, snapshot = self._sample_load(), self.snapshot()
        packets_per_s, cpu = load_rates(self._load_sample, sample)
        self._load_sample = sample
        return NodeLoad(
            participants=snapshot.participants,
            tracks=snapshot.published_tracks,
            packets_per_s=packets_per_s,
            cpu=cpu,
        )

    def _sample_load(self) -> LoadSample:
        packets = self.counters.packets_in + self.counters.packets_out
        return LoadSample(time.monotonic(), time.process_time(), packets)

    def snapshot(self) -> NodeSnapshot:
        whip = self.whip.sessions
        return NodeSnapshot(
            rooms=len(self.rooms),
            participants=len(self.participants) + len(whip),
            published_tracks=sum(len(p.member.tracks) for p in self.participants)
            + sum(len(s.member.tracks) for s in whip),
            subscriptions=sum(len(p.subscriber.downtracks) for p in self.participants),
            counters=self.counters,
            speakers=sum(len(room.speakers.active) for room in self.rooms.values()),
            speaker_updates=self.speaker_updates,
            data=self.data,
            webhooks=dataclasses.asdict(self.webhooks.stats),
            mux=self.mux,
            taps=self.taps,
            whip_sessions=len(whip),
            whep_sessions=len(self.whep.sessions),
        )

    async def start(self) -> None:
        configure_aiortc(self.settings.ice_host_addresses)
        if self.mux is not None:
            await self.mux.start()  # fails fast (UdpMuxError) when the port is taken
        self.webhooks.start()
        self.presence.start()
        await self._registration.start()
        self.commands.start()
        self._ticker = asyncio.create_task(self._tick_loop())
        self._speakers_ticker = asyncio.create_task(self._speakers_loop())
        logger.info("node %s serving %s", self.id, self.url)

    async def stop(self) -> None:
        """Disconnect everyone (they rejoin elsewhere) and deregister."""
        for ticker in (self._ticker, self._speakers_ticker):
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        for task in (self._drain_task, self._fencing):
            if task is not None:
                task.cancel()
        await self.commands.stop()
        for room in list(self.rooms.values()):
            await self._close_room(room, close_codes.SHUTTING_DOWN, "node shutting down")
        await self.presence.stop()
        await self._registration.stop()
        await self.webhooks.aclose()
        if self.mux is not None:
            await self.mux.close()

    def drain(self) -> None:
        """Take no new rooms; set `drained` once every room is empty or the deadline passed.
        Asking again changes nothing."""
        if self.draining:
            return
        self.draining = True
        logger.info("node %s draining (deadline %.0f s)", self.id, self.settings.drain_timeout_s)
        self._drain_task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        await self._registration.drain()
        deadline = asyncio.get_running_loop().time() + self.settings.drain_timeout_s
        while any(room.members for room in self.rooms.values()):
            if asyncio.get_running_loop().time() >= deadline:
                logger.warning("node %s: drain deadline passed with calls going on", self.id)
                break
            await asyncio.sleep(DRAIN_POLL_S)
        self.drained.set()

    async def handle(self, command: NodeCommand) -> None:
        """Act on a command from the control plane; unknown rooms and identities are ignored
        (the room may have moved, the participant may have left)."""
        room = self.rooms.get(command.room)
        match command.kind:
            case "drain":
                self.drain()
            case "delete_room" if room is not None:
                await self._close_room(room, close_codes.NORMAL, "room deleted")
            case "remove_participant" if room is not None:
                member = room.members.get(command.identity)
                if member is not None:
                    await room.remove(member, close_codes.REMOVED, "removed by the server")
            case "update_grants" if room is not None and command.grants is not None:
                member = room.members.get(command.identity)
                if member is not None:
                    await room.regrant(member, command.grants)
            case "update_metadata" if room is not None and command.update is not None:
                member = room.members.get(command.identity)
                if member is not None:
                    await room.update(member, command.update)
            case "mute_track" if room is not None:
                member = room.members.get(command.identity)
                if member is not None:
                    await room.mute(member, command.track_id, command.muted, by_server=True)

    async def _close_room(self, room: Room, code: int, reason: str) -> None:
        for member in list(room.members.values()):
            await room.remove(member, code, reason)

    async def _after_beat(self, registered: bool) -> None:
        """Every accepted heartbeat checks which hosted rooms are still this node's (the
        control plane moves a room whose node it counted dead) and closes the others."""
        if registered or self.presence.stale:
            lost = await self.presence.resync()
        else:
            lost = await self.presence.lost_rooms()
        await self._lose(lost)

    def _may_serve(self) -> bool:
        """Asked by the media port before each read, and by the tick: notices a stall, and is
        False while the rooms' ownership is being checked after one."""
        if self._stall.stalled():
            self._fence()
        return self._fencing is None

    def _fence(self) -> None:
        """This process did not run for longer than the liveness TTL less one heartbeat: hold
        media (and joins) until the store says which rooms are still this node's, and close
        the others."""
        if self._fencing is not None:
            return
        logger.warning(
            "node %s did not run for over %.0f s: checking its rooms", self.id, self._stall.limit_s
        )
        if self.mux is not None:
            self.mux.hold()
        self._fencing = asyncio.create_task(self._refence())

    async def _refence(self) -> None:
        while True:
            try:
                lost = await self.presence.lost_rooms()
                break
            except Exception as exc:  # the store is down: keep holding until it answers
                logger.warning("node %s: cannot check its rooms yet: %s", self.id, exc)
                await asyncio.sleep(FENCE_RETRY_S)
        await self._lose(lost)
        self._fencing = None
        if self.mux is not None:
            self.mux.release()

    def _room_lost(self, name: str) -> None:
        """The store refused a write: the room is assigned to another node."""
        task = asyncio.create_task(self._lose([name]))
        self._losing.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._losing.discard)

    async def _lose(self, names: list[str]) -> None:
        for name in names:
            room = self.rooms.pop(name, None)
            if room is not None:
                logger.warning(
                    "node %s: room %s is now hosted elsewhere: closing it", self.id, name
                )
                await self._close_room(room, close_codes.ELSEWHERE, "room moved: rejoin")

    def _lifecycle(
        self,
        event: EventType,
        room: str,
        record: ParticipantRecord | None,
        track: TrackRecord | None,
    ) -> None:
        """Room, participant and track lifecycle, for the operator's backend (webhooks)."""
        self.webhooks.notify(
            WebhookEvent.new(
                event,
                room=room,
                node_id=self.id,
                now=self._clock(),
                participant=WebhookParticipant(
                    record.identity, record.name, record.metadata, record.attributes
                )
                if record
                else None,
                track=WebhookTrack(track.id, track.kind, track.source, track.muted)
                if track
                else None,
            )
        )

    def _ticked(self) -> list[Participant | Session]:
        """Who ticks once a second: participants and WHIP/WHEP sessions."""
        return [*self.participants, *self.whip.sessions, *self.whep.sessions]

    async def _tick_loop(self) -> None:
        turn, taken = 0, set[int]()  # the turns someone ticked in, as of the last wake-up
        while True:
            steps = turns_to_next(turn, taken)
            await asyncio.sleep(steps * TICK_S / TICK_TURNS)
            turn = (turn + steps) % TICK_TURNS
            self._may_serve()  # a stall is noticed here too when no media comes in
            now_ms = monotonic_ms()
            if turn == 0:
                for name, room in list(self.rooms.items()):
                    if not room.members:
                        del self.rooms[name]
            taken.clear()
            mux = self.mux
            batched = mux.sends_batched() if mux is not None else contextlib.nullcontext()
            with batched:
                for participant in self._ticked():
                    its_turn = tick_turn(participant.member.identity)
                    taken.add(its_turn)
                    if its_turn != turn:
                        continue
                    try:
                        participant.tick(now_ms)
                    except Exception:
                        logger.exception("tick of %s failed", participant.member.identity)

    async def _speakers_loop(self) -> None:
        while True:
            await asyncio.sleep(SPEAKERS_TICK_S)
            now_ms = monotonic_ms()
            for room in list(self.rooms.values()):
                try:
                    if await room.detect_speakers(now_ms):
                        self.speaker_updates += 1
                except Exception:
                    logger.exception("speaker detection in %s failed", room.name)

    async def _signal(self, websocket: WebSocket) -> None:
        session = SignalingSession(
            websocket,
            admit=self.admit,
            tokens=self._tokens,
            config=self._config,
            clock=self._clock,
            participants=self.participants,
            data=self.data,
            data_limits=self._data_limits,
            turn=self._turn,
        )
        await session.run()

    async def _tap(self, websocket: WebSocket) -> None:
        session = TapSession(
            websocket,
            admit=self.admit,
            tokens=self._tokens,
            counters=self.taps,
            limits=self._tap_limits,
        )
        await session.run()

    async def _metrics(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "node": self.id,
                "registered": self._registration.registered,
                "commands": self.commands.listening,
                "draining": self.draining,
            }
        )

    async def _readyz(self, request: Request) -> Response:
        """Readiness: 200 only while the control plane has this node registered and it is not
        draining (503 otherwise), so an orchestrator counts only nodes that can take rooms."""
        registered = self._registration.registered
        ready = registered and not self.draining
        return JSONResponse(
            {"ready": ready, "registered": registered, "draining": self.draining},
            status_code=200 if ready else 503,
        )

    def app(self) -> Starlette:
        """The node's HTTP side: signaling and audio tap WebSockets, WHIP and WHEP
        (docs/whip.md), /metrics, /healthz (liveness), /readyz. Only WHIP and WHEP take a request
        body (an SDP, bounded); any other body is refused (413) unread."""
        bodyless = [Middleware(BodyLimit, max_bytes=0)]
        return Starlette(
            routes=[
                WebSocketRoute("/v1/signal", self._signal),
                WebSocketRoute("/v1/tap", self._tap),
                *self.whip.routes(),
                *self.whep.routes(),
                Route("/metrics", self._metrics, middleware=bodyless),
                Route("/healthz", self._healthz, middleware=bodyless),
                Route("/readyz", self._readyz, middleware=bodyless),
            ],
        )
