"""A room without any media stack: who is told what, in which order, and that one member's
failure does not keep the others from being told."""

from __future__ import annotations

import asyncio
import logging
import struct

import pytest

from cluster.metadata import MetadataUpdate
from cluster.tokens import JoinGrants
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.media.speakers import Speakers
from sfu.rooms.events import (
    DataSent,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    RoomEvent,
    SpeakersChanged,
    TrackMuted,
    TracksPublished,
)
from sfu.rooms.member import Member, Track
from sfu.rooms.room import Room


class Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def member_changed(self, room: str, member: Member) -> None:
        self.calls.append(("changed", member.identity, len(member.tracks)))

    def member_left(self, room: str, member: Member) -> None:
        self.calls.append(("left", member.identity, len(member.tracks)))


class Handle:
    def __init__(self, log: list[tuple[str, RoomEvent]], name: str, *, fail: bool = False):
        self.log, self.name, self.fail = log, name, fail
        self.closed: tuple[int, str] | None = None

    async def room_event(self, event: RoomEvent) -> None:
        self.log.append((self.name, event))
        if self.fail:
            raise RuntimeError("this member's connection is broken")

    def disconnect(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def video(member: Member, track_id: str) -> Track:
    line = MediaLine("0", "video", 96, "video/VP8", 90000, ExtensionIds(), rids=("q", "h", "f"))
    source = TrackReceiver(
        track_id, line, send_rtcp=lambda _: True, local_ssrc=1, counters=MediaCounters()
    )
    return Track(track_id, "video", line.rids, source, member)


@pytest.fixture
def log() -> list[tuple[str, RoomEvent]]:
    return []


async def join(room: Room, log: list[tuple[str, RoomEvent]], *names: str) -> list[Member]:
    members = []
    for name in names:
        member = Member(name, name.title(), JoinGrants())
        await room.join(member, Handle(log, name))
        members.append(member)
    return members


async def test_a_join_is_told_to_everyone_the_newcomer_last(
    log: list[tuple[str, RoomEvent]],
) -> None:
    observer = Observer()
    room = Room("r", observer)
    _alice, bob = await join(room, log, "alice", "bob")
    assert [(name, type(e).__name__) for name, e in log] == [
        ("alice", "MemberJoined"),
        ("alice", "MemberJoined"),
        ("bob", "MemberJoined"),
    ]
    assert log[-1][1] == MemberJoined(bob)
    assert observer.calls == [("changed", "alice", 0), ("changed", "bob", 0)]
    assert room.handle(bob).name == "bob"  # type: ignore[attr-defined]


async def test_a_metadata_change_is_told_to_everyone_and_no_change_to_no_one(
    log: list[tuple[str, RoomEvent]],
) -> None:
    observer = Observer()
    room = Room("r", observer)
    alice, _bob = await join(room, log, "alice", "bob")
    log.clear()
    await room.update(alice, MetadataUpdate(metadata="m", attributes={"role": "host"}))
    assert log == [("alice", MemberUpdated(alice)), ("bob", MemberUpdated(alice))]
    assert (alice.name, alice.metadata, alice.attributes) == ("Alice", "m", {"role": "host"})
    await room.update(alice, MetadataUpdate(name="Alice", metadata="m"))  # the same again
    assert len(log) == 2 and observer.calls[-1] == ("changed", "alice", 0)
    assert len(observer.calls) == 3  # two joins, one change


async def test_tracks_go_to_the_others_and_a_leave_takes_them_along(
    log: list[tuple[str, RoomEvent]],
) -> None:
    room = Room("r", Observer())
    alice, bob, _carol = await join(room, log, "alice", "bob", "carol")
    log.clear()
    camera = video(alice, "TR_cam")
    await room.publish(alice, [camera])
    assert log == [("bob", TracksPublished((camera,))), ("carol", TracksPublished((camera,)))]
    assert room.tracks(besides=bob) == [camera] and room.tracks(besides=alice) == []

    log.clear()
    await room.leave(alice)
    left = MemberLeft(alice, (camera,))
    assert log == [("bob", left), ("carol", left), ("alice", left)]  # the leaver last
    assert list(room.members) == ["bob", "carol"]
    await room.leave(alice)  # twice: nothing more happens
    assert len(log) == 3


async def test_a_server_mute_is_enforced_and_told_to_the_publisher_too(
    log: list[tuple[str, RoomEvent]],
) -> None:
    room = Room("r", Observer())
    alice, _ = await join(room, log, "alice", "bob")
    camera = video(alice, "TR_cam")
    await room.publish(alice, [camera])

    log.clear()
    assert await room.mute(alice, "TR_cam", True)  # by the publisher: only flagged
    assert not camera.source.muted and camera.muted
    assert log == [("bob", TrackMuted(camera, by_server=False, enforced=False))]

    log.clear()
    assert await room.mute(alice, "TR_cam", True, by_server=True)
    assert camera.source.muted
    event = TrackMuted(camera, by_server=True, enforced=True)
    assert log == [("alice", event), ("bob", event)]

    log.clear()
    assert await room.mute(alice, "TR_cam", False)  # anyone's unmute resumes the media
    assert not camera.source.muted
    assert log == [("bob", TrackMuted(camera, by_server=False, enforced=True))]
    assert not await room.mute(alice, "TR_none", True)


async def test_one_members_failure_does_not_keep_the_others_from_being_told(
    log: list[tuple[str, RoomEvent]], caplog: pytest.LogCaptureFixture
) -> None:
    room = Room("r", Observer())
    broken = Member("broken", "Broken", JoinGrants())
    await room.join(broken, Handle(log, "broken", fail=True))
    alice, _bob = await join(room, log, "alice", "bob")
    log.clear()
    with caplog.at_level(logging.ERROR):
        await room.leave(alice)
    assert [name for name, _ in log] == ["broken", "bob", "alice"]
    assert "broken failed on MemberLeft" in caplog.text


class Slow(Handle):
    """Takes its time over the news that ``slow_on`` left: the others leave meanwhile."""

    def __init__(self, log: list[tuple[str, RoomEvent]], name: str, slow_on: str) -> None:
        super().__init__(log, name)
        self.slow_on, self.telling, self.release = slow_on, asyncio.Event(), asyncio.Event()

    async def room_event(self, event: RoomEvent) -> None:
        await super().room_event(event)
        if isinstance(event, MemberLeft) and event.member.identity == self.slow_on:
            self.telling.set()
            await self.release.wait()


async def test_a_member_that_leaves_while_others_are_told_is_skipped(
    log: list[tuple[str, RoomEvent]], caplog: pytest.LogCaptureFixture
) -> None:
    """Everyone leaving at once (a room ended): while one member is told of a leave, the next
    in line leaves too; it is not told of the first leave, and nothing fails."""
    room = Room("r", Observer())
    [alice] = await join(room, log, "alice")
    bob, slow = Member("bob", "Bob", JoinGrants()), Slow(log, "bob", slow_on="alice")
    await room.join(bob, slow)
    [carol] = await join(room, log, "carol")
    log.clear()
    with caplog.at_level(logging.ERROR):
        first = asyncio.create_task(room.leave(alice))  # tells bob, then carol, then alice
        await slow.telling.wait()
        await room.leave(carol)
        slow.release.set()
        await first
    assert [(name, event.member.identity) for name, event in log] == [
        ("bob", "alice"),
        ("bob", "carol"),
        ("carol", "carol"),
        ("alice", "alice"),
    ]
    assert "failed" not in caplog.text


MID_ID, LEVEL_ID = 1, 3
AUDIO = MediaLine(
    "1", "audio", 111, "audio/opus", 48000, ExtensionIds(mid=MID_ID, audio_level=LEVEL_ID), ()
)


class Microphone:
    """A member's audio track, fed with Opus packets carrying RFC 6464 levels."""

    def __init__(self, member: Member, ssrc: int) -> None:
        self.ingress = PublisherIngress(MediaCounters(), remb_bps=1)
        self.track = Track(f"TR_{ssrc}", "audio", (), self.ingress.add_track("A", AUDIO), member)
        self.ssrc, self.seq = ssrc, 0

    def send(self, level: int, packets: int, now_ms: int) -> None:
        for _ in range(packets):
            self.seq += 1
            header = struct.pack("!BBHII", 0x90, 111, self.seq, 960 * self.seq, self.ssrc)
            elements = (MID_ID << 4, ord("1"), LEVEL_ID << 4, 0x80 | level)
            ext = struct.pack("!HH4B", 0xBEDE, 1, *elements)
            self.ingress.on_rtp(header + ext + b"opus", now_ms)


async def test_speakers_are_told_to_everyone_on_change_and_muted_tracks_never_speak(
    log: list[tuple[str, RoomEvent]],
) -> None:
    room = Room("r", Observer())
    alice, bob = await join(room, log, "alice", "bob")
    mics = {m.identity: Microphone(m, ssrc) for m, ssrc in ((alice, 1), (bob, 2))}
    for mic in mics.values():
        await room.publish(mic.track.publisher, [mic.track])
    log.clear()

    async def talk(levels: dict[str, int], ms: int, start_ms: int) -> list[Speakers[Track]]:
        told = []
        for now in range(start_ms + 200, start_ms + ms + 1, 200):
            for name, level in levels.items():
                mics[name].send(level, 10, now)
            if await room.detect_speakers(now):
                told.append(room.speakers)
        return told

    assert await talk({"alice": 127, "bob": 127}, 1000, 0) == []  # silence: nothing to tell
    told = await talk({"alice": 10, "bob": 127}, 2000, 1000)
    alice_mic = mics["alice"].track
    assert [s.key for s in told[0].active] == [alice_mic]
    assert told[0].dominant is alice_mic
    assert len(told) <= 3  # named, then its level now and then (at most once a second)
    assert [(name, type(e).__name__) for name, e in log][:2] == [
        ("alice", "SpeakersChanged"),
        ("bob", "SpeakersChanged"),
    ]
    log.clear()
    (carol,) = await join(room, log, "carol")  # joins a steady speaker: told who speaks now
    assert [(name, type(e).__name__) for name, e in log][-1] == ("carol", "SpeakersChanged")
    assert log[-1][1] == SpeakersChanged(room.speakers)
    assert [s.key for s in room.speakers.active] == [alice_mic]
    await room.leave(carol)
    assert await room.mute(alice, alice_mic.id, True)  # by the client: its packets still come
    told = await talk({"alice": 10, "bob": 127}, 1000, 3000)
    assert told == [Speakers()]  # at once: no speaker, and the floor is nobody's
    assert await talk({"alice": 10, "bob": 127}, 2000, 4000) == []


async def test_data_goes_to_everyone_else_or_to_the_named_members_once(
    log: list[tuple[str, RoomEvent]],
) -> None:
    room = Room("r", Observer())
    ann, _bob, _cyd = await join(room, log, "ann", "bob", "cyd")
    log.clear()
    data = DataSent(ann, "hi", "chat", reliable=True, at_ms=1)
    assert await room.send_data(data, None) == []
    assert log == [("bob", data), ("cyd", data)]
    log.clear()
    unknown = await room.send_data(data, ["cyd", "zed", "ann", "cyd", "yan", "zed"])
    assert unknown == ["zed", "yan"]
    assert log == [("cyd", data)]  # never back to the sender, once per name
