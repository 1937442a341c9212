"""What the control API and every media node must agree on, read once from the environment
(prefix `SFU_`).

    SFU_API_KEYS        "id1:secret1,id2:secret2" (commas or newlines between entries)
    SFU_API_KEYS_FILE   a file in the same format (e.g. a mounted Kubernetes Secret);
                        its keys are added to SFU_API_KEYS
    SFU_REDIS_URL       redis://host:6379/0; unset keeps everything in this process (one node)
    SFU_TOKEN_MAX_TTL_S the longest lifetime a join token may have; nodes refuse longer (24 h)
    SFU_DEMO            true enables POST /demo/token (no API key) for the bundled web page,
                        and nodes accept the tokens it mints
    SFU_DEMO_TOKEN_TTL_S lifetime of a demo token, seconds (10 min)
    SFU_NODE_TTL_S      a node is alive while its last heartbeat is younger than this (5 s)
    SFU_WEBHOOK_URLS    comma-separated http(s) URLs that receive signed webhooks (none)
    SFU_WEBHOOK_KEY     id of the API key whose secret signs webhooks (the first key)

Key ids are [A-Za-z0-9_.-]{1,64}; secrets are at least 32 characters (HS256 wants a 256-bit
key). Without keys, construction fails with a message naming both variables (the one-process
mode makes a random key when none is given). Demo tokens are signed with a key of their own,
`DEMO_KEY_ID`, whose secret is derived from the first API key (every process of a cluster
derives the same one, and it opens nothing but joins): a demo token is never an API key's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cluster.models import DEFAULT_NODE_TTL_S
from cluster.tokens import MAX_TOKEN_TTL_S

# ':' keeps it apart from every API key id (they cannot contain one).
DEMO_KEY_ID = "demo:tokens"
MIN_SECRET_LENGTH = 32
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse_api_keys(text: str) -> dict[str, str]:
    """Parse "id:secret" entries separated by commas or newlines; '#' starts a comment line."""
    keys: dict[str, str] = {}
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, secret = entry.partition(":")
        if not sep:
            raise ValueError(f"API key entry {key_id.strip()!r} has no ':secret' part")
        keys[key_id.strip()] = secret.strip()
    return keys


def split_commas(value: object) -> object:
    """An environment variable's "a, b,c" as a list; anything else is left to validation."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class ClusterSettings(BaseSettings):
    """What the control API and every media node must agree on: keys, store, liveness."""

    model_config = SettingsConfigDict(env_prefix="SFU_", frozen=True)

    api_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    api_keys_file: Path | None = None
    redis_url: str | None = None
    demo: bool = False
    demo_token_ttl_s: int = Field(default=600, gt=0)
    token_max_ttl_s: int = Field(default=24 * 3600, gt=0, le=MAX_TOKEN_TTL_S)
    node_ttl_s: float = Field(default=DEFAULT_NODE_TTL_S, gt=0)
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_key: str | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        return parse_api_keys(value) if isinstance(value, str) else value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("webhook_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            try:
                parts = urlsplit(url)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:  # e.g. an unclosed IPv6 bracket
                valid = False
            if not valid:
                raise ValueError(f"webhook URL {url!r} is not an http:// or https:// URL")
        return urls

    @model_validator(mode="after")
    def _resolve_keys(self) -> ClusterSettings:
        keys = dict(self.api_keys)
        if self.api_keys_file is not None:
            try:
                text = self.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read SFU_API_KEYS_FILE: {exc}") from exc
            keys.update(parse_api_keys(text))
        if not keys:
            raise ValueError("no API keys: set SFU_API_KEYS='id:secret' or SFU_API_KEYS_FILE")
        if self.demo_token_ttl_s > self.token_max_ttl_s:
            raise ValueError("SFU_DEMO_TOKEN_TTL_S is longer than SFU_TOKEN_MAX_TTL_S")
        for key_id, secret in keys.items():
            if not _KEY_ID_RE.fullmatch(key_id):
                raise ValueError(f"API key id {key_id!r} must match [A-Za-z0-9_.-]{{1,64}}")
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"API key {key_id!r}: secret must be at least {MIN_SECRET_LENGTH} characters"
                )
        if self.webhook_key is not None and self.webhook_key not in keys:
            raise ValueError(f"SFU_WEBHOOK_KEY {self.webhook_key!r} is not a configured API key id")
        object.__setattr__(self, "api_keys", keys)  # the model is frozen once validated
        return self

    def demo_secret(self) -> str:
        """The demo tokens' signing secret: derived from the first API key, one-way."""
        first = next(iter(self.api_keys.values()))
        return hmac.new(first.encode(), b"seed-sfu demo join tokens", hashlib.sha256).hexdigest()

    def token_secrets(self) -> dict[str, str]:
        """Key id -> secret of every key a join token may be signed with: the API keys, and
        the demo key only while SFU_DEMO is on."""
        demo = {DEMO_KEY_ID: self.demo_secret()} if self.demo else {}
        return {**self.api_keys, **demo}

    def webhook_secret(self) -> str:
        """The secret signing webhooks; receivers are given the same key's secret."""
        return self.api_keys[self.webhook_key or next(iter(self.api_keys))]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Never print secrets (settings end up in logs and tracebacks)."""
        for name, value in super().__repr_args__():
            yield name, ({k: "***" for k in value} if name == "api_keys" else value)
