"""Bad input is refused with a precise reason and disturbs no one else in the room."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator

import pytest
import websockets
from aiortc import RTCPeerConnection
from websockets.asyncio.client import ClientConnection

from cluster.tokens import JoinGrants, mint_join_token
from sfu.media.counters import DropReason
from sfu.signaling import close_codes
from sfu.signaling.messages import MAX_FRAME_BYTES
from tests.support.client import Client
from tests.support.keys import TEST_KEY_ID, TEST_SECRET
from tests.support.node import RunningNode, running_node

pytestmark = pytest.mark.webrtc


@pytest.fixture
async def call(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RunningNode, Client, Client]]:
    """A running two-party call whose frame counters must keep growing; on the node's one
    ICE-lite port, or (param "aioice") on aioice's port per peer connection."""
    overrides = {"udp_port": 0} if getattr(request, "param", None) == "aioice" else {}
    async with running_node(**overrides) as running:
        a = Client(running.url, "main", await running.token("main", "a"))
        b = Client(running.url, "main", await running.token("main", "b"))
        await a.connect()
        await b.connect()
        await a.wait_until(lambda: a.frames["b"]["video"] > 5)
        await b.wait_until(lambda: b.frames["a"]["video"] > 5)
        try:
            yield running, a, b
        finally:
            await a.close()
            await b.close()


async def _still_flowing(*clients: Client) -> None:
    before = [(c, {who: dict(kinds) for who, kinds in c.frames.items()}) for c in clients]
    for client, seen in before:
        for who, kinds in seen.items():
            await client.wait_until(
                lambda c=client, w=who, k=kinds: (
                    c.frames[w]["video"] > k["video"] + 10
                    and c.frames[w]["audio"] > k["audio"] + 10
                )
            )


async def _close_of(url: str, frames: list[str]) -> tuple[int, str]:
    async with websockets.connect(url) as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 15)
    rcvd = closed.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def _join(room: str, token: str) -> str:
    return json.dumps({"type": "join", "protocol": 1, "room": room, "token": token})


def _token(
    room: str,
    *,
    ttl_s: float = 60,
    secret: str = TEST_SECRET,
    key_id: str = TEST_KEY_ID,
    now: float | None = None,
) -> str:
    return mint_join_token(
        key_id=key_id,
        secret=secret,
        identity="mallory",
        name="M",
        room=room,
        room_id="RM_unknown",
        generation=0,
        grants=JoinGrants(),
        ttl_s=ttl_s,
        now=time.time() if now is None else now,
    )


async def test_refused_joins_get_a_close_code_and_reason(
    call: tuple[RunningNode, Client, Client],
) -> None:
    running, a, b = call
    url = running.url
    tampered = _token("main")[:-3] + ("AAA" if not _token("main").endswith("AAA") else "BBB")
    cases = [
        ([_join("main", "")], 4401, "token missing"),
        ([_join("main", "not-a-jwt")], 4401, "token malformed"),
        ([_join("main", _token("main", now=time.time() - 3600))], 4401, "token expired"),
        ([_join("main", tampered)], 4401, "token signature invalid"),
        ([_join("main", _token("main", secret="x" * 40))], 4401, "token signature invalid"),
        ([_join("other", _token("main"))], 4403, "token is for room 'main', not 'other'"),
        ([_join("main", _token("main", ttl_s=2 * 86400))], 4401, "token lifetime exceeds"),
        ([_join("main", _token("main", ttl_s=1e22))], 4401, "token lifetime exceeds"),
        ([_join("main", _token("main", key_id="demo:tokens"))], 4401, "token key unknown"),
        ([_join("main", _token("main"))], 4401, "token is for an earlier room of that name"),
        ([_join("nowhere", _token("nowhere"))], 4404, "room 'nowhere' does not exist"),
        (["hello"], 4400, "first frame must be join"),
        ([json.dumps({"type": "leave"})], 4400, "first frame must be join"),
        (["x" * (MAX_FRAME_BYTES + 1)], 1009, ""),
    ]
    for frames, code, reason in cases:
        got_code, got_reason = await _close_of(url, frames)
        assert got_code == code, (frames[0][:60], got_reason)
        assert reason in got_reason
    await _still_flowing(a, b)


async def _expect_error(ws: ClientConnection, frame: str, code: str) -> dict[str, str]:
    await ws.send(frame)
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "error":
            assert message["code"] == code, message
            return message


async def test_bad_frames_after_joining_get_error_frames_and_the_connection_stays(
    call: tuple[RunningNode, Client, Client],
) -> None:
    running, a, b = call
    async with websockets.connect(running.url) as ws:
        await ws.send(_join("main", await running.token("main", "eve")))
        cases = [
            ("{not json", "bad_json"),
            (json.dumps({"type": "teleport"}), "bad_message"),
            (json.dumps({"type": "mute", "track_id": "x"}), "bad_message"),
            (json.dumps({"type": "publish_offer", "sdp": "v=0\r\nthis is not sdp"}), "bad_sdp"),
            (
                json.dumps({"type": "subscribe_answer", "sdp": "v=0\r\n"}),
                "bad_sdp",
            ),  # offer pending
            (json.dumps({"type": "mute", "track_id": "TR_nope", "muted": True}), "unknown_track"),
            (
                json.dumps({"type": "video_size", "track_id": "TR_nope", "width": 1, "height": 1}),
                "unknown_track",
            ),
            (json.dumps({"type": "join", "room": "main", "token": "t"}), "bad_state"),
        ]
        for frame, code in cases:
            error = await _expect_error(ws, frame, code)
            assert error["message"]
        mute = await _expect_error(ws, json.dumps({"type": "mute", "track_id": "x"}), "bad_message")
        assert "muted" in mute["message"]
        for ts in ("NaN", "Infinity", "-Infinity", "1e999"):  # JSON as Python's json reads it
            ping = await _expect_error(ws, f'{{"type": "ping", "ts": {ts}}}', "bad_message")
            assert "ts: Input should be a finite number" in ping["message"], ping
        await ws.send(json.dumps({"type": "ping", "ts": 42}))
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "pong":
            pass
        assert reply["ts"] == 42
    assert not a.errors and not b.errors
    await _still_flowing(a, b)


