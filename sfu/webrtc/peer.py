"""The two peer connections of a participant, as aiortc objects with its media path disabled.

``PublishPeer`` answers the client's offer (simulcast accepted, m-lines without a codec we
forward rejected); ``SubscribePeer``
offers the tracks the participant receives, reusing inactive m-lines. aiortc never decodes (its
receivers are never started) and never encodes (its senders are never started); packets flow
through ``DtlsTap``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from aiortc import (
    MediaStreamTrack,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import (
    MediaDescription,
    SessionDescription,
    candidate_from_sdp,
    candidate_to_sdp,
)
from aiortc.utils import random32

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, Kind, MediaLine
from sfu.media.transport import MediaHandler, MediaSink
from sfu.webrtc.certificate import NodeCertificate, refused_curve
from sfu.webrtc.codecs import Codec, forwardable, unforwardable
from sfu.webrtc.connection import NodePeerConnection
from sfu.webrtc.icelite import LiteIceTransport, LitePeerConnection, prefer_dtls_server
from sfu.webrtc.kernels import SendLog
from sfu.webrtc.sdp import (
    add_simulcast_and_bitrate,
    offered_simulcast,
    stopped_mids,
    with_declined_sections,
    without_sections,
    without_transport_cc,
)
from sfu.webrtc.stack import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    REPAIRED_RID_URI,
    RID_URI,
    TRANSPORT_CC_URI,
)
from sfu.webrtc.tap import DtlsTap
from sfu.webrtc.udpmux import UdpMux

logger = logging.getLogger(__name__)


class SdpError(ValueError):
    """An SDP that could not be parsed or applied; the message says why."""


class CodecError(SdpError):
    """An offer whose every m-line carries no codec we forward (WHIP and WHEP answer it 406)."""


@dataclass(frozen=True, slots=True)
class IceCredentials:
    """Our side of an ICE restart: the new ufrag and password, and our candidates (as
    ``candidate:`` attribute values)."""

    ufrag: str
    password: str
    candidates: list[str]


_RECEIVING = ("recvonly", "sendrecv")  # an offerer's directions that let us send


def _new_pc(mux: UdpMux | None, certificate: NodeCertificate) -> NodePeerConnection:
    """On the node's ICE-lite port when it has one, else on aioice's ports per peer."""
    current = certificate.current()
    return NodePeerConnection(current) if mux is None else LitePeerConnection(mux, current)


def _decline_transport_cc(t: RTCRtpTransceiver) -> None:
    """Answer ``t`` without transport-cc: neither its feedback nor its header extension."""
    t._codecs[0].rtcpFeedback = [
        fb for fb in t._codecs[0].rtcpFeedback if fb.type != "transport-cc"
    ]
    t._headerExtensions = [e for e in t._headerExtensions if e.uri != TRANSPORT_CC_URI]


def _media_line(
    t: RTCRtpTransceiver, *, rids: tuple[str, ...] = (), ssrc: int = 0, rtx_ssrc: int = 0
) -> MediaLine:
    ids = {ext.uri: ext.id for ext in t._headerExtensions}
    codec = t._codecs[0]
    assert t.mid is not None and codec.payloadType is not None  # negotiated m-lines have both
    rtx = [
        c.payloadType
        for c in t._codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == codec.payloadType
    ]
    return MediaLine(
        mid=t.mid,
        kind=cast(Kind, t.kind),
        payload_type=codec.payloadType,
        mime=codec.mimeType.lower(),
        clock_rate=codec.clockRate,
        extensions=ExtensionIds(
            mid=ids.get(MID_URI, 0),
            rid=ids.get(RID_URI, 0),
            repaired_rid=ids.get(REPAIRED_RID_URI, 0),
            abs_send_time=ids.get(ABS_SEND_TIME_URI, 0),
            audio_level=ids.get(AUDIO_LEVEL_URI, 0),
            transport_cc=ids.get(TRANSPORT_CC_URI, 0),
        ),
        rids=rids,
        ssrc=ssrc,
        nack=any(fb.type == "nack" and not fb.parameter for fb in codec.rtcpFeedback),
        profile=str(codec.parameters.get("profile-level-id", "")).lower(),
        rtx_payload_type=rtx[0] if rtx and rtx[0] is not None else 0,
        rtx_ssrc=rtx_ssrc if rtx else 0,
    )


def _signalled_ssrcs(media: MediaDescription) -> tuple[int, int]:
    """The (media, RTX) SSRCs an offered m-line signals (a=ssrc, a=ssrc-group:FID), 0 for
    either it does not."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and len(group.items) == 2:
            return int(group.items[0]), int(group.items[1])
    return (media.ssrc[0].ssrc if media.ssrc else 0), 0


