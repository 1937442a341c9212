"""A member's session on this node: its room membership and its two media halves, with room
events and media callbacks turned into the messages its client gets.

A media connection that fails, or a subscribe offer left unanswered, ends the session: the
client is told why and to rejoin, which gives it fresh connections.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence

from sfu.media.clock import monotonic_ms
from sfu.rooms.events import (
    DataSent,
    GrantsChanged,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    RoomEvent,
    SpeakersChanged,
    TrackMuted,
    TracksPublished,
    TracksUnpublished,
)
from sfu.rooms.member import CAPTURES, Capture, Member, Track, capture_of
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.rtc.publisher import PublishedTrack, Publisher
from sfu.rtc.subscriber import Subscriber
from sfu.signaling import close_codes
from sfu.signaling.data_budget import DataCounters, DataDrop
from sfu.signaling.messages import (
    DataFrom,
    Downlink,
    Error,
    ErrorCode,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    PublishAnswer,
    PublisherLayers,
    ServerMessage,
    SpeakerLevel,
    Speakers,
    SubscribedTrack,
    SubscribeOffer,
    SubscriptionLayer,
    TrackInfo,
    TrackUnpublished,
)
from sfu.signaling.messages import TrackMuted as TrackMutedMessage
from sfu.signaling.messages import TrackPublished as TrackPublishedMessage
from sfu.webrtc.codecs import Codec, CodecCapability

logger = logging.getLogger(__name__)

# Messages waiting for a client's socket beyond which lossy data for it is dropped, not queued.
LOSSY_BACKLOG = 32


def track_info(track: Track) -> TrackInfo:
    return TrackInfo(
        id=track.id,
        kind=track.kind,
        source=track.capture,
        muted=track.muted,
        simulcast=list(track.simulcast),
    )


def participant_info(member: Member) -> ParticipantInfo:
    return ParticipantInfo(
        sid=member.sid,
        identity=member.identity,
        name=member.name,
        metadata=member.metadata,
        attributes=member.attributes,
        tracks=[track_info(t) for t in member.tracks.values()],
    )


def new_tracks(
    member: Member, new: Sequence[PublishedTrack], sources: Mapping[str, Capture]
) -> tuple[list[Track], list[tuple[ErrorCode, str]]]:
    """The room's tracks for a publisher's newly received ones, as ``sources`` names them (mid ->
    source; unnamed: camera or microphone), and what was wrong: a source that does not fit the
    kind is taken as the default, one the token does not allow is received and dropped."""
    tracks: list[Track] = []
    problems: list[tuple[ErrorCode, str]] = []
    for published in new:
        line = published.receiver.line
        capture = capture_of(line.kind, sources.get(line.mid))
        if capture is None:
            why = f"mid {line.mid}: a {line.kind} track cannot be {sources.get(line.mid)}"
            problems.append(("bad_message", why))
            capture = CAPTURES[line.kind][0]
        if not member.may_publish(capture):
            why = f"mid {line.mid}: the token does not allow publishing {capture}"
            problems.append(("not_allowed", why))
            continue  # received and dropped: no one is offered it
        tracks.append(
            Track(
                id=published.id,
                kind=line.kind,
                simulcast=line.rids,
                source=published.receiver,
                publisher=member,
                capture=capture,
            )
        )
    return tracks, problems


class Participant:
    """Implements the room's `MemberHandle` for one signaling connection."""

    def __init__(
        self,
        member: Member,
        room: Room,
        *,
        send: Callable[[ServerMessage], None],
        disconnect: Callable[[int, str], None],
        config: MediaConfig,
        data: DataCounters,
        backlog: Callable[[], int],
        decoded: Sequence[CodecCapability] | None = None,
    ) -> None:
        """`backlog`: how many messages wait for the client's socket; `decoded`: the codecs
        the client said it decodes (None: all we forward)."""
        self.member = member
        self.room = room
        self.send = send
        self._data = data
        self._backlog = backlog
        self._disconnect = disconnect
        self._closing = False
        self.publisher = Publisher(
            config,
            on_layers=self._send_layers,
            on_state=functools.partial(self._media_state, "publish"),
        )
        self.subscriber: Subscriber[Track] = Subscriber(
            config,
            on_offer=self._send_offer,
            on_layer=self._send_layer,
            on_state=functools.partial(self._media_state, "subscribe"),
            on_downlink=self._send_downlink,
            decoded=decoded,
            on_undecodable=self._undecodable,
        )

    async def publish(self, offer: str, sources: Mapping[str, Capture]) -> None:
        """Answer the offer, then the room gets the new tracks and loses the stopped ones.
        ``sources``: what the client says its new m-lines carry (mid -> source)."""
        answered = await self.publisher.answer(offer)
        self.send(PublishAnswer(sdp=answered.sdp, tracks=answered.mids))
        for why in answered.refused:
            logger.info("%s: publish m-line rejected: %s", self.member.identity, why)
            self.send(Error(code="unsupported_codec", message=why, ref="publish_offer"))
        tracks, problems = new_tracks(self.member, answered.new, sources)
        for code, why in problems:
            self.send(Error(code=code, message=why, ref="publish_offer"))
        await self.room.unpublish(self.member, answered.gone)
        await self.room.publish(self.member, tracks)

    async def room_event(self, event: RoomEvent) -> None:
        if self._closing and not (isinstance(event, MemberLeft) and event.member is self.member):
            return  # its connections are closed or closing: nothing to send them
        match event:
            case MemberJoined(member=member) if member is self.member:
                if member.grants.subscribe:
                    await self.subscriber.subscribe(self.room.tracks(besides=member))
            case MemberJoined(member=member):
                if not member.grants.hidden:
                    self.send(ParticipantJoined(participant=participant_info(member)))
            case MemberLeft(member=member) if member is self.member:
                await self.close()
            case MemberLeft(member=member, tracks=tracks):
                if not member.grants.hidden:
                    self.send(ParticipantLeft(identity=member.identity))
                await self.subscriber.unsubscribe([t.id for t in tracks])
            case TracksPublished(tracks=tracks):
                for track in tracks:
                    info = track_info(track)
                    self.send(
                        TrackPublishedMessage(participant=track.publisher.identity, track=info)
                    )
                if self.member.grants.subscribe:
                    await self.subscriber.subscribe(list(tracks))
            case TracksUnpublished(tracks=tracks):
                for track in tracks:  # ours only when the server stopped them: we stop sending
                    self.send(
                        TrackUnpublished(participant=track.publisher.identity, track_id=track.id)
                    )
                await self.subscriber.unsubscribe([t.id for t in tracks])
            case MemberUpdated(member=member):
                if member is self.member or not member.grants.hidden:
                    self.send(ParticipantUpdated(participant=participant_info(member)))
            case GrantsChanged(member=member) if member.grants.subscribe:
                await self.subscriber.subscribe(self.room.tracks(besides=member))
            case GrantsChanged():
                await self.subscriber.unsubscribe(self.subscriber.subscribed)
            case DataSent(sender=sender, payload=payload, topic=topic, reliable=reliable):
                if not reliable and self._backlog() > LOSSY_BACKLOG:
                    self._data.drops[DataDrop.RECEIVER_BACKLOG] += 1
                    return
                self._data.forwarded += 1
                self.send(
                    DataFrom(sender=sender.identity, topic=topic, payload=payload, ts=event.at_ms)
                )
            case TrackMuted(track=track, enforced=enforced):
                if enforced and track.publisher is not self.member:
                    self.subscriber.allocate(monotonic_ms())  # paused or resumed
                self.send(
                    TrackMutedMessage(
                        participant=track.publisher.identity, track_id=track.id, muted=track.muted
                    )
                )
            case SpeakersChanged(speakers=speakers):
                dominant = speakers.dominant
                self.send(
                    Speakers(
                        speakers=[
                            SpeakerLevel(
                                participant=s.key.publisher.identity,
                                track_id=s.key.id,
                                level=s.level,
                            )
                            for s in speakers.active
                        ],
                        dominant=dominant.publisher.identity if dominant else None,
                    )
                )

    def disconnect(self, code: int, reason: str) -> None:
        self._closing = True
        self._disconnect(code, reason)

    def tick(self, now_ms: int) -> None:
        """Once a second: both halves' reports and allocation, and the deadline of an
        unanswered subscribe offer."""
        timeout_s = self.subscriber.unanswered(now_ms)
        if timeout_s is not None and not self._closing:
            self.disconnect(
                close_codes.OFFER_UNANSWERED, f"subscribe_offer not answered within {timeout_s:g} s"
            )
        self.subscriber.tick(now_ms)
        self.publisher.tick(now_ms, self.subscriber.round_trip_ms)

    async def close(self) -> None:
        self._closing = True
        await self.publisher.close()
        await self.subscriber.close()

    def _send_offer(self, sdp: str, tracks: dict[str, Track]) -> None:
        self.send(
            SubscribeOffer(
                sdp=sdp,
                tracks={
                    mid: SubscribedTrack(
                        track_id=t.id,
                        participant=t.publisher.identity,
                        kind=t.kind,
                        source=t.capture,
                    )
                    for mid, t in tracks.items()
                },
            )
        )

    def _send_layers(self, track_id: str, rids: list[str]) -> None:
        self.send(PublisherLayers(track_id=track_id, active=rids))

    def _send_layer(self, track_id: str, rid: str | None) -> None:
        self.send(SubscriptionLayer(track_id=track_id, layer=rid))

    def _send_downlink(self, bps: int, send_side: bool) -> None:
        self.send(Downlink(bps=bps, source="transport-cc" if send_side else "remb"))

    def _undecodable(self, track: Track, codec: Codec) -> None:
        why = (
            f"{track.kind} track {track.id} of {track.publisher.identity} is in {codec}, "
            "which is not among the codecs you decode: not sent to you"
        )
        logger.info("%s: %s", self.member.identity, why)
        self.send(Error(code="unsupported_codec", message=why, track_id=track.id))

    def _media_state(self, half: str, state: str, failed_step: str) -> None:
        if state not in ("failed", "closed") or self._closing:
            return
        reason = f"media connection {state}"
        if failed_step:
            why = f"{half} connection failed: {failed_step}"
            logger.info("%s: %s", self.member.identity, why)
            self.send(Error(code="connection_failed", message=why))
            reason = f"{reason} ({why})"
        self.disconnect(close_codes.MEDIA_LOST, reason)
