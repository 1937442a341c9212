"""`python -m control_api`: the control API alone (settings from SFU_* variables).

Use with SFU_REDIS_URL so that media nodes started with `python -m sfu` share its store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn

from control_api.app import create_app
from control_api.settings import ControlSettings
from control_api.store import open_store
from sfu.observability.logs import configure_logging


async def serve(host: str, port: int) -> None:
    settings = ControlSettings()
    if settings.redis_url is None:
        logging.getLogger(__name__).warning(
            "SFU_REDIS_URL is unset: rooms and nodes live in this process only"
        )
    store = open_store(settings.redis_url, node_ttl_s=settings.node_ttl_s)
    try:
        app = create_app(settings, store)
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port)).serve()
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="seed-sfu control API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    configure_logging()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
