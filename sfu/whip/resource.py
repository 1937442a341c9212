"""The HTTP side of WHIP and WHEP sessions (RFC 9725 §4; WHEP mirrors it), shared by both.

``POST <path>`` with a join token as bearer and an SDP offer starts a session: 201 with the SDP
answer and the session's resource URL (``Location``). ``PATCH`` on that URL trickles candidates
or restarts ICE (``application/trickle-ice-sdpfrag``); ``DELETE`` ends the session. The resource
id is a random capability: PATCH and DELETE need no token (it may have expired meanwhile).
Every answer carries CORS headers, so a page on any origin may publish or play.
"""

from __future__ import annotations

import functools
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cluster.tokens import JoinClaims, JoinGrants
from serving.limits import BodyLimit
from sfu.rooms.member import Member
from sfu.signaling import close_codes
from sfu.signaling.admission import Refusal
from sfu.signaling.session import Refused, TokenCheck, bearer_token
from sfu.signaling.turn import TurnConfig, ice_servers
from sfu.webrtc.peer import IceCredentials

MAX_BODY_BYTES = 64 * 1024  # an offer with many codecs and candidates is a few KiB
# Ended sessions remembered, so that a DELETE after the connection closed (clients close their
# peer connection first: its DTLS close_notify ends the session) still gets 200.
ENDED_KEPT = 1024
SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Max-Age": "86400",
}
# A refused admission (a signaling close code) as an HTTP status.
REFUSAL_STATUS = {
    close_codes.BAD_TOKEN: 401,
    close_codes.FORBIDDEN: 403,
    close_codes.REMOVED: 403,
    close_codes.ROOM_NOT_FOUND: 404,
    close_codes.ELSEWHERE: 503,  # ask the control plane for a new token (another node)
    close_codes.TRY_AGAIN_LATER: 503,
}

Candidate = tuple[str | None, str | None]
"""(mid, candidate attribute value); a None candidate is the end of candidates."""


