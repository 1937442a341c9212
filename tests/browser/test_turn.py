"""Clients that may only use a relay (`iceTransportPolicy: 'relay'`, as behind a UDP-blocking
firewall) join through Debian's coturn with the short-lived credentials the node hands out on
joining: over UDP and over TCP to the relay. The node needs nothing else: it answers the relay's
checks like any other address."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.harness import RECEIVING_FROM_JS, Stack, join
from tests.support.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

TURNSERVER = "/usr/bin/turnserver"
# Every RTCPeerConnection of the page may only use relay candidates.
RELAY_ONLY_JS = """
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Native {
  constructor(config) { super({...config, iceTransportPolicy: 'relay'}); }
};
"""
FIRST_FRAMES_MS = 40_000  # coturn on a loaded 2-core machine: ~10 s to 30 frames


@pytest.fixture(scope="module")
def coturn() -> Iterator[tuple[int, str]]:
    """coturn on 127.0.0.1 (UDP and TCP) with a shared secret (use-auth-secret): (port,
    secret). Loopback peers must be allowed explicitly (coturn refuses them by default)."""
    port, secret = free_port(), secrets.token_hex(16)
    log = Path(tempfile.mkstemp(prefix="coturn-", suffix=".log")[1])
    process = subprocess.Popen(
        [
            TURNSERVER, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
            "--relay-ip=127.0.0.1", "--allow-loopback-peers", "--no-tls", "--no-dtls",
            "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=sfu-test",
            "--no-cli", "--min-port=49152", "--max-port=49999", f"--log-file={log}",
            "--simple-log",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:  # listening once a TCP connect succeeds
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "coturn did not listen within 10 s"
            time.sleep(0.05)
        yield port, secret
    finally:
        process.terminate()
        process.wait(5)
        log.unlink(missing_ok=True)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_clients_join_through_turn(
    chromium: Browser, coturn: tuple[int, str], transport: str, room: str
) -> None:
    port, secret = coturn
    url = f"turn:127.0.0.1:{port}?transport={transport}"
    stack = Stack.start(env={"SFU_TURN_URLS": url, "SFU_TURN_SECRET": secret})
    people = []
    try:
        started = time.monotonic()
        for identity in ("ann", "ben"):
            people.append(
                await join(chromium, stack.base_url, room, identity, init_script=RELAY_ONLY_JS)
            )
        ann, ben = people
        seen = await asyncio.gather(
            *(
                person.wait_for(
                    RECEIVING_FROM_JS, {"peers": [other], "before": None}, FIRST_FRAMES_MS
                )
                for person, other in ((ann, "ben"), (ben, "ann"))
            )
        )
        elapsed = time.monotonic() - started
        for stats in seen:
            assert stats["subscribe"]["localType"] == "relay", stats["subscribe"]
        print(f"\nthrough TURN over {transport}: both decode each other {elapsed:.1f} s in")
        assert not ann.page_errors() and not ben.page_errors()
    finally:
        for person in people:
            await person.close()
        stack.stop()
