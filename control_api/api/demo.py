"""POST /demo/token: a join token without an API key, for the bundled web page.

Mounted only when `SFU_DEMO` is on (`make run`): anyone who can reach the port can join any
room. Tokens live `SFU_DEMO_TOKEN_TTL_S` and are signed with the demo key (never an API key),
which nodes accept only while their own `SFU_DEMO` is on.
"""

from __future__ import annotations

from fastapi import APIRouter

from cluster.settings import DEMO_KEY_ID
from cluster.tokens import JoinGrants
from control_api.deps import State
from control_api.joins import issue_join_token
from control_api.schemas import DemoTokenRequest, RoomCreate, TokenOut

router = APIRouter(prefix="/demo", tags=["demo"])


@router.post("/token")
async def demo_token(body: DemoTokenRequest, state: State) -> TokenOut:
    now = state.clock()
    token = await issue_join_token(
        state.store,
        room=RoomCreate(name=body.room).to_room(now=now),
        key_id=DEMO_KEY_ID,
        secret=state.settings.demo_secret(),
        identity=body.identity,
        name=body.name if body.name is not None else body.identity,
        grants=JoinGrants(publish=True, subscribe=True),
        ttl_s=state.settings.demo_token_ttl_s,
        now=now,
        node_ttl_s=state.settings.node_ttl_s,
    )
    state.metrics.join_tokens.labels(route="demo").inc()
    return token
