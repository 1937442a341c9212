"""aiortc's peer connection as the node uses it: SDP, ICE and the DTLS handshake only.

It uses the node's certificate (``NodeCertificate``) instead of a new one. Media goes through
``DtlsTap``, never through aiortc's receivers, so each transceiver gets an ``IdleReceiver``:
aiortc's would build a jitter buffer, a NACK generator, a bitrate estimator (≈ 95 KB for video)
and a decoder queue that nothing ever feeds.
"""

from __future__ import annotations

from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCCertificate,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.exceptions import InvalidStateError
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters


class IdleReceiver(RTCRtpReceiver):
    """An ``RTCRtpReceiver`` that is never started: it holds what SDP and the transceiver
    read (kind, transport, track, RTCP SSRC) and nothing for receiving media."""

    def __init__(self, kind: str, transport: RTCDtlsTransport) -> None:
        # No super().__init__(): it builds the receiving machinery this class exists to avoid.
        if transport.state == "closed":
            raise InvalidStateError
        self._enabled = True
        self._track = None
        self._RTCRtpReceiver__kind = kind
        self._RTCRtpReceiver__transport = transport
        self._RTCRtpReceiver__started = False
        self._RTCRtpReceiver__rtcp_ssrc: int | None = None

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        """Not started: no decoder thread, no RTCP task, nothing routed to it."""

    async def stop(self) -> None:
        """Nothing was started."""


class NodePeerConnection(RTCPeerConnection):
    """Max-bundle, no ICE servers, ``certificate`` for DTLS, ``IdleReceiver`` in every
    transceiver."""

    def __init__(self, certificate: RTCCertificate) -> None:
        super().__init__(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        # aiortc has no configuration for it: the one its constructor generated is dropped.
        self._RTCPeerConnection__certificates = [certificate]

    def _RTCPeerConnection__createTransceiver(
        self, direction: str, kind: str, sender_track: MediaStreamTrack | None = None
    ) -> RTCRtpTransceiver:
        """aiortc's, for max-bundle, with our receiver."""
        pc: Any = self  # aiortc's name-mangled privates
        transceivers: list[RTCRtpTransceiver] = pc._RTCPeerConnection__transceivers
        sctp = pc._RTCPeerConnection__sctp
        if transceivers:
            dtls, bundled = transceivers[0].receiver.transport, True
        elif sctp:
            dtls, bundled = sctp.transport, True
        else:
            dtls, bundled = pc._RTCPeerConnection__createDtlsTransport(), False
        transceiver = RTCRtpTransceiver(
            direction=direction,
            kind=kind,
            sender=RTCRtpSender(sender_track or kind, dtls),
            receiver=IdleReceiver(kind, dtls),
        )
        transceiver.receiver._set_rtcp_ssrc(transceiver.sender._ssrc)
        transceiver.sender._stream_id = pc._RTCPeerConnection__stream_id
        transceiver._bundled = bundled
        transceivers.append(transceiver)
        return transceiver
