"""Join tokens: JWTs (HS256) signed with an API key's secret, verified by the media nodes.

The header's `kid` names the API key, so keys can be rotated: a node holds every current
key id -> secret and picks the secret from the token. Claims:

    sub     participant identity            iat/nbf/exp  seconds since the epoch
    name    display name                    rid          the room's incarnation id (RoomInfo.id)
    room    room name
    gen     the identity's generation in the room when minted (removing it raises the generation)
    grants  {"publish": bool, "subscribe": bool, "publish_data": bool, "sources": [str],
            "hidden": bool}; a token without "publish_data" (minted before it existed) may send
            data messages, one without "sources" may publish every source, one without
            "hidden" is seen; "update_metadata" and "room_admin": bool, absent is false
    metadata     the participant's metadata: a string the app owns (cluster.metadata bounds it)
    attributes   the participant's attributes: {str: str}; both absent from older tokens: empty

`rid` and `gen` let a node refuse a token whose room was deleted since, or whose identity was
removed since: the store is asked at join time. A token's lifetime (exp - iat) is bounded.

Time is a parameter (`now`) so tests and nodes with their own clock stay deterministic.
This module has no FastAPI import: the media node imports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from cluster.metadata import MetadataError, check_attributes, check_metadata

ALGORITHM = "HS256"
# The ceiling of SFU_TOKEN_MAX_TTL_S (and of the REST API's ttl_s): a week.
MAX_TOKEN_TTL_S = 7 * 24 * 3600
# Tolerated clock difference between the control plane that mints and the node that verifies.
DEFAULT_LEEWAY_S = 5.0

_DECODE_OPTIONS: Any = {
    # exp/nbf/iat are checked below against the caller's `now`, with precise reasons.
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


class _Utf8Json(json.JSONEncoder):
    """Claims as UTF-8, not \\u escapes: a character of a name or metadata costs a token at
    most 4 bytes instead of 12, so a token with metadata at its bounds fits a join frame."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**(options | {"ensure_ascii": False}))


