"""Single-machine mode: the control API, the web page and one media node in one process.

Room state lives in memory (like LiveKit's single-node mode): no Redis needed. The node's
signaling is served under /node on the same origin, so the page needs one port. For several
nodes, run ``python -m control_api`` and ``python -m sfu`` with ``SFU_REDIS_URL`` instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from cluster.store.memory_store import MemoryStore
from control_api.app import create_app
from control_api.settings import ControlSettings
from serving.limits import HttpLimits
from serving.server import run_from_command_line, serve_until_stopped
from sfu.node import Node
from sfu.settings import NodeSettings
from sfu.signaling.messages import MAX_WS_FRAME_BYTES
from webclient import STATIC_DIR

NODE_PATH = "/node"


def local_defaults(environ: Mapping[str, str]) -> dict[str, Any]:
    """What this mode sets unless the environment says otherwise: the demo route on (an
    explicit SFU_DEMO=false wins), and a random API key of this process when none is given
    (the REST API then needs SFU_API_KEYS set to be used)."""
    names = {name.upper() for name in environ}
    defaults: dict[str, Any] = {}
    if "SFU_DEMO" not in names:
        defaults["demo"] = True
    if not names & {"SFU_API_KEYS", "SFU_API_KEYS_FILE"}:
        defaults["api_keys"] = {"local": secrets.token_urlsafe(32)}
    return defaults


async def serve(host: str, port: int) -> None:
    defaults = local_defaults(os.environ)
    control = ControlSettings(**defaults)
    # The node's URL is relative: the page resolves it against its own origin.
    node_settings = NodeSettings(**defaults, node_id="local", node_url=f"{NODE_PATH}/v1/signal")
    store = MemoryStore()
    node = Node(node_settings, store)
    app = create_app(control, store, static_dir=STATIC_DIR, mounts={NODE_PATH: node.app()})
    await node.start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"SFU ready: open http://{shown}:{port}/", flush=True)
    try:
        await serve_until_stopped(
            app, host, port, limits=HttpLimits(), ws_max_bytes=MAX_WS_FRAME_BYTES
        )
    finally:
        await node.stop()
        await store.close()


def main() -> None:
    run_from_command_line(__doc__.splitlines()[0], serve)


if __name__ == "__main__":
    main()
