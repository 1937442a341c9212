"""The only place that touches aiortc and aioice internals (pinned exactly in pyproject.toml).

Synthetic participants use aiortc for ICE, DTLS and SRTP only: publishers hand it finished RTP
packets (``RTCDtlsTransport._send_rtp``), subscribers take decrypted packets straight from the
bundle transport (``_handle_rtp_data``) until ``take_socket`` hands their socket to the compiled
receive path (which then sends their RTCP too), so nothing is encoded, depacketized or decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCPeerConnection
from aiortc import codecs as aiortc_codecs
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

from sfu.webrtc.stack import TRANSPORT_CC_FEEDBACK, TRANSPORT_CC_ID, TRANSPORT_CC_URI

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"


TRANSPORT_CC_CODECS = {"audio": "audio/opus", "video": "video/vp8"}


def configure(host: str) -> None:
    """Gather only ``host`` as ICE candidate, offer the rid extensions for simulcast, and
    accept transport-cc when an SFU offers it, as a browser does (publishers strip it from
    their offers: they never stamp it)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [host] if use_ipv4 else []
    video = aiortc_codecs.HEADER_EXTENSIONS["video"]
    known = {ext.uri for ext in video}
    for ext_id, uri in ((10, RID_URI), (11, REPAIRED_RID_URI)):
        if uri not in known:
            video.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))
    for kind, mime_type in TRANSPORT_CC_CODECS.items():
        extensions = aiortc_codecs.HEADER_EXTENSIONS[kind]
        if TRANSPORT_CC_URI not in {ext.uri for ext in extensions}:
            extensions.append(RTCRtpHeaderExtensionParameters(TRANSPORT_CC_ID, TRANSPORT_CC_URI))
        for codec in aiortc_codecs.CODECS[kind]:
            if (
                codec.mimeType.lower() == mime_type
                and TRANSPORT_CC_FEEDBACK not in codec.rtcpFeedback
            ):
                codec.rtcpFeedback.append(TRANSPORT_CC_FEEDBACK)


class SilentTrack(MediaStreamTrack):
    """A track whose ``recv`` never returns: aiortc's sender then never encodes or sends."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await self._never


def _dtls(pc: RTCPeerConnection) -> Any:
    transceiver = pc.getTransceivers()[0]
    return transceiver.sender.transport or transceiver.receiver.transport


def hook(
    pc: RTCPeerConnection,
    on_rtp: Callable[[bytes], None] | None,
    on_rtcp: Callable[[bytes], None] | None,
) -> None:
    """Take decrypted RTP/RTCP of the connection's bundle transport (after the remote
    description). An exception escaping a hook would close the transport, so none does."""
    dtls = _dtls(pc)

    async def rtp(data: bytes, arrival_time_ms: int) -> None:
        if on_rtp is not None:
            with contextlib.suppress(Exception):
                on_rtp(data)

    async def rtcp(data: bytes) -> None:
        if on_rtcp is not None:
            with contextlib.suppress(Exception):
                on_rtcp(data)

    dtls._handle_rtp_data = rtp
    dtls._handle_rtcp_data = rtcp


def mute_sender_reports(pc: RTCPeerConnection) -> None:
    """Keep aiortc's senders from reporting on SSRCs nothing is sent on: the publisher sends its
    own sender reports for the streams it really sends (aiortc's SRs for its unused video SSRC
    and its audio SSRC at packet count 0 made Janus log "Incoming RTCP SR SSRC does not match"
    and drop them)."""

    async def nothing(packets: Any) -> None:
        pass

    for transceiver in pc.getTransceivers():
        setattr(transceiver.sender, "_send_rtcp", nothing)  # noqa: B010 (mypy: not a method)


def sender(pc: RTCPeerConnection) -> Callable[[bytes], Awaitable[None]]:
    """Protect and send one RTP or RTCP packet on the connection's bundle transport."""
    send: Callable[[bytes], Awaitable[None]] = _dtls(pc)._send_rtp
    return send


@dataclass(frozen=True, slots=True)
class TakenSocket:
    """A connected bundle transport's socket, no longer read by aioice."""

    fd: int
    protocol: asyncio.DatagramProtocol  # aioice's: takes what is not media (STUN, DTLS)
    receive: pylibsrtp.Session  # SRTP sessions whose keys aiortc took from DTLS
    send: pylibsrtp.Session
    peer: tuple[str, int]  # the SFU's end of the nominated candidate pair


def take_socket(pc: RTCPeerConnection) -> TakenSocket:
    """Stop aioice reading the connected bundle transport's socket, and return it."""
    dtls = _dtls(pc)
    pair = dtls.transport._connection._nominated[1]
    pair.protocol.transport.pause_reading()
    return TakenSocket(
        pair.protocol.transport.get_extra_info("socket").fileno(),
        pair.protocol,
        dtls._rx_srtp,
        dtls._tx_srtp,
        pair.remote_addr,
    )


def connected(pc: RTCPeerConnection) -> bool:
    return bool(_dtls(pc).state == "connected")