def _preferences(kind: str, codec: Codec) -> list[RTCRtpCodecCapability]:
    """Offer exactly the track's codec (and RTX): the subscriber gets what the publisher sends."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [
        c
        for c in capabilities
        if c.mimeType.lower() == codec.mime
        and str(c.parameters.get("profile-level-id", ""))[:4].lower() == codec.profile[:4]
    ][:1]
    if not chosen:
        raise SdpError(f"cannot send {codec.mime} {codec.profile}".rstrip())
    return chosen + [c for c in capabilities if c.mimeType.lower() == f"{kind}/rtx"]


class _Peer:
    def __init__(
        self,
        handler: MediaHandler,
        counters: MediaCounters,
        *,
        certificate: NodeCertificate,
        mux: UdpMux | None = None,
    ) -> None:
        self._pc = _new_pc(mux, certificate)
        self._lite = mux is not None
        self._handler = handler
        self._counters = counters
        self._tap: DtlsTap | None = None

    @property
    def sink(self) -> MediaSink | None:
        return self._tap

    def on_state(self, callback: Callable[[str, str], None]) -> None:
        """Report the connection state ('connected', 'failed', 'closed', ...) and, once it
        failed, the step that did (for the client and the log; else "")."""
        self._pc.on(
            "connectionstatechange",
            lambda: callback(self._pc.connectionState, self._failed_step()),
        )

    def _failed_step(self) -> str:
        """What made the connection fail: ICE (no check came, consent lost) or DTLS."""
        transceivers = self._pc.getTransceivers()
        if self._pc.connectionState != "failed" or not transceivers:
            return ""
        dtls = transceivers[0].receiver.transport
        ice = dtls.transport
        if isinstance(ice, LiteIceTransport) and ice.failure is not None:
            return f"ICE: {ice.failure}"
        if ice.state == "failed":
            return "ICE: no candidate pair succeeded"
        ssl = dtls._ssl  # aiortc fails a connection for ICE or DTLS only
        curve = refused_curve(ssl.get_peer_certificate(as_cryptography=True) if ssl else None)
        if curve is not None:
            return (
                f"DTLS handshake failed: the client's certificate is ECDSA on {curve}, which"
                " DTLS 1.2 here refuses; WebRTC's is P-256 (FFmpeg's WHIP muxer built with GnuTLS"
                " makes P-224 ones: give it -cert_file and -key_file of a P-256 key)"
            )
        return "DTLS handshake failed"

    def _lite_transport(self) -> LiteIceTransport | None:
        """The ICE-lite transport of the bundle, when on the node's port and negotiated."""
        transceivers = self._pc.getTransceivers()
        if not self._lite or not transceivers:
            return None
        transport = transceivers[0].receiver.transport.transport
        return transport if isinstance(transport, LiteIceTransport) else None

    def _ensure_tap(self) -> None:
        if self._tap is None and self._pc.getTransceivers():
            dtls = self._pc.getTransceivers()[0].receiver.transport
            self._tap = DtlsTap(dtls, self._handler, self._counters)

    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None, index: int | None
    ) -> None:
        if candidate is None or not candidate.strip():
            await self._pc.addIceCandidate(None)
            return
        text = candidate.removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError) as exc:
            raise SdpError(f"unparsable ICE candidate: {exc or text[:80]}") from None
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = index if sdp_mid is None else None
        if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
            parsed.sdpMLineIndex = 0
        await self._pc.addIceCandidate(parsed)

    async def close(self) -> None:
        if self._tap is not None:
            self._tap.detach()
        await self._pc.close()


class _Answering(_Peer):
    """A peer whose client offers (a publisher, a WHEP player): it can restart ICE on the
    client's word alone, as WHIP and WHEP do with a PATCH."""

    def restart_ice(self, remote_ufrag: str) -> IceCredentials | None:
        """An ICE restart without a new offer (a WHIP or WHEP client's PATCH): the client's new
        ufrag and our new credentials; None without a transport to restart (none yet, aiortc's
        own ICE, or failed)."""
        transport = self._lite_transport()
        if transport is None or transport.state in ("failed", "closed"):
            return None
        transport.restart(remote_ufrag)
        ours = transport.iceGatherer
        candidates = [candidate_to_sdp(c) for c in ours.getLocalCandidates()]
        return IceCredentials(ours.ufrag, ours.password, candidates)


