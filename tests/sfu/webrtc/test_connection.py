"""The node's peer connections against aiortc clients on loopback: one DTLS certificate (and
OpenSSL context) for all of them, renewed before it expires; receivers and senders that never
start."""

from __future__ import annotations

import asyncio
import datetime
import re
import threading
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from sfu.media.counters import MediaCounters
from sfu.webrtc.certificate import RENEW_BEFORE, NodeCertificate
from sfu.webrtc.codecs import Codec
from sfu.webrtc.connection import IdleReceiver, IdleSender
from sfu.webrtc.peer import PublishPeer, SubscribePeer, _Peer
from sfu.webrtc.stack import TRANSPORT_CC_ID, TRANSPORT_CC_URI
from tests.support.sinks import NoMedia

FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 (\S+)", re.MULTILINE)


def _states(peer: _Peer) -> list[str]:
    states: list[str] = []
    peer.on_state(lambda state, _failed_step: states.append(state))
    return states


async def _connected(states: list[str]) -> None:
    async with asyncio.timeout(10):
        while "connected" not in states:
            assert "failed" not in states
            await asyncio.sleep(0.02)


async def _subscribed(certificate: NodeCertificate) -> tuple[SubscribePeer, RTCPeerConnection]:
    """A subscribe peer connected to an aiortc client; its offer's fingerprint checked."""
    peer = SubscribePeer(NoMedia(), MediaCounters(), certificate=certificate)
    states = _states(peer)
    peer.add_track("T1", "S1", "audio", Codec("audio/opus"))
    offer, _ = await peer.create_offer()
    ours = [f.value for f in certificate.current().getFingerprints() if f.algorithm == "sha-256"]
    assert FINGERPRINT.findall(offer) == ours
    client = RTCPeerConnection()
    await client.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await client.setLocalDescription(await client.createAnswer())
    await peer.apply_answer(client.localDescription.sdp)
    await _connected(states)
    return peer, client


async def test_the_peer_connections_of_a_node_share_its_certificate_and_ssl_context() -> None:
    certificate = NodeCertificate()
    first, first_client = await _subscribed(certificate)
    second, second_client = await _subscribed(certificate)
    try:
        contexts = {
            peer._pc.getTransceivers()[0].receiver.transport._ssl.get_context()
            for peer in (first, second)
        }
        assert len(contexts) == 1
    finally:
        for pc in (first, second, first_client, second_client):
            await pc.close()


def test_the_certificate_is_renewed_before_it_expires() -> None:
    now = datetime.datetime.now(datetime.UTC)
    certificate = NodeCertificate(now=lambda: now)
    first = certificate.current()
    assert certificate.current() is first
    now = first.expires - RENEW_BEFORE - datetime.timedelta(seconds=1)
    assert certificate.current() is first
    now = first.expires - RENEW_BEFORE + datetime.timedelta(seconds=1)
    renewed = certificate.current()
    assert renewed is not first
    assert renewed.getFingerprints() != first.getFingerprints()


async def test_receivers_and_senders_never_start_on_either_side() -> None:
    certificate = NodeCertificate()
    client = RTCPeerConnection()  # sends only: any decoder thread would be the node's
    client.addTransceiver("audio", direction="sendonly")
    client.addTransceiver("video", direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    publish = PublishPeer(NoMedia(), MediaCounters(), start_kbps=300, certificate=certificate)
    states = _states(publish)
    answer, _, _ = await publish.answer(client.localDescription.sdp)
    await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    peers: list[_Peer | RTCPeerConnection] = [publish, client]
    try:
        await _connected(states)
        assert not [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
        subscribe, subscriber = await _subscribed(certificate)
        peers += [subscribe, subscriber]
        for peer in (publish, subscribe):
            transceivers = peer._pc.getTransceivers()
            assert transceivers
            assert all(isinstance(t.receiver, IdleReceiver) for t in transceivers)
            assert all(isinstance(t.sender, IdleSender) for t in transceivers)
    finally:
        for pc in peers:
            await pc.close()


async def test_transport_cc_is_offered_to_subscribers_and_declined_to_publishers() -> None:
    """We estimate downlinks only: a publisher that negotiated transport-cc would wait for
    feedback we never send. Chrome offers it on every m-line."""
    certificate = NodeCertificate()
    chrome_offer = (Path(__file__).parents[2] / "data" / "chrome_simulcast_offer.sdp").read_text()
    assert "transport-wide-cc" in chrome_offer and " transport-cc" in chrome_offer
    publish = PublishPeer(NoMedia(), MediaCounters(), start_kbps=300, certificate=certificate)
    subscribe = SubscribePeer(NoMedia(), MediaCounters(), certificate=certificate)
    without = SubscribePeer(NoMedia(), MediaCounters(), certificate=certificate, transport_cc=False)
    client = RTCPeerConnection()
    try:
        answer, lines, _ = await publish.answer(chrome_offer)
        assert "transport-wide-cc" not in answer and "transport-cc" not in answer
        assert lines and all(line.extensions.transport_cc == 0 for line in lines)
        for peer in (subscribe, without):
            peer.add_track("T1", "S1", "video", Codec("video/vp8"))
            peer.add_track("T2", "S1", "audio", Codec("audio/opus"))
        offer, _ = await subscribe.create_offer()
        assert len(re.findall(rf"a=extmap:{TRANSPORT_CC_ID} {TRANSPORT_CC_URI}", offer)) == 2
        assert re.search(r"a=rtcp-fb:\d+ transport-cc", offer)
        plain, _ = await without.create_offer()
        assert "transport-wide-cc" not in plain and "transport-cc" not in plain
        await client.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await client.setLocalDescription(await client.createAnswer())
        subscribed = await subscribe.apply_answer(client.localDescription.sdp)
        assert {line.extensions.transport_cc for line in subscribed.values()} == {TRANSPORT_CC_ID}
    finally:
        for pc in (publish, subscribe, without, client):
            await pc.close()
