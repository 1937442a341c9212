"""What a member may publish: its grants against a track's source."""

from __future__ import annotations

from typing import get_args

import pytest

from cluster.tokens import SOURCES, JoinGrants
from sfu.rooms.member import CAPTURES, Capture, Member, capture_of


def test_the_tokens_sources_are_the_tracks_captures() -> None:
    assert get_args(Capture) == SOURCES
    assert {c for kind in CAPTURES.values() for c in kind} == set(SOURCES)


@pytest.mark.parametrize(
    ("grants", "allowed"),
    [
        (JoinGrants(), set(SOURCES)),
        (JoinGrants(sources=("camera", "microphone")), {"camera", "microphone"}),
        (JoinGrants(publish=False), set()),
        (JoinGrants(hidden=True), set()),  # its tracks would show it
    ],
)
def test_a_member_publishes_what_its_grants_name(grants: JoinGrants, allowed: set[str]) -> None:
    member = Member("ann", "Ann", grants)
    assert {c for c in SOURCES if member.may_publish(c)} == allowed  # type: ignore[arg-type]


def test_a_source_must_fit_the_kind() -> None:
    assert capture_of("video", None) == "camera" and capture_of("audio", None) == "microphone"
    assert capture_of("video", "screen") == "screen"
    assert capture_of("video", "microphone") is None