class PublishPeer(_Answering):
    """The client sends media here; we answer its offers."""

    def __init__(
        self,
        handler: MediaHandler,
        counters: MediaCounters,
        *,
        start_kbps: int,
        certificate: NodeCertificate,
        mux: UdpMux | None = None,
    ) -> None:
        super().__init__(handler, counters, certificate=certificate, mux=mux)
        self._start_kbps = start_kbps
        self._told: set[str | None] = set()  # mids declined for their codecs, told already

    async def answer(self, offer: str) -> tuple[str, list[MediaLine], list[str]]:
        """Apply an offer; return our answer, the m-lines the client will send on, and why each
        m-line newly declined for its codecs is (one without a codec we forward is declined on
        its own: the rest connects)."""
        try:
            media = SessionDescription.parse(offer).media
        except Exception as exc:
            raise SdpError(f"offer unparsable: {exc or type(exc).__name__}") from None
        tracks = [m for m in media if m.kind in ("audio", "video")]
        if not tracks:
            raise SdpError("offer has no audio or video m-line to publish")
        stopped = stopped_mids(offer)  # transceivers the client stopped
        refused = {
            m.rtp.muxId: why
            for m in tracks
            if m.rtp.muxId not in stopped and (why := unforwardable(m)) is not None
        }
        declined = stopped | {mid for mid in refused if mid is not None}
        if all(m.rtp.muxId in declined for m in tracks):
            if refused:
                raise CodecError("; ".join(refused.values()))
            raise SdpError("offer has every m-line stopped")
        transport = self._lite_transport()
        ufrag = next((m.ice.usernameFragment for m in media if m.ice is not None), None)
        restart = transport is not None and transport.remote_ufrag not in (None, ufrag)
        accepted = without_sections(offer, declined)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=accepted, type="offer"))
        except Exception as exc:  # aiortc raises ValueError, AssertionError, OperationError...
            raise SdpError(f"offer rejected: {exc or type(exc).__name__}") from None
        receiving = [
            t
            for t in self._pc.getTransceivers()
            if t._offerDirection in ("recvonly", "sendrecv") and t.mid not in declined
        ]
        for t in self._pc.getTransceivers():
            t._codecs = forwardable(t._codecs, t.kind)  # not empty: unforwardable() said so
            # We estimate downlinks only: a publisher that negotiated transport-cc would wait for
            # our feedback and let its own estimator starve without it (REMB drives it instead).
            _decline_transport_cc(t)
        simulcast = offered_simulcast(offer)
        if self._lite:
            prefer_dtls_server(self._pc, media)
        if restart and transport is not None:  # the client restarted ICE: so do we
            transport.restart(ufrag)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        self._ensure_tap()
        answer = add_simulcast_and_bitrate(
            self._pc.localDescription.sdp, simulcast, self._start_kbps
        )
        signalled = {m.rtp.muxId or "": _signalled_ssrcs(m) for m in tracks}
        lines = []
        for t in receiving:
            rids = tuple(simulcast.get(t.mid or "", ()))
            ssrc, rtx_ssrc = (0, 0) if rids else signalled.get(t.mid or "", (0, 0))
            lines.append(_media_line(t, rids=rids, ssrc=ssrc, rtx_ssrc=rtx_ssrc))
        untold = [why for mid, why in refused.items() if mid not in self._told]
        self._told |= set(refused)
        return with_declined_sections(answer, offer, declined), lines, untold


