"""Webhooks: signed POSTs telling the operator's backend about rooms and participants.

Events are `room_started`, `room_finished`, `participant_joined`, `participant_updated` (its
name, metadata or attributes changed), `participant_left`, and
`track_published`, `track_unpublished`, `track_muted`, `track_unmuted` (with the participant and
the track). Each is POSTed as JSON (`event_body`) to every configured URL with these headers:

    Content-Type     application/json
    X-SFU-Event      the event name
    X-SFU-Delivery   the event id (the same on every retry: receivers deduplicate with it)
    X-SFU-Signature  t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>

The signature covers the timestamp, so a receiver can refuse replays: `verify` accepts it only
when `t` is within `tolerance_s` of its own clock. `t` is the time of the attempt, not of the
event, so a retried delivery still verifies. Unknown `k=v` items are ignored and several `v1`
items may be present (Stripe's scheme), which leaves room for key rotation.

Delivery never blocks the media node: `WebhookSender.notify` only queues. One worker per URL
posts that URL's events in order, retrying connection errors, timeouts, 429 and 5xx with
exponential backoff; any other status is final. Order costs head-of-line blocking: an event
being retried holds back the events queued behind it for the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

logger = logging.getLogger(__name__)

EventType = Literal[
    "room_started",
    "room_finished",
    "participant_joined",
    "participant_updated",
    "participant_left",
    "track_published",
    "track_unpublished",
    "track_muted",
    "track_unmuted",
]
Outcome = Literal["delivered", "retry", "final"]

SIGNATURE_HEADER = "X-SFU-Signature"
EVENT_HEADER = "X-SFU-Event"
DELIVERY_HEADER = "X-SFU-Delivery"
# Receivers refuse signatures further than this from their clock (Stripe uses 5 minutes too).
DEFAULT_TOLERANCE_S = 300.0
FIRST_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 30.0
# Counting drops is exact; logging each would flood the log exactly when the receiver is down.
_LOG_EVERY_N_DROPS = 100


@dataclass(frozen=True, slots=True)
class WebhookParticipant:
    identity: str
    name: str
    metadata: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookTrack:
    id: str
    kind: str
    source: str
    muted: bool


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    event: EventType
    created_at: float
    room: str
    node_id: str
    participant: WebhookParticipant | None = None
    track: WebhookTrack | None = None

    @classmethod
    def new(
        cls,
        event: EventType,
        *,
        room: str,
        node_id: str,
        now: float,
        participant: WebhookParticipant | None = None,
        track: WebhookTrack | None = None,
    ) -> WebhookEvent:
        """An event with a fresh random id."""
        return cls(uuid.uuid4().hex, event, now, room, node_id, participant, track)


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """Counts since construction, for metrics; `failed` = gave up or refused by the receiver."""

    delivered: int
    failed: int
    dropped: int
    retried: int


def event_body(event: WebhookEvent) -> bytes:
    """The JSON document POSTed for `event` (participant is null for room events)."""
    return json.dumps(dataclasses.asdict(event), separators=(",", ":")).encode()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The X-SFU-Signature value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


def verify(
    body: bytes, header: str, secret: str, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """True if `header` signs `body` with `secret` at a time within `tolerance_s` of `now`.

    For receivers. A malformed header is False, never an exception.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            # 12 digits last until the year 33658; longer would only risk int/float overflows.
            well_formed = value.isascii() and value.isdigit() and len(value) <= 12
            if timestamp is not None or not well_formed:
                return False
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = _digest(body, secret, timestamp).encode()
    # Check every candidate, so the time taken does not say which one matched.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in signatures]
    return any(matches)


def delivery_headers(
    event: WebhookEvent, body: bytes, secret: str, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: event.event,
        DELIVERY_HEADER: event.id,
        SIGNATURE_HEADER: sign(body, secret, timestamp),
    }


