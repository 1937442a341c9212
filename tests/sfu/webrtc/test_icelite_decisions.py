"""The ICE-lite responder's pure decisions: which STUN gets an answer, rate limits, and when a
peer's send address moves."""

from __future__ import annotations

import os

from aioice import stun
from hypothesis import given
from hypothesis import strategies as st

from sfu.media.counters import DropReason
from sfu.webrtc.icelite import should_switch
from sfu.webrtc.ratelimit import SourceRateLimiter
from sfu.webrtc.stun import (
    MAX_STUN_BYTES,
    Check,
    binding_response,
    parse_check,
    verify,
)

PASSWORD = b"0123456789abcdefghijklmn"
SOURCE = ("192.0.2.7", 50123)


def _request(
    username: str | None = "LOCALufrag123456:remote",
    key: bytes | None = PASSWORD,
    *,
    fingerprint: bool = True,
    use_candidate: bool = False,
    method: stun.Method = stun.Method.BINDING,
    message_class: stun.Class = stun.Class.REQUEST,
) -> bytes:
    message = stun.Message(method, message_class)
    if username is not None:
        message.attributes["USERNAME"] = username
    message.attributes["PRIORITY"] = 1853817087
    message.attributes["ICE-CONTROLLING"] = 1234
    if use_candidate:
        message.attributes["USE-CANDIDATE"] = None
    if key is not None:
        message.add_message_integrity(key)
        if not fingerprint:
            message.attributes.pop("FINGERPRINT")
    elif fingerprint:
        message.add_fingerprint()
    return bytes(message)


def _check(data: bytes) -> Check:
    check = parse_check(data)
    assert isinstance(check, Check), check
    return check


def test_a_valid_check_is_answered_with_a_smaller_authenticated_response() -> None:
    data = _request(use_candidate=True)
    check = _check(data)
    assert (check.local_ufrag, check.remote_ufrag, check.nominated) == (
        "LOCALufrag123456",
        "remote",
        True,
    )
    assert verify(check, password=PASSWORD, remote_ufrag="remote") is None
    assert verify(check, password=PASSWORD, remote_ufrag=None) is None  # before start()
    response = binding_response(check, SOURCE, password=PASSWORD, request_size=len(data))
    assert isinstance(response, bytes)
    assert len(response) <= len(data)
    parsed = stun.parse_message(response)
    assert parsed.message_class == stun.Class.RESPONSE
    assert parsed.transaction_id == check.message.transaction_id
    assert parsed.attributes["XOR-MAPPED-ADDRESS"] == SOURCE
    assert parsed.check_message_integrity(PASSWORD)


def test_credentials_must_match() -> None:
    check = _check(_request())
    assert verify(check, password=b"wrong", remote_ufrag="remote") is DropReason.STUN_BAD_INTEGRITY
    assert (
        verify(check, password=PASSWORD, remote_ufrag="other") is DropReason.STUN_WRONG_REMOTE_UFRAG
    )


def test_a_response_never_exceeds_its_request() -> None:
    check = _check(_request())
    assert (
        binding_response(check, ("2001:db8::1", 9), password=PASSWORD, request_size=70)
        is DropReason.STUN_AMPLIFICATION
    )


def test_malformed_or_unauthenticated_stun_is_refused_by_reason() -> None:
    assert parse_check(_request(key=None)) is DropReason.STUN_UNAUTHENTICATED
    assert parse_check(_request(username=None)) is DropReason.STUN_UNAUTHENTICATED
    assert parse_check(_request(username="no-colon")) is DropReason.STUN_UNAUTHENTICATED
    assert parse_check(_request(fingerprint=False)) is DropReason.STUN_UNAUTHENTICATED
    response = _request(message_class=stun.Class.RESPONSE)
    assert parse_check(response) is DropReason.STUN_NOT_A_CHECK
    data = bytearray(_request())
    data[-1] ^= 1  # FINGERPRINT no longer matches
    assert parse_check(bytes(data)) is DropReason.STUN_MALFORMED
    assert parse_check(b"\x00\x01\x00\x00" + b"\x00" * 16) is DropReason.STUN_MALFORMED  # no cookie
    assert parse_check(b"\x00\x01" + bytes(MAX_STUN_BYTES)) is DropReason.STUN_OVERSIZED


@given(st.binary(min_size=0, max_size=700))
def test_random_bytes_never_make_a_check(data: bytes) -> None:
    assert isinstance(parse_check(b"\x00\x01" + data), DropReason)


@given(st.binary(min_size=1, max_size=64))
def test_a_tampered_request_is_never_authenticated(garbage: bytes) -> None:
    data = _request()
    position = int.from_bytes(garbage[:2], "big") % (len(data) - 20) + 20
    tampered = data[:position] + bytes([data[position] ^ (garbage[-1] | 1)]) + data[position + 1 :]
    check = parse_check(tampered)
    assert not (
        isinstance(check, Check)
        and check.local_ufrag == "LOCALufrag123456"
        and verify(check, password=PASSWORD, remote_ufrag="remote") is None
    )


def test_a_random_password_is_never_accepted() -> None:
    check = _check(_request())
    for _ in range(50):
        assert verify(check, password=os.urandom(24), remote_ufrag="remote") is not None


def test_the_rate_limiter_allows_a_burst_then_the_rate_per_source() -> None:
    limiter = SourceRateLimiter(rate_per_s=2, burst=4, max_sources=100)
    assert [limiter.allow("a", 0.0) for _ in range(6)] == [True] * 4 + [False] * 2
    assert limiter.allow("b", 0.0)  # other sources have their own bucket
    assert not limiter.allow("a", 0.2)
    assert limiter.allow("a", 0.5)  # one token back after 0.5 s at 2/s
    assert not limiter.allow("a", 0.5)
    assert [limiter.allow("a", 100.0) for _ in range(5)] == [True] * 4 + [False]  # burst caps


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=300))
def test_the_rate_limiter_tracks_a_bounded_number_of_sources(sources: list[int]) -> None:
    limiter = SourceRateLimiter(rate_per_s=1, burst=1, max_sources=16)
    for i, source in enumerate(sources):
        limiter.allow(source, i * 0.001)
        assert len(limiter) <= 16


@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=100))
def test_no_source_gets_more_than_burst_plus_rate_times_time(times: list[float]) -> None:
    limiter = SourceRateLimiter(rate_per_s=5, burst=3, max_sources=4)
    times.sort()
    allowed = sum(limiter.allow("x", t) for t in times)
    assert allowed <= 3 + 5 * (times[-1] - times[0]) + 1e-9


def test_the_first_check_picks_the_address_and_repeats_do_not_move_it() -> None:
    a, b = ("10.0.0.1", 1000), ("10.0.0.1", 2000)
    assert should_switch(current=None, source=a, nominated=False, current_silent_s=0)
    assert not should_switch(current=a, source=a, nominated=True, current_silent_s=99)
    assert not should_switch(current=a, source=b, nominated=False, current_silent_s=0.5)


def test_nomination_or_a_silent_current_address_moves_it() -> None:
    a, b = ("10.0.0.1", 1000), ("10.0.0.1", 2000)
    assert should_switch(current=a, source=b, nominated=True, current_silent_s=0)  # browsers
    assert should_switch(current=a, source=b, nominated=False, current_silent_s=2.5)  # rebinding
