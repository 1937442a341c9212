"""Control-API settings, read once from the environment (prefix `SFU_`): the cluster's
(`cluster.settings`) and these.

    SFU_TOKEN_TTL_S          lifetime of a join token when the request names none, seconds (6 h)
    SFU_HTTP_MAX_BODY_BYTES  a request body above this gets 413 unread (64 KiB)
"""

from __future__ import annotations

from pydantic import Field, model_validator

from cluster.settings import ClusterSettings


class ControlSettings(ClusterSettings):
    token_ttl_s: int = Field(default=6 * 3600, gt=0)
    http_max_body_bytes: int = Field(default=64 * 1024, ge=0)

    @model_validator(mode="after")
    def _check_ttl(self) -> ControlSettings:
        if self.token_ttl_s > self.token_max_ttl_s:
            raise ValueError("SFU_TOKEN_TTL_S is longer than SFU_TOKEN_MAX_TTL_S")
        return self
