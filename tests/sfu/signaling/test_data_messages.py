"""The `data` message models: what a client may send, and what its receivers get."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from sfu.signaling.messages import Data, DataFrom, client_message


def test_defaults_are_reliable_to_everyone_without_a_topic() -> None:
    data = client_message.validate_python({"type": "data", "payload": "hi"})
    assert data == Data(type="data", payload="hi", to=None, topic=None, reliable=True)


def test_a_targeted_lossy_message_with_a_topic() -> None:
    frame = {"type": "data", "payload": "{}", "to": ["bob"], "topic": "cursor", "reliable": False}
    assert client_message.validate_python(frame) == Data(**frame)


@pytest.mark.parametrize(
    ("change", "where", "why"),
    [
        ({"payload": None}, ("data", "payload"), "Input should be a valid string"),
        ({"payload": {"x": 1}}, ("data", "payload"), "Input should be a valid string"),
        ({"to": []}, ("data", "to"), "List should have at least 1 item after validation, not 0"),
        ({"to": "bob"}, ("data", "to"), "Input should be a valid list"),
        ({"to": [""]}, ("data", "to", 0), "String should have at least 1 character"),
        ({"to": ["x" * 129]}, ("data", "to", 0), "String should have at most 128 characters"),
        (
            {"to": ["a"] * 257},
            ("data", "to"),
            "List should have at most 256 items after validation, not 257",
        ),
        ({"topic": ""}, ("data", "topic"), "String should have at least 1 character"),
        ({"topic": "t" * 65}, ("data", "topic"), "String should have at most 64 characters"),
        (
            {"reliable": "maybe"},
            ("data", "reliable"),
            "Input should be a valid boolean, unable to interpret input",
        ),
        ({"from": "eve"}, ("data", "from"), "Extra inputs are not permitted"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], where: tuple[Any, ...], why: str) -> None:
    frame = {"type": "data", "payload": "hi"} | change
    with pytest.raises(ValidationError) as caught:
        client_message.validate_python(frame)
    [error] = caught.value.errors()
    assert (error["loc"], error["msg"]) == (where, why)


def test_receivers_get_the_sender_as_from() -> None:
    message = DataFrom(sender="ann", topic="chat", payload="hi", ts=1_700_000_000_000)
    assert json.loads(message.model_dump_json()) == {
        "type": "data",
        "from": "ann",
        "topic": "chat",
        "payload": "hi",
        "ts": 1_700_000_000_000,
    }