class _PlaceholderTrack(MediaStreamTrack):
    """Gives a sender its kind and msid; never yields a frame (aiortc must not encode)."""

    def __init__(self, kind: Kind, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id

    async def recv(self) -> Any:
        raise ConnectionError("forwarded tracks have no frames")


class _SendingPeer(_Peer):
    """We send media here: the transport-wide seq log and what each m-line is sent with, for the
    offering (``SubscribePeer``) and the answering (``PlayPeer``) form alike."""

    def __init__(
        self,
        handler: MediaHandler,
        counters: MediaCounters,
        *,
        certificate: NodeCertificate,
        mux: UdpMux | None = None,
        transport_cc: bool = True,
    ) -> None:
        """``transport_cc``: negotiate the transport-wide seq and its feedback (else the client's
        REMB is all we learn of its downlink)."""
        super().__init__(handler, counters, certificate=certificate, mux=mux)
        self._transport_cc = transport_cc
        self._send_log: SendLog | None = None

    def send_log(self, extension_id: int) -> SendLog:
        """The log of the transport-wide seqs this connection's RTP is stamped with, from now on
        (the client negotiated transport-cc under ``extension_id``); created once."""
        if self._send_log is None:
            assert self._tap is not None  # a negotiated peer always has its transport
            self._send_log = SendLog(extension_id)
            self._tap.set_send_log(self._send_log)
        return self._send_log


def _sent_line(t: RTCRtpTransceiver) -> MediaLine:
    return _media_line(t, ssrc=t.sender._ssrc, rtx_ssrc=t.sender._rtx_ssrc)


class SubscribePeer(_SendingPeer):
    """We send media here; we offer, the client answers. m-lines are reused once inactive."""

    def __init__(
        self,
        handler: MediaHandler,
        counters: MediaCounters,
        *,
        certificate: NodeCertificate,
        mux: UdpMux | None = None,
        transport_cc: bool = True,
    ) -> None:
        super().__init__(
            handler, counters, certificate=certificate, mux=mux, transport_cc=transport_cc
        )
        self._by_track: dict[str, RTCRtpTransceiver] = {}
        self._offered: set[str] = set()

    def add_track(self, track_id: str, stream_id: str, kind: Kind, codec: Codec) -> None:
        """Send a track of this codec (its publisher's: we never transcode)."""
        free = next(
            (
                t
                for t in self._pc.getTransceivers()
                if t.kind == kind and t.direction == "inactive" and t not in self._by_track.values()
            ),
            None,
        )
        track = _PlaceholderTrack(kind, track_id)
        if free is None:
            free = self._pc.addTransceiver(track, direction="sendonly")
        else:
            free.direction = "sendonly"
            free.sender.replaceTrack(track)
            free.sender._ssrc = random32()  # a new source gets a new SSRC
        free.setCodecPreferences(_preferences(kind, codec))
        free.sender._stream_id = stream_id
        self._by_track[track_id] = free
        self._ensure_tap()

    def remove_track(self, track_id: str) -> None:
        transceiver = self._by_track.pop(track_id, None)
        if transceiver is not None:
            transceiver.direction = "inactive"

    def restart_ice(self) -> bool:
        """New local ICE credentials for the next offer (the client asked for an ICE restart);
        False without a transport to restart (none yet, or aiortc's own ICE)."""
        transport = self._lite_transport()
        if transport is None or transport.state in ("failed", "closed"):
            return False
        transport.restart()
        return True

    async def create_offer(self) -> tuple[str, dict[str, str]]:
        """Our offer and the mid of each track in it."""
        # Tracks added while this awaits are not in the offer: the caller renegotiates for them.
        snapshot = dict(self._by_track)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        mids = {
            track_id: t.mid
            for track_id, t in snapshot.items()
            if self._by_track.get(track_id) is t and t.mid is not None
        }
        self._offered = set(mids)
        sdp = self._pc.localDescription.sdp
        return (sdp if self._transport_cc else without_transport_cc(sdp)), mids

    async def apply_answer(self, answer: str) -> dict[str, MediaLine]:
        """Apply the client's answer; return what each track of that offer is sent with."""
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:
            raise SdpError(f"answer rejected: {exc or type(exc).__name__}") from None
        return {
            track_id: _sent_line(t)
            for track_id, t in self._by_track.items()
            if track_id in self._offered
        }


class PlayPeer(_SendingPeer, _Answering):
    """We send media here, but the client offers: a WHEP player's recvonly m-lines, answered
    sendonly. One m-line of each kind is used (the first with a codec we forward, ``prefer``
    first: the codec of the track it will get); the others are declined. It never renegotiates:
    sources change on these m-lines."""

    async def answer(
        self, offer: str, prefer: Mapping[Kind, Codec]
    ) -> tuple[str, dict[Kind, MediaLine]]:
        """Our answer, and what each kind is sent with."""
        try:
            media = SessionDescription.parse(offer).media
        except Exception as exc:
            raise SdpError(f"offer unparsable: {exc or type(exc).__name__}") from None
        receiving = [m for m in media if m.kind in ("audio", "video") and m.direction in _RECEIVING]
        if not receiving:
            raise SdpError("offer has no audio or video m-line to receive on")
        chosen: dict[str, str] = {}  # kind -> mid
        for m in receiving:
            if m.kind not in chosen and unforwardable(m) is None and m.rtp.muxId:
                chosen[m.kind] = m.rtp.muxId
        if not chosen:
            raise CodecError("; ".join(filter(None, (unforwardable(m) for m in receiving))))
        declined = {m.rtp.muxId for m in media if m.rtp.muxId} - set(chosen.values())
        try:
            await self._pc.setRemoteDescription(
                RTCSessionDescription(sdp=without_sections(offer, declined), type="offer")
            )
        except Exception as exc:
            raise SdpError(f"offer rejected: {exc or type(exc).__name__}") from None
        for t in self._pc.getTransceivers():
            t._codecs = forwardable(t._codecs, t.kind, prefer.get(cast(Kind, t.kind)))
            t.direction = "sendonly"
            if t._codecs and not self._transport_cc:  # the player's REMB tells us instead
                _decline_transport_cc(t)
        if self._lite:
            prefer_dtls_server(self._pc, media)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        self._ensure_tap()
        sdp = self._pc.localDescription.sdp
        lines = {cast(Kind, t.kind): _sent_line(t) for t in self._pc.getTransceivers()}
        return with_declined_sections(sdp, offer, declined), lines
