"""aiortc's peer connection as the node uses it: SDP, ICE and the DTLS handshake only.

It uses the node's certificate (``NodeCertificate``) instead of a new one. Media goes through
``DtlsTap``, never through aiortc's receivers and senders, so each transceiver gets an
``IdleReceiver`` and an ``IdleSender``: aiortc's would build a jitter buffer, a NACK generator,
a bitrate estimator (≈ 95 KB for video), a decoder queue, RTP and RTCP task events and a
header-extension map that nothing ever uses.
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
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.utils import random32


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


class IdleSender(RTCRtpSender):
    """An ``RTCRtpSender`` that is never started: it holds what SDP and the transceiver read
    (SSRCs, stream and track ids, track, transport) and nothing for sending media."""

    def __init__(self, trackOrKind: MediaStreamTrack | str, transport: RTCDtlsTransport) -> None:
        # No super().__init__(): it builds the sending machinery this class exists to avoid.
        if transport.state == "closed":
            raise InvalidStateError
        track = trackOrKind if isinstance(trackOrKind, MediaStreamTrack) else None
        self._RTCRtpSender__kind = trackOrKind if track is None else track.kind
        self._RTCRtpSender__transport = transport
        self._RTCRtpSender__started = False
        self._enabled = True
        self._ssrc = random32()
        self._rtx_ssrc = random32()
        self._stream_id = ""  # the peer connection's, set when the transceiver is made
        self.replaceTrack(track)

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        """Not started: no encoder, no RTP or RTCP task."""

    async def stop(self) -> None:
        """Nothing was started."""


class NodePeerConnection(RTCPeerConnection):
    """Max-bundle, no ICE servers, ``certificate`` for DTLS, ``IdleReceiver`` and
    ``IdleSender`` in every transceiver."""

    def __init__(self, certificate: RTCCertificate) -> None:
        super().__init__(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        # aiortc has no configuration for it: the one its constructor generated is dropped.
        self._RTCPeerConnection__certificates = [certificate]

    def _RTCPeerConnection__createTransceiver(
        self, direction: str, kind: str, sender_track: MediaStreamTrack | None = None
    ) -> RTCRtpTransceiver:
        """aiortc's, for max-bundle, with our receiver and sender."""
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
            sender=IdleSender(sender_track or kind, dtls),
            receiver=IdleReceiver(kind, dtls),
        )
        transceiver.receiver._set_rtcp_ssrc(transceiver.sender._ssrc)
        transceiver.sender._stream_id = pc._RTCPeerConnection__stream_id
        transceiver._bundled = bundled
        transceivers.append(transceiver)
        return transceiver
