"""Participant names, metadata and attributes: the bounds, by field, and what they cost a token."""

from __future__ import annotations

import pytest

from cluster.metadata import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_METADATA_CHARS,
    MetadataError,
    MetadataUpdate,
    check_attributes,
    check_metadata,
    check_name,
)
from cluster.tokens import JoinGrants, mint_join_token, verify_join_token
from sfu.signaling.messages import MAX_FRAME_BYTES, Join


def refused(check: object, value: object) -> MetadataError:
    with pytest.raises(MetadataError) as caught:
        check(value)  # type: ignore[operator]
    return caught.value


def test_values_at_the_limits_pass() -> None:
    assert check_metadata("é" * MAX_METADATA_CHARS) == "é" * MAX_METADATA_CHARS
    assert check_name("Ann Lee") == "Ann Lee"
    full = {f"k{i}": "v" * MAX_ATTRIBUTE_VALUE_CHARS for i in range(MAX_ATTRIBUTES)}
    assert check_attributes(full) == full


@pytest.mark.parametrize(
    ("check", "value", "field", "too_large"),
    [
        (check_metadata, "x" * (MAX_METADATA_CHARS + 1), "metadata", True),
        (check_metadata, 42, "metadata", False),
        (check_metadata, "\ud800", "metadata", False),
        (check_name, "n" * 129, "name", True),
        (check_name, "a\nb", "name", False),
        (check_attributes, {f"k{i}": "" for i in range(MAX_ATTRIBUTES + 1)}, "attributes", True),
        (check_attributes, ["a", "b"], "attributes", False),
        (check_attributes, {"role": 1}, "attributes.role", False),
        (check_attributes, {"": "x"}, "attributes.", False),
        (
            check_attributes,
            {"k" * (MAX_ATTRIBUTE_KEY_CHARS + 1): ""},
            "attributes." + "k" * 64 + " (key)",
            True,
        ),
        (check_attributes, {"bio": "b" * (MAX_ATTRIBUTE_VALUE_CHARS + 1)}, "attributes.bio", True),
        (check_attributes, {"bio": "a\x00"}, "attributes.bio", False),
    ],
)
def test_what_is_out_of_bounds_is_named(
    check: object, value: object, field: str, too_large: bool
) -> None:
    error = refused(check, value)
    assert (error.field, error.too_large) == (field, too_large)
    assert str(error).startswith(f"{field}: ")


def test_an_update_travels_and_is_checked_on_arrival() -> None:
    update = MetadataUpdate(name="Ann", attributes={"role": "host"})
    assert MetadataUpdate.from_fields(update.to_fields()) == update
    assert MetadataUpdate.from_fields({}) == MetadataUpdate()
    assert refused(MetadataUpdate.from_fields, {"metadata": "x" * 5000}).field == "metadata"


def test_the_largest_token_fits_a_join_frame() -> None:
    """Every character as costly as the token's JSON makes it (a control character six bytes,
    an emoji four), then base64: the join frame carrying it is still within the signaling
    limit."""
    worst_value = "😀" * MAX_ATTRIBUTE_VALUE_CHARS
    token = mint_join_token(
        key_id="k1",
        secret="s" * 40,
        identity="i" * 128,
        name="😀" * 128,
        room="r" * 64,
        room_id="RM_" + "0" * 24,
        generation=10**6,
        grants=JoinGrants(),
        ttl_s=600,
        now=1e9,
        metadata="\x01" * MAX_METADATA_CHARS,
        attributes={f"{i:02}" + "😀" * 62: worst_value for i in range(MAX_ATTRIBUTES)},
    )
    frame = Join(type="join", room="r" * 64, token=token).model_dump_json()
    assert len(frame.encode()) <= MAX_FRAME_BYTES
    claims = verify_join_token(token, secrets={"k1": "s" * 40}, now=1e9, max_ttl_s=600)
    assert claims.name == "😀" * 128 and len(claims.metadata) == MAX_METADATA_CHARS
