"""TURN credentials in coturn's shared-secret scheme, from the join token's claims; and the
node's TURN settings. (tests/browser/test_turn.py shows coturn accepting them.)"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from pydantic import ValidationError

from cluster.tokens import JoinClaims, JoinGrants
from sfu.settings import NodeSettings
from sfu.signaling.turn import TurnConfig, ice_servers

TURN = TurnConfig(("turn:turn.example:3478?transport=udp", "turns:turn.example:443"), "s3cret")


def claims(
    room: str = "standup", identity: str = "ann", expires_at: float = 1_800_000_000.7
) -> JoinClaims:
    return JoinClaims(
        identity=identity,
        name=identity,
        room=room,
        grants=JoinGrants(),
        room_id="r1",
        generation=1,
        issued_at=expires_at - 3600,
        expires_at=expires_at,
    )


def test_credentials_expire_with_the_token_and_name_the_room_and_identity() -> None:
    (server,) = ice_servers(TURN, claims())
    assert server.urls == list(TURN.urls)
    assert server.username == "1800000000:standup:ann"  # coturn reads the expiry before ':'
    signature = hmac.new(b"s3cret", server.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(server.credential) == signature


def test_each_room_identity_and_expiry_gets_its_own_credential() -> None:
    credentials = {
        ice_servers(TURN, c)[0].credential
        for c in (claims(), claims(room="other"), claims(identity="ben"), claims(expires_at=1.0))
    }
    assert len(credentials) == 4


def test_no_relay_configured_no_ice_servers() -> None:
    assert ice_servers(None, claims()) == []
    assert ice_servers(TurnConfig((), "s3cret"), claims()) == []


def test_node_settings_read_turn_urls_and_need_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFU_API_KEYS", "k:" + "x" * 32)
    monkeypatch.setenv("SFU_TURN_URLS", "turn:a:3478, turns:b:443")
    monkeypatch.setenv("SFU_TURN_SECRET", "x")
    assert NodeSettings().turn() == TurnConfig(("turn:a:3478", "turns:b:443"), "x")
    monkeypatch.delenv("SFU_TURN_SECRET")
    with pytest.raises(ValidationError, match="SFU_TURN_URLS needs SFU_TURN_SECRET"):
        NodeSettings()
    monkeypatch.setenv("SFU_TURN_URLS", "stun:a:3478")
    monkeypatch.setenv("SFU_TURN_SECRET", "x")
    with pytest.raises(ValidationError, match="not a turn: or turns: URL"):
        NodeSettings()
    monkeypatch.delenv("SFU_TURN_URLS")
    assert NodeSettings().turn() is None
