"""Short-lived TURN credentials for a joining client, in coturn's shared-secret scheme (the
"TURN REST API", draft-uberti-behave-turn-rest-00; coturn's `use-auth-secret`): the username is
"<expiry unix time>:<room>:<identity>" and the password base64(HMAC-SHA1(secret, username)).
coturn checks the signature and the expiry itself, so nothing is stored anywhere. The expiry is
the join token's: the relay works as long as the client may be in the room, and the room and
identity in the username name who used it in coturn's logs. Pure: the claims are passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cluster.tokens import JoinClaims
from sfu.signaling.messages import IceServer


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """The relays every client of this node is given (``turn:``/``turns:`` URLs) and the secret
    they share with coturn's ``static-auth-secret``."""

    urls: tuple[str, ...]
    secret: str


def ice_servers(turn: TurnConfig | None, claims: JoinClaims) -> list[IceServer]:
    """What the client's RTCPeerConnections get as ``iceServers`` (none without TURN)."""
    if turn is None or not turn.urls:
        return []
    username = f"{int(claims.expires_at)}:{claims.room}:{claims.identity}"
    digest = hmac.new(turn.secret.encode(), username.encode(), hashlib.sha1).digest()
    return [
        IceServer(
            urls=list(turn.urls),
            username=username,
            credential=base64.b64encode(digest).decode(),
        )
    ]
