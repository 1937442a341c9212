"""A participant's name, metadata and attributes: what the app says about it, shown to the room.

`metadata` is an opaque string the app owns (often JSON); `attributes` a small string map
(LiveKit's participant attributes). They come from the join token and change live, by the
participant itself (with the `update_metadata` grant) or through the REST API; every member
of the room is told. Bounds are in characters, as the REST API's schema states them; they keep a
worst-case join token (every character as costly as JSON makes it, then base64) inside one
signaling frame, and a broadcast cheap for a room of a hundred.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_NAME_CHARS = 128
MAX_METADATA_CHARS = 4096
MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_VALUE_CHARS = 256
# Names and attributes are labels shown as text: no control characters (metadata may have any).
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MetadataError(ValueError):
    """A name, metadata or attributes out of bounds; `field` names it (``attributes.<key>``
    for one attribute), `too_large` says a length or count limit was passed."""

    def __init__(self, field: str, reason: str, *, too_large: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.too_large = too_large


def check_name(name: object) -> str:
    return _text("name", name, MAX_NAME_CHARS, labels=True)


def check_metadata(metadata: object) -> str:
    return _text("metadata", metadata, MAX_METADATA_CHARS, labels=False)


def check_attributes(attributes: object) -> dict[str, str]:
    """A copy of `attributes` if within bounds: at most 16, keys of 1 to 64 characters,
    values of up to 256, neither with control characters."""
    if not isinstance(attributes, dict):
        raise MetadataError("attributes", "must be an object of strings")
    if len(attributes) > MAX_ATTRIBUTES:
        raise MetadataError(
            "attributes", f"{len(attributes)}, over the {MAX_ATTRIBUTES} limit", too_large=True
        )
    for key, value in attributes.items():
        where = f"attributes.{str(key)[:MAX_ATTRIBUTE_KEY_CHARS]}"
        if not isinstance(key, str) or not isinstance(value, str):
            raise MetadataError(where, "keys and values must be strings")
        if not key:
            raise MetadataError(where, "keys must not be empty")
        _text(f"{where} (key)", key, MAX_ATTRIBUTE_KEY_CHARS, labels=True)
        _text(where, value, MAX_ATTRIBUTE_VALUE_CHARS, labels=True)
    return dict(attributes)


def _text(field: str, text: object, limit: int, *, labels: bool) -> str:
    if not isinstance(text, str):
        raise MetadataError(field, "must be a string")
    if len(text) > limit:
        raise MetadataError(
            field, f"{len(text)} characters, over the {limit} limit", too_large=True
        )
    if labels and _CONTROL.search(text):
        raise MetadataError(field, "control characters are not allowed")
    return check_unicode(text, field)


def check_unicode(text: str, field: str = "text") -> str:
    """`text` if it has no lone surrogate (JSON lets "\\ud800" through; UTF-8 cannot carry it)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise MetadataError(field, "not valid Unicode") from None
    return text


@dataclass(frozen=True, slots=True)
class MetadataUpdate:
    """A change to a live participant: each field given replaces its value, None keeps it."""

    name: str | None = None
    metadata: str | None = None
    attributes: Mapping[str, str] | None = None

    def to_fields(self) -> dict[str, Any]:
        attributes = None if self.attributes is None else dict(self.attributes)
        return {"name": self.name, "metadata": self.metadata, "attributes": attributes}

    @classmethod
    def from_fields(cls, fields: object) -> MetadataUpdate:
        """An update as it travels (a node command, a client message); MetadataError names
        the field out of bounds."""
        if not isinstance(fields, dict):
            raise MetadataError("update", "must be an object")
        name, metadata, attributes = (fields.get(f) for f in ("name", "metadata", "attributes"))
        return cls(
            name=None if name is None else check_name(name),
            metadata=None if metadata is None else check_metadata(metadata),
            attributes=None if attributes is None else check_attributes(attributes),
        )
