"""Webhooks: the signature scheme, the retry policy, and delivery to a real HTTP receiver.

The receiver is a Starlette app served by uvicorn on a loopback port; it answers each path from
a script of statuses, so failures are real HTTP answers, real refused connections and real
hangs. Backoff sleeps are recorded instead of slept, which keeps the file fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cluster.settings import ClusterSettings
from cluster.webhooks import (
    WebhookEvent,
    WebhookParticipant,
    WebhookSender,
    WebhookStats,
    WebhookTrack,
    event_body,
    outcome_of_status,
    retry_delay_s,
    sign,
    verify,
)
from tests.support.ports import free_port
from tests.support.webhooks import HANG, Receiver

SECRET = "s" * 32
NOW = 1_700_000_000


def room_event(room: str = "standup", kind: Any = "room_started") -> WebhookEvent:
    return WebhookEvent.new(kind, room=room, node_id="node-1", now=time.time())


# --- pure functions ------------------------------------------------------------------------


def test_event_body_is_the_event_as_json() -> None:
    alice = WebhookParticipant("alice", "Alice", metadata="{}", attributes={"role": "host"})
    joined = WebhookEvent("e1", "participant_joined", 12.5, "standup", "node-1", alice)
    assert json.loads(event_body(joined)) == {
        "id": "e1",
        "event": "participant_joined",
        "created_at": 12.5,
        "room": "standup",
        "node_id": "node-1",
        "participant": {
            "identity": "alice",
            "name": "Alice",
            "metadata": "{}",
            "attributes": {"role": "host"},
        },
        "track": None,
    }
    started = WebhookEvent("e2", "room_started", 12.5, "standup", "node-1")
    assert json.loads(event_body(started))["participant"] is None
    camera = WebhookTrack("TR_c", "video", "camera", muted=False)
    published = WebhookEvent("e3", "track_published", 13.0, "standup", "node-1", alice, camera)
    assert json.loads(event_body(published))["track"] == {
        "id": "TR_c",
        "kind": "video",
        "source": "camera",
        "muted": False,
    }


def test_new_events_have_unique_ids() -> None:
    assert len({room_event().id for _ in range(100)}) == 100


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    digest = hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign(b"{}", SECRET, NOW) == f"t=1700000000,v1={digest}"


GOOD = sign(b"body", SECRET, NOW)
GOOD_V1 = GOOD.partition(",")[2]


@pytest.mark.parametrize(
    ("body", "header", "secret", "now", "expected"),
    [
        (b"body", GOOD, SECRET, NOW, True),
        (b"body", GOOD, SECRET, NOW + 300, True),
        (b"body", GOOD, SECRET, NOW - 300, True),  # the sender's clock may be ahead
        (b"body", f" {GOOD_V1} , t={NOW} ", SECRET, NOW, True),  # any order, spaces
        (b"body", f"{GOOD},v0=legacy,v2=future", SECRET, NOW, True),  # unknown items ignored
        (b"body", f"t={NOW},v1={'0' * 64},{GOOD_V1}", SECRET, NOW, True),  # one v1 of several
        (b"bodY", GOOD, SECRET, NOW, False),  # tampered body
        (b"body", GOOD, "w" * 32, NOW, False),  # wrong secret
        (b"body", GOOD, SECRET, NOW + 301, False),  # too old: a replay
        (b"body", GOOD, SECRET, NOW - 301, False),  # too far in the future
        (
            b"body",
            sign(b"body", SECRET, NOW + 1).replace(f"{NOW + 1}", f"{NOW}"),
            SECRET,
            NOW,
            False,
        ),
        (b"body", "", SECRET, NOW, False),
        (b"body", "garbage", SECRET, NOW, False),
        (b"body", f"t={NOW}", SECRET, NOW, False),  # no signature
        (b"body", GOOD_V1, SECRET, NOW, False),  # no timestamp
        (b"body", f"t=,{GOOD_V1}", SECRET, NOW, False),
        (b"body", f"t=-{NOW},{GOOD_V1}", SECRET, NOW, False),
        (b"body", f"t=1e9,{GOOD_V1}", SECRET, NOW, False),
        (b"body", f"t={'9' * 400},{GOOD_V1}", SECRET, NOW, False),  # overflows a float
        (b"body", f"t={'9' * 5000},{GOOD_V1}", SECRET, NOW, False),  # past int()'s digit limit
        (b"body", f"t=\u0661\u0662,{GOOD_V1}", SECRET, NOW, False),  # non-ASCII digits
        (b"body", f"{GOOD},t={NOW}", SECRET, NOW, False),  # two timestamps
        (b"body", f"t={NOW},v1=\u00e9\u00e9", SECRET, NOW, False),  # non-ASCII signature
        (b"body", f"t={NOW},v1=", SECRET, NOW, False),
    ],
)
def test_verify(body: bytes, header: str, secret: str, now: float, expected: bool) -> None:
    assert verify(body, header, secret, now) is expected


def test_verify_tolerance_is_a_parameter() -> None:
    assert verify(b"body", GOOD, SECRET, NOW + 10, tolerance_s=10)
    assert not verify(b"body", GOOD, SECRET, NOW + 11, tolerance_s=10)


@given(
    body=st.binary(max_size=512),
    secret=st.text(min_size=1, max_size=64),
    timestamp=st.integers(min_value=0, max_value=10**12 - 1),  # verify takes 12 digits
    skew=st.floats(min_value=-299, max_value=299),  # a float sum may round past 300
    flip=st.integers(min_value=0),
)
def test_sign_verify_round_trip(
    body: bytes, secret: str, timestamp: int, skew: float, flip: int
) -> None:
    header = sign(body, secret, timestamp)
    assert verify(body, header, secret, timestamp + skew)
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
        assert not verify(tampered, header, secret, timestamp + skew)
    assert not verify(body, header, secret + "x", timestamp + skew)


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0), (10**6, 30.0)],
)
def test_retry_delay_doubles_up_to_a_cap(attempt: int, delay: float) -> None:
    assert retry_delay_s(attempt) == delay


def test_retry_delay_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retry_delay_s(0)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (400, "final"),
        (401, "final"),
        (404, "final"),
        (410, "final"),
        (301, "final"),  # a moved receiver is a configuration error; POSTs are not redirected
    ],
)
def test_outcome_of_status(status: int, outcome: str) -> None:
    assert outcome_of_status(status) == outcome


# --- a real receiver ---------------------------------------------------------------------


class Sleeps(list[float]):
    """A `sleep` that records the backoff instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_sender(sleeps: Sleeps) -> AsyncIterator[Callable[..., WebhookSender]]:
    """Started senders with recorded sleeps, closed after the test."""
    made: list[WebhookSender] = []

    def make(urls: list[str], *, start: bool = True, **kwargs: Any) -> WebhookSender:
        sender = WebhookSender(urls, SECRET, sleep=sleeps, **kwargs)
        if start:
            sender.start()
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.aclose(timeout_s=0)


