"""The bundled browser client: it joins with a token from the control API (or the demo route)
and speaks the node's signaling protocol (docs/signaling.md). Launchers serve `STATIC_DIR`."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
