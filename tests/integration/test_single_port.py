"""Calls through the node's one UDP port (SFU_UDP_PORT, ICE-lite) with aiortc participants."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time

import pytest
from aioice import stun

from sfu.media.counters import DropReason
from tests.support.client import Client, conference, receives_from
from tests.support.node import running_node
from tests.support.ports import free_udp_port
from tests.support.relay import relay

pytestmark = pytest.mark.webrtc


def _remote_port(sdp: str, protocol: str = "udp") -> set[int]:
    return {
        int(line.split()[5])
        for line in sdp.splitlines()
        if line.startswith("a=candidate:") and line.split()[2] == protocol
    }


async def test_three_participants_share_the_one_port() -> None:
    port = free_udp_port()
    async with (
        running_node(udp_port=port, udp_bind="127.0.0.1") as running,
        conference(running.url, "lite", ["alice", "bob", "carol"], running.token) as clients,
    ):
        answer = clients["alice"].publish_answer
        assert "a=ice-lite" in answer
        assert "a=setup:passive" in answer
        assert _remote_port(answer) == {port}
        assert _remote_port(answer, "tcp") == {running.node.settings.ice_tcp_port()}
        for client in clients.values():
            for pc in (client.publish_pc, client.subscribe_pc):
                pair = pc.getTransceivers()[0].receiver.transport.transport._connection
                assert pair._nominated[1].remote_addr == ("127.0.0.1", port)
        mux = running.node.mux
        assert mux is not None
        assert len(mux.by_ufrag) == 6  # two peer connections each, one socket
        assert mux.stats.checks_answered >= 6
        assert not any(c.errors for c in clients.values())


def _server_ufrags(client: Client) -> set[str]:
    """The node's ufrags for this client's two peer connections."""
    return {
        pc.getTransceivers()[0].receiver.transport.transport._connection.remote_username
        for pc in (client.publish_pc, client.subscribe_pc)
    }


def _bogus_datagrams(ufrag: str, remote_ufrag: str) -> list[bytes]:
    """Random bytes across every first-byte range, STUN with wrong credentials, oversized."""
    rng = random.Random(7)
    out = [bytes([first]) + rng.randbytes(rng.randrange(20, 200)) for first in range(256)]
    for username, key in (
        (f"{ufrag}:{remote_ufrag}", b"not-the-password"),  # right ufrag, wrong password
        (f"{ufrag}:someone-else", b"x"),
        (f"NoSuchUfrag123456:{remote_ufrag}", b"x"),
    ):
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        request.attributes["USERNAME"] = username
        request.attributes["PRIORITY"] = 1853817087
        request.attributes["USE-CANDIDATE"] = None
        request.add_message_integrity(key)
        out.append(bytes(request))
    out.append(b"\x00\x01" + rng.randbytes(2000))  # oversized STUN-looking
    out.append(b"\x80" + rng.randbytes(9000))  # oversized SRTP-looking
    return out


async def test_a_flood_of_bogus_datagrams_is_dropped_unanswered_while_the_call_goes_on() -> None:
    port = free_udp_port()
    total, senders = 100_000, 16
    async with running_node(udp_port=port, udp_bind="127.0.0.1") as running:
        mux = running.node.mux
        assert mux is not None
        alice = Client(running.url, "flood", await running.token("flood", "alice"))
        bob = Client(running.url, "flood", await running.token("flood", "bob"))
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
        try:
            await alice.connect()
            await bob.connect()
            await bob.wait_until(lambda: receives_from(bob, ["alice"]))
            ufrag = sorted(_server_ufrags(bob))[0]
            remote = mux.by_ufrag[ufrag].remote_ufrag
            assert remote is not None
            datagrams = _bogus_datagrams(ufrag, remote)
            for sock in socks:
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            answered_before = mux.stats.checks_answered
            dropped_before = sum(mux.stats.drops.values())
            frames_before = bob.frames["alice"]["video"]
            started = time.monotonic()
            sent = 0
            while sent < total:  # bounded: 100k datagrams in bursts, ~5 s
                for _ in range(250):
                    sock = socks[sent % senders]
                    with contextlib.suppress(BlockingIOError):
                        sock.sendto(datagrams[sent % len(datagrams)], ("127.0.0.1", port))
                    sent += 1
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)  # let the node drain its socket
            elapsed = time.monotonic() - started
            fps = (bob.frames["alice"]["video"] - frames_before) / elapsed
            dropped = sum(mux.stats.drops.values()) - dropped_before
            replies = 0
            for sock in socks:
                with contextlib.suppress(BlockingIOError):
                    while sock.recv(65536):
                        replies += 1
            print(
                f"\nflood: {sent} sent in {elapsed:.1f} s, {replies} answered, "
                f"{dropped} dropped { ({r.value: n for r, n in mux.stats.drops.items() if n}) }, "
                f"video during flood {fps:.1f} fps, checks answered (legit) "
                f"{mux.stats.checks_answered - answered_before}"
            )
            assert replies == 0
            assert dropped >= 0.95 * total
            for reason in (
                DropReason.STUN_RATE_LIMITED,
                DropReason.STUN_BAD_INTEGRITY,
                DropReason.STUN_UNKNOWN_UFRAG,
                DropReason.STUN_OVERSIZED,
                DropReason.UNKNOWN_ADDRESS,
                DropReason.NOT_WEBRTC,
            ):
                assert mux.stats.drops[reason] > 0, reason
            assert fps >= 20  # aiortc's test track sends 30 fps
            metrics, _ = running.node.metrics.render()
            assert b'sfu_udp_dropped_total{reason="stun_bad_integrity"}' in metrics
        finally:
            for sock in socks:
                sock.close()
            await alice.close()
            await bob.close()


async def test_a_participant_whose_consent_checks_stop_is_dropped() -> None:
    timeout_s = 8.0  # aioice checks every 4-6 s
    async with running_node(consent_timeout_s=timeout_s) as running:
        mux = running.node.mux
        assert mux is not None
        async with conference(running.url, "consent", ["alice", "bob"], running.token) as clients:
            alice, bob = clients["alice"], clients["bob"]
            bobs, alices = _server_ufrags(bob), _server_ufrags(alice)
            bobs_transports = [mux.by_ufrag[u] for u in bobs]
            for pc in (bob.publish_pc, bob.subscribe_pc):
                connection = pc.getTransceivers()[0].receiver.transport.transport._connection
                connection._query_consent_task.cancel()
            (session,) = [p for p in running.node.participants if p.member.identity == "bob"]
            server_pcs = [peer._pc for peer in (session.publisher._peer, session.subscriber._peer)]
            deadline = time.monotonic() + timeout_s + 3
            while bobs & mux.by_ufrag.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            dropped_after = mux.now() - max(t.last_check for t in bobs_transports)
            assert not bobs & mux.by_ufrag.keys()
            print(f"\nconsent: dropped {dropped_after:.1f} s after its last check")
            assert timeout_s <= dropped_after <= timeout_s + 1.5
            await asyncio.sleep(0.2)  # aiortc closes the peer connection in a task
            assert {pc.connectionState for pc in server_pcs} == {"closed"}
            # ... and bob leaves the room: alice is told, bob's client is told to rejoin
            await alice.wait_until(lambda: "bob" not in alice.participants, timeout=5)
            await asyncio.wait_for(bob.closed.wait(), 5)
            assert bob.close_code == 4502 and bob.close_reason.startswith("media connection")
            assert "bob" not in running.node.rooms["consent"].members
            assert alices <= mux.by_ufrag.keys()
            assert alice.publish_pc.connectionState == "connected"


async def test_a_participant_whose_source_port_changes_keeps_its_call() -> None:
    port = free_udp_port()
    # The node announces 127.0.0.2 (as a public NAT 1:1 address) but binds 127.0.0.1; the relay
    # on 127.0.0.2 plays the NAT.
    async with running_node(
        udp_port=port, udp_bind="127.0.0.1", ice_host_addresses=["127.0.0.2"]
    ) as running:
        mux = running.node.mux
        assert mux is not None
        async with (
            relay(("127.0.0.2", port), ("127.0.0.1", port)) as nat,
            conference(running.url, "nat", ["alice", "bob"], running.token) as clients,
        ):
            alice, bob = clients["alice"], clients["bob"]
            assert f"127.0.0.2 {port} typ host" in alice.publish_answer
            before = {u: mux.by_ufrag[u].remote for u in _server_ufrags(bob)}
            assert all(a is not None and a[1] != port for a in before.values())
            await nat.rebind()
            rebound = time.monotonic()
            at_bob, at_alice = bob.frames["alice"]["video"], alice.frames["bob"]["video"]

            async def watch() -> None:
                while any(mux.by_ufrag[u].remote == before[u] for u in before):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(watch(), 10)  # aioice's next consent check, 4-6 s
            switch_s = time.monotonic() - rebound
            await bob.wait_until(lambda: bob.frames["alice"]["video"] >= at_bob + 60, timeout=30)
            await alice.wait_until(
                lambda: alice.frames["bob"]["video"] >= at_alice + 60, timeout=30
            )
            after = {u: mux.by_ufrag[u].remote for u in _server_ufrags(bob)}
            print(
                f"\nrebinding: {before} -> {after}; node switched after {switch_s:.1f} s, "
                f"frames flowing both ways again after {time.monotonic() - rebound:.1f} s"
            )
            assert all(after[u] != before[u] for u in before)
            assert not any(c.errors for c in (alice, bob))


@pytest.mark.parametrize(
    ("bind", "announced"),
    [("::1", "::1"), ("::", "127.0.0.1")],
    ids=["ipv6", "dual-stack-ipv4-peers"],
)
async def test_ipv6_and_dual_stack_ports_carry_calls(bind: str, announced: str) -> None:
    """An IPv6 port, and a dual-stack one ("::") whose IPv4 peers appear as ::ffff:a.b.c.d."""
    port = free_udp_port()
    async with (
        running_node(udp_port=port, udp_bind=bind, ice_host_addresses=[announced]) as running,
        conference(running.url, "v6", ["alice", "bob"], running.token) as clients,
    ):
        assert _remote_port(clients["alice"].publish_answer) == {port}
        assert f" {announced} {port} typ host" in clients["alice"].publish_answer
        await clients["bob"].wait_until(lambda: receives_from(clients["bob"], ["alice"]))
        mux = running.node.mux
        assert mux is not None and mux.datapath is not None
        assert mux.datapath.sent > 0
        hosts = {address[0] for address in mux.by_addr}
        assert hosts == ({"::1"} if bind == "::1" else {"::ffff:127.0.0.1"})


async def test_a_port_that_never_segments_its_sends_carries_a_call() -> None:
    """SFU_UDP_SEGMENTS=1: every datagram leaves in a send of its own."""
    async with running_node(udp_port=free_udp_port(), udp_segments=1) as running:
        mux = running.node.mux
        assert mux is not None and mux.datapath is not None
        assert mux.datapath.max_segments == 1
        async with conference(running.url, "single", ["alice", "bob"], running.token) as clients:
            await clients["bob"].wait_until(lambda: receives_from(clients["bob"], ["alice"]))
            assert not any(client.errors for client in clients.values())
        assert mux.datapath.sent > 0 and mux.datapath.coalesced == 0


async def test_a_port_drained_on_a_timer_carries_a_call() -> None:
    """SFU_UDP_DRAIN_MS: the port is read every few ms instead of when it is readable."""
    async with running_node(udp_port=free_udp_port(), udp_drain_ms=2) as running:
        mux = running.node.mux
        assert mux is not None and mux.datapath is not None
        await asyncio.sleep(0.3)
        assert mux.datapath.datagrams == 0
        assert mux.datapath.wakeups >= 30  # read on the timer, with nothing to read
        async with conference(running.url, "timer", ["alice", "bob"], running.token) as clients:
            assert not any(client.errors for client in clients.values())
        assert mux.datapath.datagrams > 40  # each one's 10+ video and audio frames, and more
