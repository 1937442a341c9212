"""Single-machine mode: the control API, the web page and one media node in one process.

Room state lives in memory (like LiveKit's single-node mode): no Redis needed. The node's
signaling is served under /node on the same origin, so the page needs one port. For several
nodes, run ``python -m control_api`` and ``python -m sfu`` with ``SFU_REDIS_URL`` instead.
"""

from __future__ import annotations

from control_api.app import STATIC_DIR, create_app
from control_api.settings import ControlSettings
from control_api.store.memory_store import MemoryStore
from sfu.http_limits import HttpLimits
from sfu.node import Node
from sfu.serving import run_from_command_line, serve_until_stopped
from sfu.settings import NodeSettings

NODE_PATH = "/node"


async def serve(host: str, port: int) -> None:
    control = ControlSettings(demo=True)
    # The node's URL is relative: the page resolves it against its own origin.
    node_settings = NodeSettings(demo=True, node_id="local", node_url=f"{NODE_PATH}/v1/signal")
    store = MemoryStore()
    node = Node(node_settings, store)
    app = create_app(control, store, static_dir=STATIC_DIR, mounts={NODE_PATH: node.app()})
    await node.start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"SFU ready: open http://{shown}:{port}/", flush=True)
    try:
        await serve_until_stopped(app, host, port, limits=HttpLimits())
    finally:
        await node.stop()
        await store.close()


def main() -> None:
    run_from_command_line(__doc__.splitlines()[0], serve)


if __name__ == "__main__":
    main()
