"""`python -m control_api`: the control API alone (settings from SFU_* variables).

Use with SFU_REDIS_URL so that media nodes started with `python -m sfu` share its store.
"""

from __future__ import annotations

import logging

from cluster.store import open_store
from control_api.app import create_app
from control_api.settings import ControlSettings
from serving.limits import HttpLimits
from serving.server import run_from_command_line, serve_until_stopped
from webclient import STATIC_DIR


async def serve(host: str, port: int) -> None:
    settings = ControlSettings()
    if settings.redis_url is None:
        logging.getLogger(__name__).warning(
            "SFU_REDIS_URL is unset: rooms and nodes live in this process only"
        )
    store = open_store(settings.redis_url, node_ttl_s=settings.node_ttl_s)
    try:
        app = create_app(settings, store, static_dir=STATIC_DIR)
        await serve_until_stopped(app, host, port, limits=HttpLimits())
    finally:
        await store.close()


def main() -> None:
    run_from_command_line("seed-sfu control API", serve)


if __name__ == "__main__":
    main()
