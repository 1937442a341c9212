"""A client that can reach the node only over TCP (a firewall that blocks UDP, no TURN) joins
through the node's ICE-TCP port (RFC 6544 passive candidate, RFC 4571 framing) and is in the
same call as a client on UDP: each decodes the other."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser

from tests.browser.harness import RECEIVING_FROM_JS, Stack, join
from tests.support.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The page never learns the node's UDP candidates: every remote description loses them.
TCP_ONLY_JS = """
const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
RTCPeerConnection.prototype.setRemoteDescription = function (description) {
  const sdp = description.sdp.split('\\r\\n')
    .filter((line) => !/^a=candidate:\\S+ \\d+ udp /i.test(line)).join('\\r\\n');
  return setRemote.call(this, {type: description.type, sdp});
};
"""
FIRST_FRAMES_MS = 30_000


async def test_a_client_given_only_the_tcp_candidate_decodes_a_call(
    chromium: Browser, room: str
) -> None:
    tcp_port = free_port()
    stack = Stack.start(env={"SFU_TCP_PORT": str(tcp_port)})
    people = []
    try:
        started = time.monotonic()
        people.append(await join(chromium, stack.base_url, room, "tcp", init_script=TCP_ONLY_JS))
        people.append(await join(chromium, stack.base_url, room, "udp"))
        tcp, udp = people
        seen = await asyncio.gather(
            tcp.wait_for(RECEIVING_FROM_JS, {"peers": ["udp"], "before": None}, FIRST_FRAMES_MS),
            udp.wait_for(RECEIVING_FROM_JS, {"peers": ["tcp"], "before": None}, FIRST_FRAMES_MS),
        )
        print(f"\nover ICE-TCP: both decode each other {time.monotonic() - started:.1f} s in")
        over_tcp, over_udp = (stats["subscribe"] for stats in seen)
        assert over_tcp["protocol"] == "tcp" and over_tcp["remotePort"] == tcp_port, over_tcp
        assert over_udp["protocol"] == "udp", over_udp
        # both of the TCP page's connections went through the node's ICE-TCP port
        assert await asyncio.to_thread(stack.metric, "sfu_tcp_connections") >= 2
        assert await asyncio.to_thread(stack.metric, "sfu_tcp_accepted_total") >= 2
        assert not tcp.page_errors() and not udp.page_errors()
    finally:
        for person in people:
            await person.close()
        stack.stop()
