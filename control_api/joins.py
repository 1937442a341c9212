"""The join flow shared by the API-key route and the demo route.

Make sure the room exists, place it on a node through the store (atomic there), then sign a
token naming the room; the browser takes the token to that node's signaling URL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cluster.errors import NoNodeAvailable
from cluster.models import RoomInfo
from cluster.store.base import Store
from cluster.tokens import JoinGrants, mint_join_token
from control_api.schemas import TokenOut


async def issue_join_token(
    store: Store,
    *,
    room: RoomInfo,
    key_id: str,
    secret: str,
    identity: str,
    name: str,
    grants: JoinGrants,
    ttl_s: int,
    now: float,
    node_ttl_s: float,
    metadata: str = "",
    attributes: Mapping[str, str] | None = None,
) -> TokenOut:
    """`room` is created if missing (an existing room keeps its settings); `metadata` and
    `attributes` are the participant's, already bounded."""
    room = await store.create_room(room)
    node = await store.assign_room(room.name, now, node_ttl_s)
    if node is None:
        raise NoNodeAvailable("no media node available: none alive and active with spare capacity")
    generation = await store.identity_generation(room.name, identity)
    token = mint_join_token(
        key_id=key_id,
        secret=secret,
        identity=identity,
        name=name,
        room=room.name,
        room_id=room.id,
        generation=generation,
        grants=grants,
        ttl_s=ttl_s,
        now=now,
        metadata=metadata,
        attributes=attributes,
    )
    return TokenOut(
        token=token,
        node_url=node.info.url,
        room=room.name,
        identity=identity,
        expires_at=float(math.floor(now + ttl_s)),  # the token's exp
    )