class HttpError(Exception):
    """Answered as ``status`` with ``reason`` as text/plain."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return PlainTextResponse(self.reason, self.status, headers=CORS | self.headers)


def refused(refusal: Refusal) -> HttpError:
    return HttpError(REFUSAL_STATUS.get(refusal.code, 403), refusal.reason)


@dataclass(frozen=True, slots=True)
class Fragment:
    """The ICE part of an SDP or SDP fragment (RFC 8840): the first ufrag, password and mid,
    and the candidates in order."""

    ufrag: str | None
    password: str | None
    mid: str | None
    candidates: list[Candidate]


def parse_fragment(text: str) -> Fragment:
    ufrag = password = first_mid = mid = None
    candidates: list[Candidate] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("a=ice-ufrag:") and ufrag is None:
            ufrag = line.removeprefix("a=ice-ufrag:")
        elif line.startswith("a=ice-pwd:") and password is None:
            password = line.removeprefix("a=ice-pwd:")
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
            first_mid = first_mid or mid
        elif line.startswith("a=candidate:"):
            candidates.append((mid, line.removeprefix("a=")))
        elif line == "a=end-of-candidates":
            candidates.append((mid, None))
    return Fragment(ufrag, password, first_mid, candidates)


def answer_fragment(ours: IceCredentials, mid: str | None) -> str:
    """Our side of an ICE restart, as RFC 9725 §4.3.2 shows it (the bundle's first m-line)."""
    lines = ["a=ice-lite", f"a=ice-ufrag:{ours.ufrag}", f"a=ice-pwd:{ours.password}"]
    if mid is not None:
        lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 0", f"a=mid:{mid}"]
    lines += [f"a=candidate:{c}" for c in ours.candidates] + ["a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n"


class Session(Protocol):
    """A live WHIP or WHEP session, as its resource sees it."""

    @property
    def member(self) -> Member: ...

    async def trickle(self, candidates: Sequence[Candidate]) -> None: ...

    def restart_ice(self, ufrag: str) -> IceCredentials | None:
        """None: not supported for this session (answered 422)."""
        ...

    def tick(self, now_ms: int) -> None:
        """Once a second, from the node: reports, estimates, layers."""
        ...

    async def end(self) -> None:
        """DELETE: leave the room now (the session then calls its ``on_end``)."""
        ...


Start = Callable[
    [JoinClaims, str, Mapping[str, str], Callable[[], None]], Awaitable[tuple[Session, str]]
]
"""``start(claims, offer, query, on_end)``: the session and its SDP answer, or HttpError;
``query``: the POST's query parameters (WHEP's ``participant``); the session calls ``on_end``
once it ended, however it did."""


@dataclass(slots=True)
class _Resource:
    session: Session
    etag: str
    ufrag: str | None  # the client's current one: another in a PATCH is an ICE restart
    mid: str | None


class Endpoint:
    """One kind of session (WHIP ingest, WHEP egress) under ``path`` (e.g. ``/v1/whip``), its
    resources at ``path/{id}``."""

    def __init__(
        self,
        path: str,
        *,
        start: Start,
        refuse: Callable[[JoinGrants], str | None],
        tokens: TokenCheck,
        turn: TurnConfig | None = None,
    ) -> None:
        """``refuse(grants)``: why the token may not start this kind of session (403), or None."""
        self.path = path
        self._start = start
        self._refuse = refuse
        self._tokens = tokens
        self._turn = turn
        self._resources: dict[str, _Resource] = {}
        self._ended: deque[str] = deque(maxlen=ENDED_KEPT)

    @property
    def sessions(self) -> list[Session]:
        return [r.session for r in self._resources.values()]

    def routes(self) -> list[Route]:
        """Their bodies are bounded by `MAX_BODY_BYTES` (413 above)."""
        bounded = [Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)]
        return [
            Route(self.path, self._post, methods=["POST", "OPTIONS"], middleware=bounded),
            Route(
                f"{self.path}/{{id}}",
                self._resource,
                methods=["PATCH", "DELETE", "OPTIONS"],
                middleware=bounded,
            ),
        ]

    async def _post(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=PREFLIGHT | {"Accept-Post": SDP})
        try:
            claims = self._claims(request)
            why = self._refuse(claims.grants)
            if why is not None:
                raise HttpError(403, why)
            offer = await _body(request, SDP)
            if not offer.strip():
                raise HttpError(400, "the offer is empty")
            resource_id = secrets.token_urlsafe(16)
            session, answer = await self._start(
                claims,
                offer,
                dict(request.query_params),
                functools.partial(self._forget, resource_id),
            )
        except HttpError as error:
            return error.response()
        if resource_id in self._ended:  # replaced (the identity again) while it was set up
            return HttpError(409, "the session ended while it was set up").response()
        offered = parse_fragment(offer)
        resource = _Resource(session, _etag(), offered.ufrag, offered.mid)
        self._resources[resource_id] = resource
        headers = CORS | {
            "Location": f"{request.scope.get('root_path', '')}{self.path}/{resource_id}",
            "ETag": resource.etag,
            "Accept-Patch": SDPFRAG,
        }
        links = self._links(claims)
        if links:
            headers["Link"] = links
        return Response(answer, 201, headers=headers, media_type=SDP)

    def _forget(self, resource_id: str) -> None:
        """A session ended, however (before its POST was answered, too)."""
        self._resources.pop(resource_id, None)
        self._ended.append(resource_id)

    async def _resource(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=PREFLIGHT | {"Accept-Patch": SDPFRAG})
        try:
            resource_id = request.path_params["id"]
            resource = self._resources.get(resource_id)
            if resource is None and request.method == "DELETE" and resource_id in self._ended:
                return Response(status_code=200, headers=CORS)  # it ended on its own
            if resource is None:
                raise HttpError(404, "no such session (it ended, or never was)")
            if request.method == "DELETE":
                await resource.session.end()
                return Response(status_code=200, headers=CORS)
            return await self._patch(request, resource)
        except HttpError as error:
            return error.response()

    async def _patch(self, request: Request, resource: _Resource) -> Response:
        """Trickled candidates (204), or an ICE restart: a new ufrag (200, our new ones)."""
        if_match = request.headers.get("if-match")
        fragment = parse_fragment(await _body(request, SDPFRAG))
        if fragment.ufrag is not None and fragment.ufrag != resource.ufrag:
            ours = resource.session.restart_ice(fragment.ufrag)
            if ours is None:
                raise HttpError(422, "ICE restart is not possible for this session")
            resource.ufrag, resource.etag = fragment.ufrag, _etag()
            body = answer_fragment(ours, resource.mid)
            headers = CORS | {"ETag": resource.etag}
            return Response(body, 200, headers=headers, media_type=SDPFRAG)
        if if_match not in (None, "*", resource.etag):
            raise HttpError(412, "the session's ETag has changed: an ICE restart happened")
        await resource.session.trickle(fragment.candidates)
        return Response(status_code=204, headers=CORS)

    def _claims(self, request: Request) -> JoinClaims:
        token = bearer_token(request.headers)
        if token is None:
            raise HttpError(
                401, "a join token is needed: Authorization: Bearer <token>", _challenge()
            )
        try:
            return self._tokens.verify(token)
        except Refused as refusal:
            raise HttpError(401, refusal.reason, _challenge('error="invalid_token"')) from None

    def _links(self, claims: JoinClaims) -> str:
        """The node's TURN relays with this session's credentials (RFC 9725 §4.6)."""
        return ", ".join(
            f'<{url}>; rel="ice-server"; username="{server.username}"; '
            f'credential="{server.credential}"; credential-type="password"'
            for server in ice_servers(self._turn, claims)
            for url in server.urls
        )


async def _body(request: Request, media_type: str) -> str:
    """The request's body as text, if it is of ``media_type`` (415 if not, 400 if not UTF-8)."""
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given != media_type:
        raise HttpError(415, f"the body must be {media_type}, not {given or 'absent'}")
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError:
        raise HttpError(400, "the body is not UTF-8") from None


def _challenge(detail: str = "") -> dict[str, str]:
    return {"WWW-Authenticate": f"Bearer {detail}".strip()}


def _etag() -> str:
    return f'"{secrets.token_urlsafe(8)}"'
