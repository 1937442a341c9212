"""What a WHEP player plays on each m-line, as the room changes (sfu.whip.play.choose)."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.tokens import JoinGrants
from sfu.media.description import Kind
from sfu.rooms.member import Capture, Member, Track
from sfu.whip.play import choose

ANN, BOB = Member("ann", "Ann", JoinGrants()), Member("bob", "Bob", JoinGrants())


def track(member: Member, kind: Kind, capture: Capture) -> Track:
    source: Any = None  # choose() never reads it
    return Track(f"{member.identity}-{capture}", kind, (), source, member, capture=capture)


ANN_CAM, ANN_MIC = track(ANN, "video", "camera"), track(ANN, "audio", "microphone")
BOB_CAM, BOB_MIC = track(BOB, "video", "camera"), track(BOB, "audio", "microphone")
BOB_SCREEN, BOB_SCREEN_AUDIO = track(BOB, "video", "screen"), track(BOB, "audio", "screen_audio")
ROOM = [ANN_CAM, ANN_MIC, BOB_CAM, BOB_MIC]


@pytest.mark.parametrize(
    ("tracks", "kind", "current", "floor", "participant", "expected"),
    [
        ([], "video", None, None, None, None),
        (ROOM, "video", None, None, None, ANN_CAM),  # nobody speaks: the first camera
        (ROOM, "video", BOB_CAM, None, None, BOB_CAM),  # ... or the one it already plays
        (ROOM, "video", ANN_CAM, BOB, None, BOB_CAM),  # the floor's camera
        (ROOM, "audio", ANN_MIC, BOB, None, BOB_MIC),  # the floor's microphone
        (ROOM, "audio", ANN_MIC, None, None, ANN_MIC),
        ([*ROOM, BOB_SCREEN], "video", ANN_CAM, ANN, None, BOB_SCREEN),  # a screen comes first
        ([*ROOM, BOB_SCREEN, BOB_SCREEN_AUDIO], "audio", None, ANN, None, ANN_MIC),
        ([*ROOM, BOB_SCREEN], "video", None, ANN, "bob", BOB_CAM),  # the participant's camera
        ([ANN_CAM, BOB_SCREEN, BOB_SCREEN_AUDIO], "video", None, None, "bob", BOB_SCREEN),
        ([ANN_CAM, BOB_SCREEN, BOB_SCREEN_AUDIO], "audio", None, None, "bob", BOB_SCREEN_AUDIO),
        (ROOM, "video", None, None, "carol", None),  # not (yet) in the room
    ],
)
def test_choose(
    tracks: list[Track],
    kind: Kind,
    current: Track | None,
    floor: Member | None,
    participant: str | None,
    expected: Track | None,
) -> None:
    chosen = choose(tracks, kind, current=current, floor=floor, participant=participant)
    assert chosen is expected