def stats(delivered: int = 0, failed: int = 0, dropped: int = 0, retried: int = 0) -> WebhookStats:
    return WebhookStats(delivered=delivered, failed=failed, dropped=dropped, retried=retried)


async def test_delivers_a_signed_event(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    sender = make_sender([receiver.url()])
    event = room_event()
    sender.notify(event)
    [request] = await receiver.wait_for(1)
    assert request.body == event_body(event)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-sfu-event"] == "room_started"
    assert request.headers["x-sfu-delivery"] == event.id
    signature = request.headers["x-sfu-signature"]
    assert verify(request.body, signature, SECRET, time.time())
    assert not verify(request.body + b" ", signature, SECRET, time.time())
    assert not verify(request.body, signature, "w" * 32, time.time())
    assert not verify(request.body, signature, SECRET, time.time() + 3600)
    await sender.aclose()
    assert sender.stats == stats(delivered=1)


async def test_the_signature_is_made_at_each_attempt(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    times = iter([NOW, NOW + 60])
    receiver.scripts["/hook"] = [503]
    sender = make_sender([receiver.url()], clock=lambda: next(times))
    sender.notify(room_event())
    first, second = await receiver.wait_for(2)
    assert first.headers["x-sfu-signature"].startswith(f"t={NOW},")
    assert verify(second.body, second.headers["x-sfu-signature"], SECRET, NOW + 60)
    assert first.headers["x-sfu-delivery"] == second.headers["x-sfu-delivery"]


async def test_retries_5xx_and_429_with_backoff_then_delivers(
    receiver: Receiver, make_sender: Callable[..., WebhookSender], sleeps: Sleeps
) -> None:
    receiver.scripts["/hook"] = [500, 429, 503]
    sender = make_sender([receiver.url()])
    sender.notify(room_event())
    requests = await receiver.wait_for(4)
    await sender.aclose()
    assert len({r.headers["x-sfu-delivery"] for r in requests}) == 1
    assert sleeps == [0.5, 1.0, 2.0]
    assert sender.stats == stats(delivered=1, retried=3)


async def test_a_4xx_is_final(
    receiver: Receiver, make_sender: Callable[..., WebhookSender], sleeps: Sleeps
) -> None:
    receiver.scripts["/hook"] = [400]
    sender = make_sender([receiver.url()])
    sender.notify(room_event())
    await sender.aclose()
    assert len(receiver.requests) == 1
    assert sleeps == []
    assert sender.stats == stats(failed=1)


async def test_gives_up_after_max_attempts_and_logs_why(
    receiver: Receiver,
    make_sender: Callable[..., WebhookSender],
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.scripts["/hook"] = [500] * 3
    sender = make_sender([receiver.url()], max_attempts=3)
    event = room_event()
    with caplog.at_level(logging.WARNING, logger="cluster.webhooks"):
        sender.notify(event)
        await sender.aclose()
    assert len(receiver.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert sender.stats == stats(failed=1, retried=2)
    [record] = caplog.records
    assert receiver.url() in record.getMessage()
    assert "HTTP 500" in record.getMessage()
    assert event.id in record.getMessage()
    assert SECRET not in caplog.text


async def test_a_refused_connection_is_retried(
    make_sender: Callable[..., WebhookSender],
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://user:password@127.0.0.1:{free_port()}/hook"  # nobody listens
    sender = make_sender([url], max_attempts=2)
    sender.notify(room_event())
    await sender.aclose()
    assert sleeps == [0.5]
    assert sender.stats == stats(failed=1, retried=1)
    assert "ConnectError" in caplog.text
    assert "password" not in caplog.text


async def test_a_hanging_receiver_does_not_block_notify_and_times_out(
    receiver: Receiver, make_sender: Callable[..., WebhookSender], sleeps: Sleeps
) -> None:
    receiver.scripts["/hook"] = [HANG]
    sender = make_sender([receiver.url()], timeout_s=0.2)
    started = time.perf_counter()
    for _ in range(3):
        sender.notify(room_event())
    assert time.perf_counter() - started < 0.05
    await receiver.wait_for(4)  # the hung attempt, its retry, then the two others
    await sender.aclose()
    assert sleeps == [0.5]
    assert sender.stats == stats(delivered=3, retried=1)


async def test_order_per_url_is_kept_across_retries(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    receiver.scripts["/hook"] = [500, 500]
    sender = make_sender([receiver.url()])
    events = [room_event(f"room-{i}") for i in range(20)]
    for event in events:
        sender.notify(event)
    requests = await receiver.wait_for(22)
    delivered = [r.event_id for r in requests[2:]]
    assert delivered == [e.id for e in events]


async def test_every_url_gets_every_event(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    receiver.scripts["/b"] = [HANG]  # one slow receiver does not hold the other back
    sender = make_sender([receiver.url("/a"), receiver.url("/b")], timeout_s=0.5)
    events = [room_event(), room_event(kind="room_finished")]
    for event in events:
        sender.notify(event)
    a = await receiver.wait_for(2, "/a")
    assert len(receiver.on("/b")) == 1
    b = await receiver.wait_for(3, "/b")
    assert [r.event_id for r in a] == [e.id for e in events]
    assert [r.event_id for r in b[1:]] == [e.id for e in events]


async def test_a_full_queue_drops_and_counts(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    sender = make_sender([receiver.url()], max_queue=2, start=False)
    events = [room_event(f"room-{i}") for i in range(5)]
    for event in events:
        sender.notify(event)
    assert sender.stats == stats(dropped=3)
    sender.start()
    await sender.aclose()
    assert [r.event_id for r in receiver.requests] == [e.id for e in events[:2]]
    assert sender.stats == stats(delivered=2, dropped=3)


async def test_aclose_flushes_queued_events(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    sender = make_sender([receiver.url("/a"), receiver.url("/b")])
    for i in range(10):
        sender.notify(room_event(f"room-{i}"))
    await sender.aclose(timeout_s=5)
    assert (len(receiver.on("/a")), len(receiver.on("/b"))) == (10, 10)
    assert sender.stats == stats(delivered=20)


async def test_aclose_gives_up_at_its_deadline_and_counts_the_rest_as_dropped(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    receiver.scripts["/hook"] = [HANG]
    sender = make_sender([receiver.url()])
    sender.notify(room_event())
    sender.notify(room_event())
    await receiver.wait_for(1)
    started = time.perf_counter()
    await sender.aclose(timeout_s=0.1)
    assert time.perf_counter() - started < 1
    assert sender.stats == stats(dropped=2)
    sender.notify(room_event())  # after close: counted, not queued
    assert sender.stats == stats(dropped=3)


async def test_an_unexpected_error_fails_the_event_and_the_worker_goes_on(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    client = httpx.AsyncClient()
    await client.aclose()  # every request now raises RuntimeError
    sender = make_sender([receiver.url()], client=client)
    sender.notify(room_event())
    sender.notify(room_event())
    await sender.aclose()
    assert sender.stats == stats(failed=2)


async def test_a_given_client_is_left_open(
    receiver: Receiver, make_sender: Callable[..., WebhookSender]
) -> None:
    async with httpx.AsyncClient() as client:
        sender = make_sender([receiver.url()], client=client)
        sender.notify(room_event())
        await sender.aclose()
        assert not client.is_closed
        assert sender.stats == stats(delivered=1)


async def test_without_urls_notify_does_nothing(
    make_sender: Callable[..., WebhookSender],
) -> None:
    sender = make_sender([])
    sender.notify(room_event())
    await sender.aclose()
    assert sender.stats == stats()


def test_queue_and_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WebhookSender(["http://127.0.0.1/hook"], SECRET, max_queue=0)
    with pytest.raises(ValueError, match="at least 1"):
        WebhookSender(["http://127.0.0.1/hook"], SECRET, max_attempts=0)


# --- settings ----------------------------------------------------------------------------

S1 = "a" * 32
S2 = "b" * 48


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("API_KEYS", "API_KEYS_FILE", "DEMO", "WEBHOOK_URLS", "WEBHOOK_KEY"):
        monkeypatch.delenv(f"SFU_{name}", raising=False)
    yield monkeypatch


def test_settings_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SFU_API_KEYS", f"k1:{S1},k2:{S2}")
    clean_env.setenv("SFU_WEBHOOK_URLS", " https://example.com/hooks , http://10.0.0.1:8080/x,")
    clean_env.setenv("SFU_WEBHOOK_KEY", "k2")
    settings = ClusterSettings()
    assert settings.webhook_urls == ["https://example.com/hooks", "http://10.0.0.1:8080/x"]
    assert settings.webhook_secret() == S2


def test_settings_default_to_no_webhooks_signed_with_the_first_key(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = ClusterSettings(api_keys=f"k1:{S1},k2:{S2}")
    assert settings.webhook_urls == []
    assert settings.webhook_key is None
    assert settings.webhook_secret() == S1


@pytest.mark.parametrize(
    ("urls", "bad"),
    [
        ("ftp://example.com/hook", "ftp://example.com/hook"),
        ("https://ok.example/x,example.com/hook", "example.com/hook"),
        ("http://", "http://"),
        ("http://[::1/x", "http://[::1/x"),
    ],
)
def test_settings_refuse_a_non_http_url(clean_env: pytest.MonkeyPatch, urls: str, bad: str) -> None:
    clean_env.setenv("SFU_WEBHOOK_URLS", urls)
    with pytest.raises(ValidationError, match=f"webhook URL {re.escape(repr(bad))} is not an http"):
        ClusterSettings(api_keys=f"k1:{S1}")


def test_settings_refuse_an_unknown_webhook_key(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="SFU_WEBHOOK_KEY 'k9' is not a configured"):
        ClusterSettings(api_keys=f"k1:{S1}", webhook_key="k9")
