"""Node commands survive the JSON round trip; anything else is refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.commands import COMMAND_KINDS, BadCommand, NodeCommand
from cluster.metadata import MetadataUpdate

commands = st.builds(
    NodeCommand,
    kind=st.sampled_from(COMMAND_KINDS),
    room=st.text(),
    identity=st.text(),
    track_id=st.text(),
    muted=st.booleans(),
    update=st.none()
    | st.builds(
        MetadataUpdate,
        name=st.none()
        | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        metadata=st.none() | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
        attributes=st.none()
        | st.dictionaries(
            st.text(alphabet="abc", min_size=1, max_size=5), st.text(alphabet="xyz"), max_size=3
        ),
    ),
)


@given(commands)
def test_round_trip(command: NodeCommand) -> None:
    assert NodeCommand.from_json(command.to_json()) == command
    assert NodeCommand.from_json(command.to_json().encode()) == command


FIELDS = '{"kind": %s, "room": %s, "identity": "", "track_id": "", "muted": %s}'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not a command"),
        ("[]", "not a command"),
        ('{"kind": "drain"}', "not a command"),
        (FIELDS % ('"reboot"', '""', "false"), "unknown"),
        (FIELDS % ('"drain"', "1", "false"), "type"),
        (FIELDS % ('"drain"', '""', '"no"'), "type"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(BadCommand, match=reason):
        NodeCommand.from_json(text)


def test_an_update_out_of_bounds_is_refused_by_field() -> None:
    text = NodeCommand("update_metadata", room="r", identity="a").to_json()
    with pytest.raises(BadCommand, match=r"attributes\.role"):
        NodeCommand.from_json(text.replace('"update":null', '"update":{"attributes":{"role":1}}'))
