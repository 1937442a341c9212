"""Every private aiortc/aioice name that sfu/webrtc relies on, checked against the pinned versions.

If an upgrade moves any of these, this fails loudly here instead of silently breaking media.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

import aioice.ice
import aiortc.codecs
import aiortc.rtcdtlstransport
import aiortc.rtcpeerconnection
import aiortc.rtcrtptransceiver
import aiortc.sdp
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport, State


def test_pinned_versions() -> None:
    assert version("aiortc") == "1.16.0"
    assert version("aioice") == "0.13.0"


def test_tap_internals_of_the_dtls_transport() -> None:
    source = inspect.getsource(RTCDtlsTransport)
    for name in ("self._rx_srtp", "self._tx_srtp", "self._state", "self.transport"):
        assert name in source, name
    assert State.CONNECTED.name == "CONNECTED"
    # SRTP is only unprotected once the handshake produced the session: the tap relies on it.
    assert "and self._rx_srtp" in inspect.getsource(RTCDtlsTransport._recv_next)


def test_ice_connection_hands_non_stun_datagrams_to_data_received() -> None:
    assert "self.receiver.data_received(data" in inspect.getsource(
        aioice.ice.StunProtocol.datagram_received
    )
    connection_source = inspect.getsource(aioice.ice.Connection)
    assert "def data_received(self, data: bytes, component: int)" in connection_source
    assert "self._nominated: dict[int, CandidatePair]" in connection_source
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


def test_peer_connection_starts_media_only_through_send_and_receive() -> None:
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert "await transceiver.sender.send(" in connect
    assert "await transceiver.receiver.receive(" in connect
    assert "get_encoder" in inspect.getsource(
        RTCRtpSender.send
    ) or "get_encoder" in inspect.getsource(RTCRtpSender)
    assert "decoder_worker" in inspect.getsource(RTCRtpReceiver.receive)


def test_transceiver_and_sender_fields_we_read_and_set() -> None:
    transceiver_source = inspect.getsource(RTCRtpTransceiver)
    for name in ("self._codecs", "self._headerExtensions", "self._offerDirection"):
        assert name in transceiver_source, name
    sender_source = inspect.getsource(RTCRtpSender)
    for name in ("self._ssrc", "self._stream_id", "self._track_id"):
        assert name in sender_source, name
    # createAnswer uses the negotiated codecs, which we filter after setRemoteDescription
    assert "transceiver._codecs" in inspect.getsource(RTCPeerConnection.createAnswer) or (
        "transceiver._codecs" in inspect.getsource(RTCPeerConnection)
    )


def test_global_tables_we_extend() -> None:
    assert {"audio", "video"} <= set(aiortc.codecs.HEADER_EXTENSIONS)
    assert any(c.mimeType.lower() == "audio/opus" for c in aiortc.codecs.CODECS["audio"])
    assert callable(aioice.ice.get_host_addresses)


def test_the_ice_lite_transport_replaces_the_one_place_ice_transports_are_made() -> None:
    """sfu.webrtc.icelite overrides this name-mangled method and re-does its wiring."""
    create = inspect.getsource(RTCPeerConnection._RTCPeerConnection__createDtlsTransport)  # type: ignore[attr-defined]
    for name in (
        "self.__iceTransports.add(iceTransport)",
        "RTCDtlsTransport(iceTransport, self.__certificates)",
        "self.__dtlsTransports.add(dtlsTransport)",
        'iceGatherer.on("statechange", self.__updateIceGatheringState)',
        'iceTransport.on("statechange", self.__updateIceConnectionState)',
        'iceTransport.on("statechange", self.__updateConnectionState)',
    ):
        assert name in create, name
    source = inspect.getsource(RTCPeerConnection)
    assert "self.__createDtlsTransport()" in source
    for name in ("iceTransport._role_set", "iceTransport._connection.ice_controlling"):
        assert name in source, name
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert "iceTransport.iceGatherer.getLocalCandidates()" in connect
    assert "await iceTransport.start(" in connect


def test_what_the_dtls_transport_needs_from_its_ice_transport() -> None:
    source = inspect.getsource(RTCDtlsTransport)
    for name in ("self.transport._recv()", "self.transport._send(", "self.transport.role"):
        assert name in source, name
    # the lite transport's queue yields ConnectionError when closed: the pump must stop on it
    assert "except ConnectionError:" in inspect.getsource(
        RTCDtlsTransport._RTCDtlsTransport__run  # type: ignore[attr-defined]
    )


def test_dtls_role_and_srtp_profiles_we_rely_on() -> None:
    assert "self._role = role" in inspect.getsource(RTCDtlsTransport._set_role)
    assert 'if dtlsTransport._role == "auto":' in inspect.getsource(RTCPeerConnection.createAnswer)
    # as DTLS server (setup:passive) our order wins: AES-GCM first, AES-CM kept for others
    names = [p.openssl_profile for p in aiortc.rtcdtlstransport.SRTP_PROFILES]
    assert names[0].startswith(b"SRTP_AEAD_AES_"), names
    assert "self._srtp_profiles = SRTP_PROFILES" in inspect.getsource(RTCDtlsTransport)


def test_sdp_announces_ice_lite_and_candidates_from_the_gatherer() -> None:
    assert '"a=ice-lite"' in inspect.getsource(aiortc.sdp.SessionDescription)
    add = inspect.getsource(aiortc.rtcpeerconnection.add_transport_description)
    for name in (
        "iceGatherer.getLocalCandidates()",
        "iceGatherer.getLocalParameters()",
        'iceGatherer.state == "completed"',
    ):
        assert name in add, name


def test_pylibsrtp_handles_the_datapath_calls() -> None:
    """sfu.webrtc.libsrtp: the libsrtp 2 function signatures and the session's srtp_t."""
    from pylibsrtp._binding import ffi, lib

    from sfu.webrtc import libsrtp

    assert version("pylibsrtp") == "1.0.0"
    for name in ("srtp_protect", "srtp_protect_rtcp", "srtp_unprotect", "srtp_unprotect_rtcp"):
        assert ffi.typeof(getattr(lib, name)).cname == (
            "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
        ), name
    session = pylibsrtp.Session(
        pylibsrtp.Policy(key=bytes(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    assert libsrtp.session_pointer(session) != 0
    assert len(set(libsrtp.functions())) == 4 and all(libsrtp.functions())


def test_node_peer_connection_replaces_how_transceivers_and_certificates_are_made() -> None:
    """sfu.webrtc.connection re-does __createTransceiver (max-bundle) with IdleReceiver and
    IdleSender, and swaps the certificate list the DTLS transports are made with."""
    create = inspect.getsource(RTCPeerConnection._RTCPeerConnection__createTransceiver)  # type: ignore[attr-defined]
    for line in (
        "dtlsTransport = self.__transceivers[0].receiver.transport",
        "dtlsTransport = self.__sctp.transport",
        "dtlsTransport = self.__createDtlsTransport()",
        "sender=RTCRtpSender(sender_track or kind, dtlsTransport),",
        "receiver=RTCRtpReceiver(kind, dtlsTransport),",
        "transceiver.receiver._set_rtcp_ssrc(transceiver.sender._ssrc)",
        "transceiver.sender._stream_id = self.__stream_id",
        "transceiver._bundled = bundled",
        "self.__transceivers.append(transceiver)",
    ):
        assert line in create, line
    source = inspect.getsource(RTCPeerConnection)
    assert "self.__certificates = [RTCCertificate.generateCertificate()]" in source
    assert source.count("self.__certificates") == 2  # set once, read once (DTLS transports)


def test_what_aiortc_uses_of_a_receiver_that_never_receives() -> None:
    """IdleReceiver sets only the fields behind these; receive and stop are its own."""
    source = inspect.getsource(aiortc.rtcpeerconnection) + inspect.getsource(
        aiortc.rtcrtptransceiver
    )
    used = set(re.findall(r"receiver\.(\w+)", source))
    assert used == {
        "_enabled", "_set_rtcp_ssrc", "_track", "receive", "setTransport", "stop", "track",
        "transport",
    }  # fmt: skip
    assert "self.__transport" in inspect.getsource(RTCRtpReceiver.transport.fget)  # type: ignore[attr-defined]
    assert "return self._track" in inspect.getsource(RTCRtpReceiver.track.fget)  # type: ignore[attr-defined]
    assert "self.__transport = transport" in inspect.getsource(RTCRtpReceiver.setTransport)
    assert "self.__rtcp_ssrc = ssrc" in inspect.getsource(RTCRtpReceiver._set_rtcp_ssrc)


def test_what_aiortc_uses_of_a_sender_that_never_sends() -> None:
    """IdleSender sets only the fields behind these; send and stop are its own."""
    source = inspect.getsource(aiortc.rtcpeerconnection) + inspect.getsource(
        aiortc.rtcrtptransceiver
    )
    used = set(re.findall(r"sender\.(\w+)", source))
    assert used == {
        "_enabled", "_rtx_ssrc", "_ssrc", "_stream_id", "_track_id", "replaceTrack", "send",
        "setTransport", "stop", "track",
    }  # fmt: skip
    assert "return self.__kind" in inspect.getsource(RTCRtpSender.kind.fget)  # type: ignore[attr-defined]
    assert "return self.__track" in inspect.getsource(RTCRtpSender.track.fget)  # type: ignore[attr-defined]
    assert "self.__transport" in inspect.getsource(RTCRtpSender.transport.fget)  # type: ignore[attr-defined]
    assert "self.__transport = transport" in inspect.getsource(RTCRtpSender.setTransport)
    replace = inspect.getsource(RTCRtpSender.replaceTrack)
    assert "self.__track = track" in replace and "self._track_id = track.id" in replace


def test_dtls_transports_take_their_ssl_context_from_the_certificate() -> None:
    """sfu.webrtc.certificate shares one context per certificate (SSL.Connection holds it)."""
    start = inspect.getsource(RTCDtlsTransport.start)
    assert "self.__local_certificate._create_ssl_context(" in start
    assert "self._ssl = SSL.Connection(" in start
    assert "getFingerprints()" in inspect.getsource(RTCDtlsTransport.getLocalParameters)
