"""ControlSettings: environment parsing, the key file, the demo key, clear startup errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cluster.settings import DEMO_KEY_ID
from control_api.settings import ControlSettings

S1 = "a" * 32
S2 = "b" * 48


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEYS", "API_KEYS_FILE", "REDIS_URL", "TOKEN_TTL_S", "DEMO", "NODE_TTL_S"):
        monkeypatch.delenv(f"SFU_{name}", raising=False)


def test_defaults_with_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFU_API_KEYS", f"k1:{S1}, k2:{S2}")
    settings = ControlSettings()
    assert settings.api_keys == {"k1": S1, "k2": S2}
    assert settings.redis_url is None
    assert settings.token_ttl_s == 6 * 3600
    assert settings.demo is False
    assert settings.node_ttl_s == 5.0


def test_other_values_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFU_API_KEYS", f"k1:{S1}")
    monkeypatch.setenv("SFU_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("SFU_TOKEN_TTL_S", "60")
    monkeypatch.setenv("SFU_NODE_TTL_S", "2.5")
    monkeypatch.setenv("SFU_DEMO", "true")
    settings = ControlSettings()
    assert (settings.redis_url, settings.token_ttl_s, settings.node_ttl_s, settings.demo) == (
        "redis://cache:6379/2",
        60,
        2.5,
        True,
    )
    assert settings.api_keys == {"k1": S1}  # the demo key is never an API key


def test_key_file_adds_to_env_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated monthly\nk2:{S2}\n\nk3:{S1}:with-colon\n")
    monkeypatch.setenv("SFU_API_KEYS", f"k1:{S1}")
    monkeypatch.setenv("SFU_API_KEYS_FILE", str(key_file))
    assert ControlSettings().api_keys == {"k1": S1, "k2": S2, "k3": f"{S1}:with-colon"}


def test_demo_tokens_have_a_key_of_their_own_accepted_only_in_demo_mode() -> None:
    on = ControlSettings(api_keys=f"k1:{S1}", demo=True)
    off = ControlSettings(api_keys=f"k1:{S1}")
    assert on.demo_secret() not in (S1, S2) and len(on.demo_secret()) >= 32
    assert on.token_secrets() == {"k1": S1, DEMO_KEY_ID: on.demo_secret()}
    assert off.token_secrets() == {"k1": S1}
    # every process of a cluster derives the same demo key from the same API keys
    assert ControlSettings(api_keys=f"k1:{S1}", demo=True).demo_secret() == on.demo_secret()
    assert ControlSettings(api_keys=f"k2:{S2}", demo=True).demo_secret() != on.demo_secret()


def test_demo_without_keys_is_refused() -> None:
    with pytest.raises(ValidationError, match="no API keys"):
        ControlSettings(demo=True)


def test_token_lifetimes_are_bounded() -> None:
    with pytest.raises(ValidationError, match="SFU_TOKEN_TTL_S is longer"):
        ControlSettings(api_keys=f"k1:{S1}", token_ttl_s=7200, token_max_ttl_s=3600)
    with pytest.raises(ValidationError, match="SFU_DEMO_TOKEN_TTL_S is longer"):
        ControlSettings(api_keys=f"k1:{S1}", demo_token_ttl_s=7200, token_max_ttl_s=3600)


def test_secrets_never_appear_in_repr() -> None:
    settings = ControlSettings(api_keys=f"k1:{S1}")
    assert S1 not in repr(settings)
    assert S1 not in str(settings)
    assert "k1" in repr(settings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no API keys: set SFU_API_KEYS"),
        ({"api_keys": " , "}, "no API keys"),
        ({"api_keys": "k1"}, "has no ':secret' part"),
        ({"api_keys": "k1:short"}, "at least 32 characters"),
        ({"api_keys": f"bad id:{S1}"}, "must match"),
        ({"api_keys": f":{S1}"}, "must match"),
        ({"api_keys_file": "/nonexistent/keys"}, "cannot read SFU_API_KEYS_FILE"),
        ({"api_keys": f"k1:{S1}", "token_ttl_s": 0}, "greater than 0"),
        ({"api_keys": f"k1:{S1}", "node_ttl_s": -1}, "greater than 0"),
    ],
)
def test_startup_fails_with_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ControlSettings(**kwargs)  # type: ignore[arg-type]