class TokenError(Exception):
    """A join token was refused; `reason` is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What a track can carry (a media node's tracks name theirs): a token may limit what it publishes
SOURCES = ("camera", "microphone", "screen", "screen_audio")


@dataclass(frozen=True, slots=True)
class JoinGrants:
    publish: bool = True
    subscribe: bool = True
    publish_data: bool = True  # send data messages (LiveKit's canPublishData)
    sources: tuple[str, ...] = SOURCES  # what it may publish, with `publish` (canPublishSources)
    hidden: bool = False  # a recorder or bot: in no one's roster, and it may not publish
    # change its own name, metadata and attributes (LiveKit's canUpdateOwnMetadata, off by
    # default: an app's metadata, such as a role, is often the app's word, not the user's)
    update_metadata: bool = False
    # moderate the room over signaling: mute others' tracks, remove participants
    room_admin: bool = False

    def to_claims(self) -> dict[str, Any]:
        return {
            "publish": self.publish,
            "subscribe": self.subscribe,
            "publish_data": self.publish_data,
            "sources": list(self.sources),
            "hidden": self.hidden,
            "update_metadata": self.update_metadata,
            "room_admin": self.room_admin,
        }

    @classmethod
    def from_claims(cls, claims: object) -> JoinGrants:
        """The grants of a token (or a command); ValueError names what is wrong. Flags added
        since the first tokens default to what those tokens allowed."""
        if not isinstance(claims, dict):
            raise ValueError("grants")

        def flag(name: str, default: bool | None) -> bool:
            value = claims.get(name, default)
            if not isinstance(value, bool):
                raise ValueError(f"grants.{name}")
            return value

        sources = claims.get("sources", list(SOURCES))
        if not isinstance(sources, list) or not all(s in SOURCES for s in sources):
            raise ValueError("grants.sources")
        return cls(
            publish=flag("publish", None),
            subscribe=flag("subscribe", None),
            publish_data=flag("publish_data", True),
            sources=tuple(dict.fromkeys(sources)),
            hidden=flag("hidden", False),
            update_metadata=flag("update_metadata", False),
            room_admin=flag("room_admin", False),
        )


@dataclass(frozen=True, slots=True)
class JoinClaims:
    identity: str
    name: str
    room: str
    grants: JoinGrants
    room_id: str
    generation: int
    issued_at: float
    expires_at: float
    metadata: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


def mint_join_token(
    *,
    key_id: str,
    secret: str,
    identity: str,
    name: str,
    room: str,
    room_id: str,
    generation: int,
    grants: JoinGrants,
    ttl_s: float,
    now: float,
    metadata: str = "",
    attributes: Mapping[str, str] | None = None,
) -> str:
    """Sign a token letting `identity` join `room` (incarnation `room_id`) until `now + ttl_s`,
    while its generation there is `generation`. The caller has bounded `metadata` and
    `attributes` (cluster.metadata)."""
    issued = math.floor(now)
    payload = {
        "sub": identity,
        "name": name,
        "room": room,
        "rid": room_id,
        "gen": generation,
        "grants": grants.to_claims(),
        "metadata": metadata,
        "attributes": dict(attributes or {}),
        "iat": issued,
        "nbf": issued,
        "exp": math.floor(now + ttl_s),
    }
    return jwt.encode(
        payload, secret, algorithm=ALGORITHM, headers={"kid": key_id}, json_encoder=_Utf8Json
    )


def verify_join_token(
    token: str | None,
    *,
    secrets: Mapping[str, str],
    now: float,
    max_ttl_s: float,
    leeway_s: float = DEFAULT_LEEWAY_S,
) -> JoinClaims:
    """Check signature, key, time window, lifetime (at most `max_ttl_s`) and claim shapes;
    raise `TokenError` with the reason."""
    if not token:
        raise TokenError("token missing")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("token malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError("token malformed")
    key_id = header.get("kid")
    if not isinstance(key_id, str) or key_id not in secrets:
        raise TokenError("token key unknown")
    try:
        payload = jwt.decode(
            token, secrets[key_id], algorithms=[ALGORITHM], options=_DECODE_OPTIONS
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenError("token signature invalid") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("token malformed") from exc
    return _claims(payload, now=now, max_ttl_s=max_ttl_s, leeway_s=leeway_s)


def _claims(
    payload: dict[str, Any], *, now: float, max_ttl_s: float, leeway_s: float
) -> JoinClaims:
    for claim in ("exp", "nbf", "iat"):
        if not _is_number(payload.get(claim)):
            raise TokenError(f"token claims invalid: {claim}")
    if now >= payload["exp"] + leeway_s:
        raise TokenError("token expired")
    if now < payload["nbf"] - leeway_s or now < payload["iat"] - leeway_s:
        raise TokenError("token not yet valid")
    if payload["exp"] - payload["iat"] > max_ttl_s:
        raise TokenError(f"token lifetime exceeds {max_ttl_s:.0f} s")
    generation = payload.get("gen")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise TokenError("token claims invalid: gen")
    for claim in ("sub", "room", "rid"):
        value = payload.get(claim)
        if not isinstance(value, str) or not value:
            raise TokenError(f"token claims invalid: {claim}")
    name = payload.get("name")
    if not isinstance(name, str):
        raise TokenError("token claims invalid: name")
    try:
        grants = JoinGrants.from_claims(payload.get("grants"))
    except ValueError as exc:
        raise TokenError(f"token claims invalid: {exc}") from None
    try:
        metadata = check_metadata(payload.get("metadata", ""))
        attributes = check_attributes(payload.get("attributes", {}))
    except MetadataError as exc:
        raise TokenError(f"token claims invalid: {exc}") from None
    return JoinClaims(
        identity=payload["sub"],
        name=name,
        room=payload["room"],
        grants=grants,
        room_id=payload["rid"],
        generation=generation,
        issued_at=float(payload["iat"]),
        expires_at=float(payload["exp"]),
        metadata=metadata,
        attributes=attributes,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
