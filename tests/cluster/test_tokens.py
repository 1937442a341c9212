"""Join tokens: round trip and every refusal reason, with time passed in."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from cluster.tokens import (
    SOURCES,
    JoinClaims,
    JoinGrants,
    TokenError,
    mint_join_token,
    verify_join_token,
)

SECRET = "s" * 40
OTHER_SECRET = "o" * 40
SECRETS = {"k1": SECRET, "k2": OTHER_SECRET}
NOW = 1_700_000_000.25
TTL = 600
MAX_TTL = 3600


def mint(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "key_id": "k1",
        "secret": SECRET,
        "identity": "alice",
        "name": "Alice",
        "room": "standup",
        "room_id": "RM_1",
        "generation": 2,
        "grants": JoinGrants(publish=True, subscribe=False),
        "ttl_s": TTL,
        "now": NOW,
    }
    return mint_join_token(**(args | overrides))


def raw_token(payload: dict[str, Any], *, kid: str = "k1", secret: str = SECRET) -> str:
    """A token with arbitrary claims, for the shapes `mint_join_token` never produces."""
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})


def valid_payload() -> dict[str, Any]:
    return {
        "sub": "alice",
        "name": "Alice",
        "room": "standup",
        "rid": "RM_1",
        "gen": 0,
        "grants": {"publish": True, "subscribe": True},
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + TTL,
    }


def refusal(token: str | None, *, now: float = NOW, leeway_s: float = 0.0) -> str:
    with pytest.raises(TokenError) as caught:
        verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=now, leeway_s=leeway_s)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def test_round_trip() -> None:
    token = mint()
    claims = verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW + 1)
    assert claims == JoinClaims(
        identity="alice",
        name="Alice",
        room="standup",
        grants=JoinGrants(publish=True, subscribe=False),
        room_id="RM_1",
        generation=2,
        issued_at=float(int(NOW)),
        expires_at=float(int(NOW) + TTL),
    )


def test_metadata_and_attributes_round_trip_and_older_tokens_have_none() -> None:
    token = mint(metadata='{"seat": 4}', attributes={"role": "host", "lang": "fr"})
    claims = verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW)
    assert (claims.metadata, claims.attributes) == ('{"seat": 4}', {"role": "host", "lang": "fr"})
    older = raw_token(valid_payload())
    claims = verify_join_token(older, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW)
    assert (claims.metadata, claims.attributes, claims.grants.update_metadata) == ("", {}, False)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"metadata": 7}, "metadata: must be a string"),
        ({"metadata": "x" * 4097}, "metadata: 4097 characters, over the 4096 limit"),
        ({"attributes": ["role"]}, "attributes: must be an object of strings"),
        ({"attributes": {"role": 1}}, "attributes.role: keys and values must be strings"),
        ({"attributes": {str(i): "" for i in range(17)}}, "attributes: 17, over the 16 limit"),
    ],
)
def test_bad_metadata_claims_are_refused_by_name(change: dict[str, Any], reason: str) -> None:
    assert refusal(raw_token(valid_payload() | change)) == f"token claims invalid: {reason}"


@pytest.mark.parametrize(
    "grants",
    [
        JoinGrants(update_metadata=True),
        JoinGrants(publish_data=False),
        JoinGrants(sources=("camera", "microphone")),
        JoinGrants(sources=()),
        JoinGrants(publish=False, hidden=True),
        JoinGrants(room_admin=True),
    ],
)
def test_grants_round_trip(grants: JoinGrants) -> None:
    claims = verify_join_token(mint(grants=grants), secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW)
    assert claims.grants == grants


def test_a_token_from_before_the_data_grant_may_send_data() -> None:
    claims = verify_join_token(
        raw_token(valid_payload()), secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW
    )
    assert claims.grants == JoinGrants(publish=True, subscribe=True, publish_data=True)
    assert claims.grants.sources == SOURCES and not claims.grants.hidden


def test_token_names_its_key_and_algorithm() -> None:
    header = jwt.get_unverified_header(mint(key_id="k2", secret=OTHER_SECRET))
    assert (header["alg"], header["kid"]) == ("HS256", "k2")
    payload = jwt.decode(mint(), SECRET, algorithms=["HS256"], options={"verify_exp": False})
    grants = {
        "publish": True,
        "subscribe": False,
        "publish_data": True,
        "sources": ["camera", "microphone", "screen", "screen_audio"],
        "hidden": False,
        "update_metadata": False,
        "room_admin": False,
    }
    empty = {"metadata": "", "attributes": {}}
    assert payload == valid_payload() | {"grants": grants, "gen": 2} | empty


def test_second_key_verifies_its_own_tokens() -> None:
    token = mint(key_id="k2", secret=OTHER_SECRET)
    assert verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW).identity == "alice"


@pytest.mark.parametrize("token", [None, ""])
def test_missing(token: str | None) -> None:
    assert refusal(token) == "token missing"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "a.b",
        f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.not-base64!.sig",
        f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{_b64({'sub': 'x'})[:-2]}.sig",
        # HS512: not the algorithm we issue (refused before any key is looked at).
        jwt.encode(valid_payload(), "x" * 64, algorithm="HS512", headers={"kid": "k1"}),
        # kid must be a string.
        f"{_b64({'alg': 'HS256', 'kid': 7})}.{_b64({'sub': 'x'})}.sig",
        # alg "none": unsigned.
        jwt.encode(valid_payload(), "", algorithm="none", headers={"kid": "k1"}),
    ],
    ids=["garbage", "junk", "two-parts", "bad-payload", "cut-payload", "hs512", "int-kid", "none"],
)
def test_malformed(token: str) -> None:
    assert refusal(token) == "token malformed"


def test_payload_that_is_not_an_object_is_malformed() -> None:
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "k1"})
    body = base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode()
    signing_input = f"{header}.{body}".encode()
    signature = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        signing_input, SECRET.encode()
    )
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert refusal(token) == "token malformed"


def test_expired() -> None:
    exp = int(NOW) + TTL
    token = mint()
    assert verify_join_token(
        token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=exp - 0.001, leeway_s=0
    ).identity
    assert refusal(token, now=exp) == "token expired"
    # The default leeway tolerates a few seconds of clock difference between machines.
    assert (
        verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=exp + 4.9).identity
        == "alice"
    )
    with pytest.raises(TokenError, match="token expired"):
        verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=exp + 5)


def test_not_yet_valid() -> None:
    token = mint()
    assert refusal(token, now=NOW - 1) == "token not yet valid"
    assert (
        verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW - 4).identity
        == "alice"
    )


def test_tampered_payload_fails_signature() -> None:
    header, _, signature = mint().split(".")
    forged = _b64(valid_payload() | {"room": "board-meeting"})
    assert refusal(f"{header}.{forged}.{signature}") == "token signature invalid"


def test_tampered_signature() -> None:
    token = mint()
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert refusal(flipped) == "token signature invalid"


def test_signed_with_another_secret_under_a_known_kid() -> None:
    assert refusal(mint(secret=OTHER_SECRET)) == "token signature invalid"


@pytest.mark.parametrize("headers", [{"kid": "k9"}, {}], ids=["unknown", "absent"])
def test_key_unknown(headers: dict[str, Any]) -> None:
    token = jwt.encode(valid_payload(), SECRET, algorithm="HS256", headers=headers)
    assert refusal(token) == "token key unknown"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"exp": None}, "exp"),
        ({"exp": "tomorrow"}, "exp"),
        ({"exp": True}, "exp"),
        ({"nbf": None}, "nbf"),
        ({"iat": None}, "iat"),
        ({"sub": None}, "sub"),
        ({"sub": ""}, "sub"),
        ({"sub": 42}, "sub"),
        ({"room": None}, "room"),
        ({"room": ["standup"]}, "room"),
        ({"name": None}, "name"),
        ({"grants": None}, "grants"),
        ({"grants": {"publish": True}}, "grants.subscribe"),
        ({"grants": {"publish": "yes", "subscribe": True}}, "grants.publish"),
        ({"grants": [True, True]}, "grants"),
        (
            {"grants": {"publish": True, "subscribe": True, "publish_data": 1}},
            "grants.publish_data",
        ),
        ({"grants": {"publish": True, "subscribe": True, "hidden": "no"}}, "grants.hidden"),
        (
            {"grants": {"publish": True, "subscribe": True, "update_metadata": 1}},
            "grants.update_metadata",
        ),
        ({"grants": {"publish": True, "subscribe": True, "sources": "screen"}}, "grants.sources"),
        ({"grants": {"publish": True, "subscribe": True, "sources": ["window"]}}, "grants.sources"),
        ({"rid": None}, "rid"),
        ({"rid": ""}, "rid"),
        ({"gen": None}, "gen"),
        ({"gen": -1}, "gen"),
        ({"gen": 1.5}, "gen"),
        ({"gen": True}, "gen"),
    ],
)
def test_claims_invalid(change: dict[str, Any], field: str) -> None:
    payload = {k: v for k, v in (valid_payload() | change).items() if v is not None}
    assert refusal(raw_token(payload)) == f"token claims invalid: {field}"


@pytest.mark.parametrize("exp", [int(NOW) + MAX_TTL + 1, 10**22, 2**63])
def test_lifetime_over_the_maximum(exp: int) -> None:
    assert refusal(raw_token(valid_payload() | {"exp": exp})) == "token lifetime exceeds 3600 s"


def test_lifetime_at_the_maximum() -> None:
    token = raw_token(valid_payload() | {"exp": int(NOW) + MAX_TTL})
    assert verify_join_token(token, secrets=SECRETS, max_ttl_s=MAX_TTL, now=NOW).identity


def test_issued_in_the_future() -> None:
    token = raw_token(valid_payload() | {"iat": int(NOW) + 60, "exp": int(NOW) + 120})
    assert refusal(token) == "token not yet valid"
