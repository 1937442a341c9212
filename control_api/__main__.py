"""`python -m control_api`: the control API alone (settings from SFU_* variables).

Use with SFU_REDIS_URL so that media nodes started with `python -m sfu` share its store.
"""

from __future__ import annotations

import argparse
import logging

import uvloop

from control_api.app import STATIC_DIR, create_app
from control_api.settings import ControlSettings
from control_api.store import open_store
from sfu.observability.logs import configure_logging
from sfu.serving import serve_until_stopped


async def serve(host: str, port: int) -> None:
    settings = ControlSettings()
    if settings.redis_url is None:
        logging.getLogger(__name__).warning(
            "SFU_REDIS_URL is unset: rooms and nodes live in this process only"
        )
    store = open_store(settings.redis_url, node_ttl_s=settings.node_ttl_s)
    try:
        await serve_until_stopped(create_app(settings, store, static_dir=STATIC_DIR), host, port)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="seed-sfu control API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    configure_logging()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
