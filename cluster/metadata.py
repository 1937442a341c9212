"""A participant's name, metadata and attributes: what the app says about it, shown to the room.

`metadata` is an opaque string the app owns (often JSON); `attributes` a small string map
(LiveKit's participant attributes). They come from the join token and change live, by the
participant itself (with the `update_metadata` grant) or through the REST API; every member
of the room is told. The bounds keep a worst-case join token (every byte JSON-escaped, then
base64) inside one signaling frame, and a broadcast cheap for a room of a hundred.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_NAME_CHARS = 128
MAX_METADATA_BYTES = 4096  # UTF-8
MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY_BYTES = 64
MAX_ATTRIBUTE_VALUE_BYTES = 256
# Names and attributes are labels shown as text: no control characters (metadata may have any).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MetadataError(ValueError):
    """A name, metadata or attributes out of bounds; `field` names it (``attributes.<key>``
    for one attribute), `too_large` says a size or count limit was passed."""

    def __init__(self, field: str, reason: str, *, too_large: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.too_large = too_large


def check_name(name: object) -> str:
    if not isinstance(name, str):
        raise MetadataError("name", "must be a string")
    if len(name) > MAX_NAME_CHARS:
        raise MetadataError(
            "name", f"{len(name)} characters, over the {MAX_NAME_CHARS} limit", too_large=True
        )
    if _CONTROL.search(name):
        raise MetadataError("name", "control characters are not allowed")
    return name


def check_metadata(metadata: object) -> str:
    if not isinstance(metadata, str):
        raise MetadataError("metadata", "must be a string")
    size = _utf8_size("metadata", metadata)
    if size > MAX_METADATA_BYTES:
        raise MetadataError(
            "metadata", f"{size} bytes, over the {MAX_METADATA_BYTES}-byte limit", too_large=True
        )
    return metadata


def check_attributes(attributes: object) -> dict[str, str]:
    """A copy of `attributes` if within bounds: keys 1 to 64 bytes, values up to 256 bytes,
    both without control characters, at most 16 of them."""
    if not isinstance(attributes, dict):
        raise MetadataError("attributes", "must be an object of strings")
    if len(attributes) > MAX_ATTRIBUTES:
        raise MetadataError(
            "attributes", f"{len(attributes)}, over the {MAX_ATTRIBUTES} limit", too_large=True
        )
    for key, value in attributes.items():
        where = f"attributes.{str(key)[:MAX_ATTRIBUTE_KEY_BYTES]}"
        if not isinstance(key, str) or not isinstance(value, str):
            raise MetadataError(where, "keys and values must be strings")
        if not key:
            raise MetadataError(where, "keys must not be empty")
        for what, text, limit in (
            ("key", key, MAX_ATTRIBUTE_KEY_BYTES),
            ("value", value, MAX_ATTRIBUTE_VALUE_BYTES),
        ):
            size = _utf8_size(where, text)
            if size > limit:
                raise MetadataError(
                    where, f"{what} of {size} bytes, over the {limit}-byte limit", too_large=True
                )
            if _CONTROL.search(text):
                raise MetadataError(where, f"control characters are not allowed in the {what}")
    return dict(attributes)


def _utf8_size(field: str, text: str) -> int:
    try:
        return len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate: JSON lets "\ud800" through
        raise MetadataError(field, "not valid Unicode") from None


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
