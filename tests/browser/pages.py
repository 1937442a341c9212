"""A static page server of a test's own, on another origin than the stack's (WHIP and WHEP must
allow CORS), serving a page and Medooze's `whip-whep` client library (from the npm registry,
installed by `make test`)."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

WHIP_WHEP = Path(sys.prefix) / "share" / "whip-whep"  # whip.js and whep.js; see the Makefile


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The test's page server logs nothing."""


@contextlib.contextmanager
def page_server(root: Path, page: str, library: str) -> Iterator[str]:
    """Serve ``page`` as index.html and ``library`` (whip.js or whep.js) beside it from
    ``root``; yields the origin."""
    client = WHIP_WHEP / library
    if not client.exists():
        pytest.fail(f"{client} is missing: run `make test` (it installs it)", pytrace=False)
    (root / "index.html").write_text(page)
    shutil.copy(client, root / library)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
