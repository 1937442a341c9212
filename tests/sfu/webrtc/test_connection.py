"""The node's peer connections against aiortc clients on loopback: receivers that never start."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from sfu.media.counters import MediaCounters
from sfu.webrtc.connection import IdleReceiver
from sfu.webrtc.peer import PublishPeer, SubscribePeer, _Peer
from sfu.webrtc.stack import configure_aiortc


@pytest.fixture(autouse=True, scope="module")
def _loopback_ice() -> None:
    """The peers gather 127.0.0.1, the only address of the test's network namespace."""
    configure_aiortc(["127.0.0.1"])


class NoMedia:
    def on_rtp(self, data: bytes, now_ms: int) -> None:
        pass

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        pass


def _states(peer: _Peer) -> list[str]:
    states: list[str] = []
    peer.on_state(states.append)
    return states


async def _connected(states: list[str]) -> None:
    async with asyncio.timeout(10):
        while "connected" not in states:
            assert "failed" not in states
            await asyncio.sleep(0.02)


async def _subscribed() -> tuple[SubscribePeer, RTCPeerConnection]:
    """A subscribe peer connected to an aiortc client."""
    peer = SubscribePeer(NoMedia(), MediaCounters())
    states = _states(peer)
    peer.add_track("T1", "S1", "audio")
    offer, _ = await peer.create_offer()
    client = RTCPeerConnection()
    await client.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await client.setLocalDescription(await client.createAnswer())
    await peer.apply_answer(client.localDescription.sdp)
    await _connected(states)
    return peer, client


async def test_receivers_never_start_on_either_side() -> None:
    client = RTCPeerConnection()  # sends only: any decoder thread would be the node's
    client.addTransceiver("audio", direction="sendonly")
    client.addTransceiver("video", direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    publish = PublishPeer(NoMedia(), MediaCounters(), start_kbps=300)
    states = _states(publish)
    answer, _ = await publish.answer(client.localDescription.sdp)
    await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    peers: list[_Peer | RTCPeerConnection] = [publish, client]
    try:
        await _connected(states)
        assert not [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
        subscribe, subscriber = await _subscribed()
        peers += [subscribe, subscriber]
        for peer in (publish, subscribe):
            transceivers = peer._pc.getTransceivers()
            assert transceivers and all(isinstance(t.receiver, IdleReceiver) for t in transceivers)
    finally:
        for pc in peers:
            await pc.close()
