"""WHIP ingest (RFC 9725) through a real node, with plain HTTP, an aiortc publisher and FFmpeg's
WHIP muxer: the publisher's camera and microphone reach a participant; DELETE, a lost connection
(no consent), a second session of the same identity and a closed room each end it; bad requests
get the status codes the RFC and docs/whip.md name."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cluster.commands import NodeCommand
from tests.support.client import Client, receives_from
from tests.support.node import RunningNode, running_node
from tests.support.process import REPO

pytestmark = pytest.mark.webrtc

SDP = {"content-type": "application/sdp"}
SDPFRAG = {"content-type": "application/trickle-ice-sdpfrag"}


def whip_url(running: RunningNode) -> str:
    return running.url.replace("ws://", "http://").replace("/v1/signal", "/v1/whip")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class WhipPublisher:
    pc: RTCPeerConnection
    resource: str  # its URL
    etag: str
    answer: str
    links: str  # the Link header


async def offer(*, video: bool = True, audio_codec: str = "") -> RTCPeerConnection:
    """A sendonly camera (aiortc's test pattern, VP8) and microphone, offered (ICE gathered)."""
    pc = RTCPeerConnection()
    if video:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    microphone = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    if audio_codec:
        codecs = RTCRtpSender.getCapabilities("audio").codecs
        microphone.setCodecPreferences([c for c in codecs if c.mimeType == audio_codec])
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def publish(http: httpx.AsyncClient, url: str, token: str) -> WhipPublisher:
    pc = await offer()
    response = await http.post(url, content=pc.localDescription.sdp, headers=SDP | bearer(token))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/sdp")
    await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    resource = str(httpx.URL(url).join(response.headers["location"]))
    etag, links = response.headers["etag"], response.headers.get("link", "")
    return WhipPublisher(pc, resource, etag, response.text, links)


@contextlib.asynccontextmanager
async def viewer(running: RunningNode, room: str) -> AsyncIterator[Client]:
    client = Client(running.url, room, await running.token(room, "viewer", publish=False))
    try:
        await client.connect(publish=False)
        yield client
    finally:
        await client.close()


async def wait_ended(http: httpx.AsyncClient, resource: str, timeout_s: float) -> None:
    """Until the resource is gone (a PATCH gets 404)."""
    deadline = time.monotonic() + timeout_s
    while (await http.patch(resource, content="", headers=SDPFRAG)).status_code != 404:
        assert time.monotonic() < deadline, f"{resource} still there after {timeout_s} s"
        await asyncio.sleep(0.1)


async def test_a_whip_publisher_is_decoded_by_a_participant_and_leaves_on_delete() -> None:
    async with running_node() as running, httpx.AsyncClient() as http:
        url = whip_url(running)
        async with viewer(running, "w") as watching:
            cam = await publish(http, url, await running.token("w", "cam"))
            try:
                assert cam.resource.startswith(f"{url}/")
                await watching.wait_until(lambda: receives_from(watching, ["cam"]))
                assert running.node.snapshot().whip_sessions == 1
                metrics = (await http.get(url.replace("/v1/whip", "/metrics"))).text
                assert "sfu_whip_sessions 1.0" in metrics
                # trickled candidates (ignored by an ICE-lite node) are accepted
                fragment = f"a=ice-ufrag:{ufrag(cam.pc)}\r\na=ice-pwd:x\r\na=mid:0\r\n"
                candidate = "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
                trickled = await http.patch(
                    cam.resource,
                    content=fragment + candidate + "a=end-of-candidates\r\n",
                    headers=SDPFRAG | {"if-match": cam.etag},
                )
                assert trickled.status_code == 204, trickled.text
                stale = await http.patch(
                    cam.resource, content=fragment, headers=SDPFRAG | {"if-match": '"old"'}
                )
                assert stale.status_code == 412
                deleted = await http.delete(cam.resource)
                assert deleted.status_code == 200
                await watching.wait_until(lambda: "cam" not in watching.participants, 5)
                assert "cam" not in running.node.rooms["w"].members
                assert running.node.snapshot().whip_sessions == 0
                assert (await http.delete(cam.resource)).status_code == 200  # ended already
                assert (
                    await http.patch(cam.resource, content="", headers=SDPFRAG)
                ).status_code == 404
            finally:
                await cam.pc.close()


def ufrag(pc: RTCPeerConnection) -> str:
    sdp = pc.localDescription.sdp
    return sdp.split("a=ice-ufrag:", 1)[1].split()[0]


async def test_an_ice_restart_patch_gets_new_credentials_and_a_new_etag() -> None:
    async with running_node() as running, httpx.AsyncClient() as http:
        url = whip_url(running)
        async with viewer(running, "r") as watching:
            cam = await publish(http, url, await running.token("r", "cam"))
            try:
                await watching.wait_until(lambda: receives_from(watching, ["cam"]))
                old_ufrag = cam.answer.split("a=ice-ufrag:", 1)[1].split()[0]
                restarted = await http.patch(
                    cam.resource,
                    content="a=ice-ufrag:newu\r\na=ice-pwd:newpasswordnewpassword12\r\n",
                    headers=SDPFRAG | {"if-match": "*"},
                )
                assert restarted.status_code == 200, restarted.text
                assert restarted.headers["content-type"].startswith(
                    "application/trickle-ice-sdpfrag"
                )
                assert restarted.headers["etag"] != cam.etag
                body = restarted.text
                new_ufrag = body.split("a=ice-ufrag:", 1)[1].split()[0]
                assert new_ufrag != old_ufrag and "a=ice-pwd:" in body
                assert "a=candidate:" in body
                mux = running.node.mux
                assert mux is not None and new_ufrag in mux.by_ufrag
                assert mux.by_ufrag[new_ufrag].remote_ufrag == "newu"
            finally:
                await http.delete(cam.resource)
                await cam.pc.close()


async def test_bad_requests_get_the_status_codes_of_the_rfc() -> None:
    async with running_node() as running, httpx.AsyncClient() as http:
        url = whip_url(running)
        token = await running.token("b", "cam")
        pc = await offer()
        sdp = pc.localDescription.sdp
        try:
            missing = await http.post(url, content=sdp, headers=SDP)
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            forged = await http.post(url, content=sdp, headers=SDP | bearer(token[:-4] + "AAAA"))
            assert forged.status_code == 401
            assert 'error="invalid_token"' in forged.headers["www-authenticate"]
            viewer_only = await running.token("b", "viewer", publish=False)
            no_grant = await http.post(url, content=sdp, headers=SDP | bearer(viewer_only))
            assert no_grant.status_code == 403
            assert "publish" in no_grant.text
            as_json = await http.post(
                url, content=sdp, headers={"content-type": "application/json"} | bearer(token)
            )
            assert as_json.status_code == 415
            empty = await http.post(url, content="", headers=SDP | bearer(token))
            assert empty.status_code == 400
            garbage = await http.post(
                url, content="v=0\r\nm=garbage\r\n", headers=SDP | bearer(token)
            )
            assert garbage.status_code == 400
            assert garbage.headers["content-type"].startswith("text/plain")
            assert garbage.text.startswith("offer")  # the parser's reason
            pcmu = await offer(video=False, audio_codec="audio/PCMU")
            no_codec = await http.post(
                url, content=pcmu.localDescription.sdp, headers=SDP | bearer(token)
            )
            await pcmu.close()
            assert no_codec.status_code == 406
            assert "(PCMU)" in no_codec.text and "Opus" in no_codec.text
            huge = await http.post(url, content="a" * 70_000, headers=SDP | bearer(token))
            assert huge.status_code == 413
            unknown = f"{url}/nosuchsession"
            assert (await http.delete(unknown)).status_code == 404
            assert (await http.patch(unknown, content="", headers=SDPFRAG)).status_code == 404
            assert running.node.snapshot().whip_sessions == 0
            room = running.node.rooms.get("b")
            assert room is None or "cam" not in room.members
            # a browser page on another origin may ask first (CORS preflight)
            preflight = await http.options(url, headers={"origin": "https://app.example"})
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "*"
            allowed = preflight.headers["access-control-allow-headers"].lower()
            assert {"authorization", "content-type", "if-match"} <= set(allowed.split(", "))
            assert "location" in preflight.headers["access-control-expose-headers"].lower()
            assert no_codec.headers["access-control-allow-origin"] == "*"
        finally:
            await pc.close()


async def test_a_whip_publisher_whose_consent_checks_stop_is_removed() -> None:
    timeout_s = 3.0  # shorter than aioice's 4-6 s between checks: no viewer can stay this long
    async with (
        running_node(consent_timeout_s=timeout_s) as running,
        httpx.AsyncClient() as http,
    ):
        cam = await publish(http, whip_url(running), await running.token("c", "cam"))
        try:
            connected = asyncio.Event()
            cam.pc.on(
                "connectionstatechange",
                lambda: cam.pc.connectionState == "connected" and connected.set(),
            )
            await asyncio.wait_for(connected.wait(), 10)
            # the publisher vanishes without DELETE: no more consent checks (its media may go
            # on, as from a peer that lost the answers' path)
            ice = cam.pc.getTransceivers()[0].receiver.transport.transport
            ice._connection._query_consent_task.cancel()
            stopped = time.monotonic()
            await wait_ended(http, cam.resource, timeout_s + 3)
            after_s = time.monotonic() - stopped
            print(f"\nWHIP publisher removed {after_s:.1f} s after its checks stopped")
            assert "cam" not in running.node.rooms["c"].members
            assert running.node.snapshot().whip_sessions == 0
        finally:
            await cam.pc.close()


async def test_a_second_session_of_an_identity_and_a_closed_room_end_a_whip_session() -> None:
    async with running_node() as running, httpx.AsyncClient() as http:
        url = whip_url(running)
        token = await running.token("s", "cam")
        first = await publish(http, url, token)
        second = await publish(http, url, token)
        try:
            await wait_ended(http, first.resource, 5)  # replaced
            assert running.node.snapshot().whip_sessions == 1
            member = running.node.rooms["s"].members["cam"]
            assert len(member.tracks) == 2
            await running.node.handle(NodeCommand(kind="delete_room", room="s"))
            await wait_ended(http, second.resource, 5)
            assert running.node.snapshot().whip_sessions == 0
        finally:
            await first.pc.close()
            await second.pc.close()


async def test_the_nodes_turn_relays_come_as_link_headers() -> None:
    urls = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
    async with (
        running_node(turn_urls=urls, turn_secret="shared") as running,
        httpx.AsyncClient() as http,
    ):
        cam = await publish(http, whip_url(running), await running.token("t", "cam"))
        try:
            links = cam.links.split(", <")
            assert len(links) == 2
            for url, link in zip(urls, links, strict=True):
                assert url in link and 'rel="ice-server"' in link
                assert ':t:cam"' in link  # the username names the room and identity
                assert 'credential="' in link and 'credential-type="password"' in link
        finally:
            await http.delete(cam.resource)
            await cam.pc.close()


def p256_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate and its key, as PEM files (what WebRTC stacks use)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whip-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_ffmpegs_whip_muxer_publishes_h264_and_opus_to_a_participant(tmp_path: Path) -> None:
    async with running_node() as running, viewer(running, "f") as watching:
        cert, key = p256_certificate(tmp_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.ffmpeg_whip", whip_url(running),
            await running.token("f", "ff"), str(cert), str(key), "6",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await watching.wait_until(lambda: receives_from(watching, ["ff"]), 15)
            assert watching.frame_sizes["ff"] == (320, 240)
            assert running.node.rooms["f"].members["ff"].tracks  # its audio and video
            output, _ = await asyncio.wait_for(process.communicate(), 15)
            assert process.returncode == 0, output.decode(errors="replace")
            # closing the muxer sends the DELETE
            await watching.wait_until(lambda: "ff" not in watching.participants, 5)
            assert running.node.snapshot().whip_sessions == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
