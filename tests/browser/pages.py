"""A static page server of a test's own, on another origin than the stack's (WHIP and WHEP must
allow CORS), serving a page and Medooze's `whip-whep` client library (from the npm registry,
installed by `make test`)."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

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


@contextlib.asynccontextmanager
async def client_page(browser: Browser, origin: str, entry: str) -> AsyncIterator[Page]:
    """The page at ``origin`` in a context of its own, once its script defined ``window.entry``.
    A failure inside gets the page's console as a note; a page that logged an error fails."""
    context = await browser.new_context()
    console: list[str] = []
    try:
        page = await context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        await page.goto(origin)
        await page.wait_for_function(f"() => typeof window.{entry} === 'function'")
        yield page
        assert not [line for line in console if line.startswith(("pageerror", "error"))], console
    except BaseException as err:
        err.add_note(f"console of {origin}:\n" + "\n".join(console))
        raise
    finally:
        with contextlib.suppress(Exception):
            await context.close()
