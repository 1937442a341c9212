"""WebSocket close codes of the signaling protocol, in one place (docs/signaling.md).

44xx are refusals: asking again will not help. 1001 and 45xx mean "try again": the client asks
the control plane for a new token, which may name another node.
"""

from __future__ import annotations

NORMAL = 1000  # leave, or the room was deleted (reason "room deleted")
SHUTTING_DOWN = 1001  # the node stops: rejoin elsewhere
TOO_BIG = 1009
INTERNAL_ERROR = 1011  # a fault of ours: reconnect
TRY_AGAIN_LATER = 1013  # the control plane could not be asked (e.g. Redis down): retry
BAD_JOIN = 4400
BAD_TOKEN = 4401
FORBIDDEN = 4403
ROOM_NOT_FOUND = 4404  # the token names a room the control plane does not know (deleted)
REPLACED = 4409  # the same identity joined again elsewhere
REMOVED = 4410  # removed by the server (REST API)
MEDIA_LOST = 4502  # the participant's media connection failed or closed: rejoin
ELSEWHERE = 4503  # the node does not (or no longer) host the room, or drains: rejoin elsewhere
SLOW_READER = 4508  # a tap's bot read nothing for too long (docs/tap.md): reconnect
OFFER_UNANSWERED = 4504  # a subscribe_offer went unanswered too long (a stuck client): rejoin