def retry_delay_s(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 0.5, 1, 2, ... 30."""
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    # The exponent is capped before it can overflow a float; 2**7 * 0.5 is past the cap anyway.
    return min(MAX_RETRY_DELAY_S, FIRST_RETRY_DELAY_S * 2.0 ** min(attempt - 1, 7))


def outcome_of_status(status: int) -> Outcome:
    """2xx is delivered; 429 and 5xx may succeed later; anything else will not (a redirect or
    4xx means the URL or the receiver's configuration is wrong, which retrying cannot fix)."""
    if 200 <= status < 300:
        return "delivered"
    if status == 429 or status >= 500:
        return "retry"
    return "final"


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _shown(url: str) -> str:
    """The URL for logs, without credentials (receivers are often protected by basic auth)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True, slots=True)
class _Endpoint:
    url: str
    shown: str
    queue: asyncio.Queue[WebhookEvent]


class WebhookSender:
    """Delivers events to every URL in the background; the owner only calls `notify`."""

    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        *,
        client: httpx.AsyncClient | None = None,
        max_queue: int = 1000,
        max_attempts: int = 6,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_queue < 1 or max_attempts < 1:
            # asyncio.Queue(maxsize=0) would be unbounded: refuse it rather than grow forever.
            raise ValueError("max_queue and max_attempts must be at least 1")
        self._endpoints = [
            _Endpoint(url, _shown(url), asyncio.Queue(max_queue)) for url in dict.fromkeys(urls)
        ]
        self._secret = secret
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._clock = clock
        self._sleep = sleep
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self._pending = 0  # queued or being delivered, over all URLs
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._retried = 0

    @property
    def stats(self) -> WebhookStats:
        return WebhookStats(self._delivered, self._failed, self._dropped, self._retried)

    def start(self) -> None:
        """Start one worker per URL (events notified before this wait in the queues)."""
        if self._workers or self._closed:
            raise RuntimeError("WebhookSender already started or closed")
        self._workers = [
            asyncio.create_task(self._run(endpoint), name=f"webhooks {endpoint.shown}")
            for endpoint in self._endpoints
        ]

    def notify(self, event: WebhookEvent) -> None:
        """Queue `event` for every URL. Never blocks or raises: a full queue drops it (counted)."""
        for endpoint in self._endpoints:
            if self._closed:
                self._drop(endpoint, event, "sender closed")
                continue
            try:
                endpoint.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(endpoint, event, "queue full")
            else:
                self._pending += 1

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued until `timeout_s`, then stop; what is left counts as dropped."""
        self._closed = True
        if self._workers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.gather(*(endpoint.queue.join() for endpoint in self._endpoints))
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._pending:
            logger.warning("webhooks: %d deliveries abandoned at shutdown", self._pending)
            self._dropped += self._pending
            self._pending = 0
        if self._owns_client:
            await self._client.aclose()

    def _drop(self, endpoint: _Endpoint, event: WebhookEvent, reason: str) -> None:
        self._dropped += 1
        if self._dropped % _LOG_EVERY_N_DROPS == 1:
            logger.warning(
                "webhook %s to %s dropped (%s); %d dropped so far",
                event.event,
                endpoint.shown,
                reason,
                self._dropped,
            )

    async def _run(self, endpoint: _Endpoint) -> None:
        while True:
            event = await endpoint.queue.get()
            try:
                await self._deliver(endpoint, event)
            except Exception:  # a bug or a closed client must not stop this URL's deliveries
                self._failed += 1
                logger.exception("webhook %s to %s failed", event.event, endpoint.shown)
            # Not in a `finally`: a delivery cut by cancellation in aclose stays pending (dropped).
            self._pending -= 1
            endpoint.queue.task_done()

    async def _deliver(self, endpoint: _Endpoint, event: WebhookEvent) -> None:
        body = event_body(event)
        attempt = 1
        while True:
            outcome, reason = await self._attempt(endpoint.url, event, body)
            if outcome == "delivered":
                self._delivered += 1
                return
            if outcome == "final" or attempt >= self._max_attempts:
                self._failed += 1
                logger.warning(
                    "webhook %s (%s) to %s: giving up after %d attempt(s): %s",
                    event.event,
                    event.id,
                    endpoint.shown,
                    attempt,
                    reason,
                )
                return
            self._retried += 1
            await self._sleep(retry_delay_s(attempt))
            attempt += 1

    async def _attempt(self, url: str, event: WebhookEvent, body: bytes) -> tuple[Outcome, str]:
        headers = delivery_headers(event, body, self._secret, int(self._clock()))
        try:
            # Streamed so the receiver's body is never read: only the status matters.
            async with self._client.stream(
                "POST", url, content=body, headers=headers, timeout=self._timeout_s
            ) as response:
                status = response.status_code
        except httpx.TransportError as exc:  # refused, reset, DNS, and every kind of timeout
            return "retry", f"{type(exc).__name__}: {exc}".removesuffix(": ")
        return outcome_of_status(status), f"HTTP {status}"
