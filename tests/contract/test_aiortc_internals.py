"""Every private aiortc/aioice name that sfu/webrtc relies on, checked against the pinned versions.

If an upgrade moves any of these, this fails loudly here instead of silently breaking media.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import aioice.ice
import aiortc.codecs
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