async def test_a_subscriber_that_does_not_answer_its_offer_is_disconnected() -> None:
    async with running_node(subscribe_answer_timeout_s=1) as running:
        a = Client(running.url, "main", await running.token("main", "a"))
        await a.connect()  # so that the next one to join is offered a's tracks
        try:
            lurker = _join("main", await running.token("main", "lurker"))
            started = time.monotonic()
            code, reason = await _close_of(running.url, [lurker])
            waited = time.monotonic() - started
            assert code == close_codes.OFFER_UNANSWERED
            assert reason == "subscribe_offer not answered within 1 s"
            assert 1 <= waited < 3.5  # the bound, checked once a second
            await a.wait_until(lambda: "lurker" not in a.participants, timeout=5)
            assert list(running.node.rooms["main"].members) == ["a"]
            assert not a.closed.is_set() and not a.errors
        finally:
            await a.close()


@pytest.mark.parametrize("call", ["single_port", "aioice"], indirect=True)
async def test_garbage_datagrams_are_dropped_and_counted(
    call: tuple[RunningNode, Client, Client],
) -> None:
    running, a, b = call
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1 (\d+) typ host", a.publish_answer)}
    assert ports
    drops = running.node.counters.drops
    before = {r: drops[r] for r in (DropReason.NOT_WEBRTC, DropReason.SRTP_UNPROTECT)}
    mux = running.node.mux
    unanswered = sum(mux.stats.drops.values()) if mux is not None else 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(300):
            first = (0x80 + i % 64, 0x16, 0x01, 0xFF)[i % 4]
            payload = bytes([first]) + os.urandom(20 + i % 1200)
            for port in ports:
                sock.sendto(payload, ("127.0.0.1", port))
            if i % 50 == 0:
                await asyncio.sleep(0.01)  # let the node read
    await _still_flowing(a, b)
    if mux is not None:  # the one port drops what comes from addresses no check authenticated
        assert sum(mux.stats.drops.values()) - unanswered == 300
    else:
        drops = running.node.counters.drops  # a snapshot: read it again
        assert drops[DropReason.NOT_WEBRTC] > before[DropReason.NOT_WEBRTC]
        assert drops[DropReason.SRTP_UNPROTECT] > before[DropReason.SRTP_UNPROTECT]


async def test_an_ice_restart_without_a_subscribe_connection_is_refused(
    call: tuple[RunningNode, Client, Client],
) -> None:
    """Alone in a room nothing is received yet, so there is no connection to restart; the
    session stays and the call next door is undisturbed."""
    running, a, b = call
    async with websockets.connect(running.url) as ws:
        await ws.send(_join("alone", await running.token("alone", "eve")))
        error = await _expect_error(ws, json.dumps({"type": "ice_restart"}), "bad_state")
        assert "restart" in error["message"]
        await ws.send(json.dumps({"type": "ping", "ts": 1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
    await _still_flowing(a, b)


async def test_a_subscriber_is_not_offered_a_codec_it_does_not_decode() -> None:
    """It is told which track it misses and why, and gets the publisher's audio."""
    async with running_node() as running:
        h264 = Client(running.url, "main", await running.token("main", "h264"))
        decodes_vp8 = [{"mimeType": "audio/opus"}, {"mimeType": "video/VP8"}]
        viewer = Client(
            running.url, "main", await running.token("main", "viewer"), receive_codecs=decodes_vp8
        )
        try:
            await h264.connect(video_codec="video/H264")
            await viewer.connect(publish=False)
            await viewer.wait_until(lambda: viewer.frames["h264"]["audio"] > 10 and viewer.errors)
            [error] = viewer.errors
            assert error["code"] == "unsupported_codec"
            assert error["track_id"] == h264.published_track("video")
            assert error["message"].startswith(
                f"video track {error['track_id']} of h264 is in H264 (profile-level-id 42"
            )
            assert viewer.frames["h264"]["video"] == 0
            assert viewer.track_id("h264", "audio")
            assert not h264.errors
        finally:
            await h264.close()
            await viewer.close()


async def test_a_connection_that_never_checks_fails_naming_the_step() -> None:
    """A client that never sends a connectivity check (UDP to the node blocked, say) is told
    why before the node closes with 4502."""
    async with running_node(consent_timeout_s=1) as running:
        client = RTCPeerConnection()  # its answer is never applied: it never checks
        client.addTransceiver("audio", direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        offer = json.dumps({"type": "publish_offer", "sdp": client.localDescription.sdp})
        frames = []
        try:
            async with websockets.connect(running.url) as ws:
                await ws.send(_join("main", await running.token("main", "walled")))
                await ws.send(offer)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        finally:
            await client.close()
        errors = [f for f in frames if f["type"] == "error"]
        assert errors == [
            {
                "type": "error",
                "code": "connection_failed",
                "message": "publish connection failed: ICE: no connectivity check within 1 s",
                "ref": None,
                "track_id": None,
            }
        ]
        rcvd = closed.value.rcvd
        assert rcvd is not None and rcvd.code == close_codes.MEDIA_LOST
        assert "no connectivity check" in rcvd.reason
