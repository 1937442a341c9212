"""Data messages between participants over a real node's signaling WebSockets: who gets them,
in which order, how fast, and what is refused (grant, size, rate) without ending anyone's
session or media."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from sfu.signaling.data_budget import DataDrop, DataLimits
from sfu.signaling.messages import MAX_FRAME_BYTES, MAX_WS_FRAME_BYTES
from tests.support.client import Client
from tests.support.node import RunningNode, running_node

pytestmark = pytest.mark.webrtc

LIMITS = DataLimits()
MESSAGES = 200


async def joined(running: RunningNode, room: str, identity: str, **grants: bool) -> Client:
    """A participant that publishes nothing (its session is signaling only)."""
    client = Client(running.url, room, await running.token(room, identity, **grants))
    await client.connect(publish=False)
    return client


@pytest.fixture
async def node() -> AsyncIterator[RunningNode]:
    async with running_node() as running:
        yield running


async def metric(running: RunningNode, name: str) -> float:
    """A sample of the node's /metrics, e.g. 'sfu_data_dropped_total{reason="too_large"}'."""
    url = running.url.replace("ws://", "http://").replace("/v1/signal", "/metrics")
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    [value] = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


async def marker(sender: Client, receivers: list[Client], text: str) -> None:
    """Broadcast `text` and wait until each receiver has it: what was sent before it arrived
    before it (the socket is ordered)."""
    await sender.send({"type": "data", "payload": text})
    for receiver in receivers:
        await receiver.wait_until(lambda r=receiver: any(m["payload"] == text for m in r.data))


async def test_broadcast_reaches_everyone_else_in_the_room_only(node: RunningNode) -> None:
    ann, bob, cyd = [await joined(node, "main", n) for n in ("ann", "bob", "cyd")]
    elsewhere = await joined(node, "other", "dan")
    try:
        before = time.time() * 1000
        await ann.send({"type": "data", "payload": "hello", "topic": "chat"})
        await bob.wait_until(lambda: bob.data)
        await cyd.wait_until(lambda: cyd.data)
        for receiver in (bob, cyd):
            [message] = receiver.data
            assert message.keys() == {"type", "from", "topic", "payload", "ts"}
            assert (message["from"], message["topic"], message["payload"]) == (
                "ann",
                "chat",
                "hello",
            )
            assert before - 1000 <= message["ts"] <= time.time() * 1000 + 1000
        await marker(bob, [ann, cyd], "end")
        assert [m["payload"] for m in ann.data] == ["end"]  # not its own message back
        assert not elsewhere.data and not ann.errors
    finally:
        for client in (ann, bob, cyd, elsewhere):
            await client.close()


async def test_targeted_data_reaches_the_named_only_and_unknown_names_are_told(
    node: RunningNode,
) -> None:
    ann, bob, cyd = [await joined(node, "main", n) for n in ("ann", "bob", "cyd")]
    try:
        frame = {"type": "data", "payload": "psst", "to": ["cyd", "zed", "yan"]}
        await ann.send(frame)
        await cyd.wait_until(lambda: cyd.data)
        await ann.wait_until(lambda: ann.errors)
        assert ann.errors == [
            {
                "type": "error",
                "code": "unknown_recipient",
                "message": "not in the room: 'zed', 'yan'; sent to the others named",
                "ref": "data",
                "track_id": None,
            }
        ]
        assert node.node.data.drops[DataDrop.UNKNOWN_RECIPIENT] == 2
        await marker(ann, [bob, cyd], "end")
        assert [m["payload"] for m in bob.data] == ["end"]
        assert [m["payload"] for m in cyd.data] == ["psst", "end"]
    finally:
        for client in (ann, bob, cyd):
            await client.close()


async def test_bad_data_frames_get_precise_errors(node: RunningNode) -> None:
    ann = await joined(node, "main", "ann")
    try:
        cases = [
            ({"type": "data"}, "data.payload: Field required"),
            ({"type": "data", "payload": 5}, "data.payload: Input should be a valid string"),
            (
                {"type": "data", "payload": "x", "to": []},
                "data.to: List should have at least 1 item",
            ),
            (
                {"type": "data", "payload": "x", "topic": "t" * 65},
                "data.topic: String should have at",
            ),
        ]
        for frame, _ in cases:
            await ann.send(frame)
        await ann.handled()
        assert len(ann.errors) == len(cases)
        for error, (_, why) in zip(ann.errors, cases, strict=True):
            assert (error["code"], error["ref"]) == ("bad_message", "data")
            assert error["message"].startswith(why), error
    finally:
        await ann.close()


async def ws_join(running: RunningNode, room: str, identity: str) -> ClientConnection:
    ws = await websockets.connect(running.url, max_size=2**22)
    token = await running.token(room, identity)
    await ws.send(json.dumps({"type": "join", "protocol": 1, "room": room, "token": token}))
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "joined":
        pass
    return ws


async def next_data(ws: ClientConnection) -> dict[str, Any]:
    while (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "data":
        pass
    return message


async def test_messages_arrive_in_order_and_fast(capsys: pytest.CaptureFixture[str]) -> None:
    """Two hundred messages sent back to back arrive in order; then the latency from sending
    to receiving, one message at a time (both ends in this process, on loopback)."""
    unlimited = {"data_messages_per_s": 1e6, "data_message_burst": 1e6}
    async with running_node(**unlimited) as running:
        sender = await ws_join(running, "main", "ann")
        receiver = await ws_join(running, "main", "bob")
        try:
            for i in range(MESSAGES):
                await sender.send(json.dumps({"type": "data", "payload": str(i)}))
            got = [(await next_data(receiver))["payload"] for _ in range(MESSAGES)]
            assert got == [str(i) for i in range(MESSAGES)]
            latencies_ms = []
            for i in range(MESSAGES):
                started = time.perf_counter()
                await sender.send(json.dumps({"type": "data", "payload": f"t{i}"}))
                assert (await next_data(receiver))["payload"] == f"t{i}"
                latencies_ms.append((time.perf_counter() - started) * 1000)
        finally:
            await sender.close()
            await receiver.close()
    median = statistics.median(latencies_ms)
    p95 = statistics.quantiles(latencies_ms, n=20)[-1]
    with capsys.disabled():
        print(
            f"\ndata message sender -> node -> receiver on loopback, {MESSAGES} messages one at "
            f"a time: median {median:.2f} ms, p95 {p95:.2f} ms, max {max(latencies_ms):.2f} ms"
        )
    assert p95 < 100


async def test_without_the_grant_nothing_is_forwarded(node: RunningNode) -> None:
    mute = await joined(node, "main", "mute", publish_data=False)
    bob = await joined(node, "main", "bob")
    try:
        await mute.send({"type": "data", "payload": "let me talk"})
        await mute.handled()
        assert mute.errors == [
            {
                "type": "error",
                "code": "not_allowed",
                "message": "the token has no publish_data grant",
                "ref": "data",
                "track_id": None,
            }
        ]
        assert node.node.data.forwarded == 0
        assert await metric(node, 'sfu_data_dropped_total{reason="not_allowed"}') == 1
        await marker(bob, [mute], "mute still receives")
        assert not bob.data and not mute.closed.is_set()
    finally:
        await mute.close()
        await bob.close()


async def test_an_oversized_message_is_refused_and_its_sender_stays(node: RunningNode) -> None:
    ann = await joined(node, "main", "ann")
    bob = await joined(node, "main", "bob")
    try:
        message = {"type": "data", "payload": "x" * 2**20}  # 1 MiB
        await ann.send(message)
        await ann.handled()
        frame = json.dumps(message)
        assert ann.errors == [
            {
                "type": "error",
                "code": "too_large",
                "message": f"frame of {len(frame)} bytes is over the {MAX_FRAME_BYTES}-byte limit",
                "ref": None,
                "track_id": None,
            }
        ]
        assert await metric(node, 'sfu_data_dropped_total{reason="too_large"}') == 1
        await marker(ann, [bob], "still here")
        assert [m["payload"] for m in bob.data] == ["still here"]
        assert not ann.closed.is_set()
    finally:
        await ann.close()
        await bob.close()


async def test_a_frame_over_the_websocket_limit_closes_with_1009(node: RunningNode) -> None:
    """Above MAX_WS_FRAME_BYTES the WebSocket itself refuses the frame before reading it."""
    ws = await ws_join(node, "main", "ann")
    await ws.send(json.dumps({"type": "data", "payload": "x" * MAX_WS_FRAME_BYTES}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    rcvd = closed.value.rcvd
    assert rcvd is not None
    assert (rcvd.code, rcvd.reason) == (1009, f"frame exceeds limit of {MAX_WS_FRAME_BYTES} bytes")


async def test_a_flood_is_throttled_and_counted_while_media_flows() -> None:
    async with running_node() as running:
        ann = Client(running.url, "main", await running.token("main", "ann"))
        bob = Client(running.url, "main", await running.token("main", "bob"))
        try:
            await ann.connect()
            await bob.connect()
            await bob.wait_until(lambda: bob.frames["ann"]["video"] > 5)
            video_before = bob.frames["ann"]["video"]
            started = time.monotonic()
            for i in range(500):
                await ann.send({"type": "data", "payload": f"flood {i}", "topic": "flood"})
            await ann.handled()
            elapsed_s = time.monotonic() - started
            refused = running.node.data.drops[DataDrop.RATE_LIMITED]
            assert LIMITS.message_burst <= 500 - refused
            assert 500 - refused <= LIMITS.message_burst + LIMITS.messages_per_s * elapsed_s + 1
            await bob.wait_until(lambda: len(bob.data) == 500 - refused)
            payloads = [m["payload"] for m in bob.data]
            assert payloads[:50] == [f"flood {i}" for i in range(50)]  # the burst, in order
            limited = [e for e in ann.errors if e["code"] == "rate_limited"]
            assert 1 <= len(limited) <= elapsed_s + 1  # coalesced: at most one a second
            assert limited[0]["message"] == (
                f"1 data message(s) refused since the last such error: over {LIMITS.describe()}"
            )
            assert await metric(running, 'sfu_data_dropped_total{reason="rate_limited"}') == refused
            await bob.wait_until(lambda: bob.frames["ann"]["video"] > video_before + 30)
            assert not ann.closed.is_set() and not bob.closed.is_set()
        finally:
            await ann.close()
            await bob.close()


async def test_a_client_that_stops_reading_is_cut_off_and_the_room_goes_on() -> None:
    """Once its socket's buffers are full, what waits for a client that reads nothing is bounded
    (SFU_SIGNALING_BACKLOG): it is cut off (counted) and leaves the room, which goes on."""
    lifted = {"data_messages_per_s": 1e4, "data_message_burst": 1e4}
    lifted |= {"data_bytes_per_s": 1e8, "data_byte_burst": 1e8, "signaling_backlog": 20}
    async with running_node(**lifted) as running:
        bob = await joined(running, "main", "bob")
        cat: Client | None = None
        # a receive window of 4 KB, and a client library that stops reading at one message
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(running.url.split(":")[2].split("/")[0])))
        token = await running.token("main", "sleepy")
        sleepy = await websockets.connect(running.url, sock=sock, max_queue=1)
        try:
            await sleepy.send(
                json.dumps({"type": "join", "protocol": 1, "room": "main", "token": token})
            )
            await bob.wait_until(lambda: "sleepy" in bob.participants)
            payload = "x" * 50_000
            for i in range(400):  # 20 MB: more than the kernel buffers hold
                await bob.send({"type": "data", "payload": f"{i} {payload}"})
                if running.node.data.cut_off:
                    break
            await bob.wait_until(lambda: "sleepy" not in bob.participants)
            assert running.node.data.cut_off == 1
            assert await metric(running, "sfu_signaling_cut_off_total") == 1
            assert "sleepy" not in running.node.rooms["main"].members
            cat = await joined(running, "main", "cat")
            await marker(bob, [cat], "still here")  # the room goes on
            assert not bob.closed.is_set()
        finally:
            sleepy.transport.abort()
            await bob.close()
            if cat is not None:
                await cat.close()
