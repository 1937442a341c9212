"""ICE-lite transports on the node's one UDP port, shaped like aiortc's ICE objects.

``RTCDtlsTransport`` only needs ``_recv``/``_send``/``role`` from its ICE transport, and
``RTCPeerConnection`` creates both in one private method; ``LitePeerConnection`` overrides that
method so aiortc keeps doing SDP, the DTLS handshake and SRTP keys while ``UdpMux`` owns the
socket. Each transport has its own random ufrag: it is the key incoming checks are routed by.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from aiortc import RTCCertificate, RTCIceCandidate, RTCIceParameters, RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.sdp import MediaDescription
from pyee.asyncio import AsyncIOEventEmitter

from sfu.media.counters import DropReason
from sfu.rtp.demux_py import RTCP, RTP
from sfu.rtp.kernels import classify
from sfu.webrtc.connection import NodePeerConnection
from sfu.webrtc.datapath_py import PacketHandler, Source
from sfu.webrtc.kernels import Peer

logger = logging.getLogger(__name__)

SILENCE_SWITCH_S = 2.0  # an address quiet this long loses to a newly authenticated one
MAX_ADDRESSES = 4  # authenticated source addresses kept per transport
MAX_QUEUED = 256  # DTLS records waiting for aiortc's pump
HOST_TYPE_PREFERENCE = 126  # RFC 8445 §5.1.2.2's for host candidates
# libwebrtc's for host TCP candidates: below every UDP host candidate, so a client that can reach
# our UDP port pairs with it first.
TCP_HOST_TYPE_PREFERENCE = 90
_ICE_CHARS = string.ascii_letters + string.digits


def random_ice_string(length: int) -> str:
    return "".join(secrets.choice(_ICE_CHARS) for _ in range(length))


def candidate_priority(type_preference: int, local_preference: int) -> int:
    """RFC 8445 §5.1.2.1's formula, for component 1."""
    return (type_preference << 24) | (local_preference << 8) | 255


def should_switch(
    *,
    current: Source | None,
    source: Source,
    nominated: bool,
    current_silent_s: float,
    silence_s: float = SILENCE_SWITCH_S,
) -> bool:
    """Whether an authenticated check from ``source`` moves where we send.

    The first check picks the address; after that a nomination (USE-CANDIDATE, which browsers
    repeat on their checks) moves it at once, and a plain check (aioice's consent checks carry
    no USE-CANDIDATE) moves it once the current address has gone quiet: NAT rebinding.
    """
    if current is None:
        return True
    if source == current:
        return False
    return nominated or current_silent_s > silence_s


class MuxSide(Protocol):
    """What a transport needs from the node's socket (``UdpMux``)."""

    port: int
    tcp_port: int  # 0: no ICE-TCP
    advertised: list[str]
    consent_timeout_s: float

    def register(self, transport: LiteIceTransport) -> None: ...

    def unregister(self, transport: LiteIceTransport) -> None: ...

    def rename(self, transport: LiteIceTransport) -> None: ...

    def bind(self, address: Source, transport: LiteIceTransport) -> None: ...

    def unbind(self, address: Source) -> None: ...

    def sendto(self, data: bytes, address: Source) -> None: ...

    def media_peer(self, handler: PacketHandler, on_drop: Callable[[int], None]) -> Peer: ...

    def last_media_s(self, address: Source) -> float: ...

    def drop(self, reason: DropReason) -> None: ...

    def now(self) -> float: ...


class _Controlling:
    """Stands in for aioice's Connection, whose ``ice_controlling`` aiortc writes. A lite agent
    is always controlled, so the value is ignored."""

    ice_controlling = False


class LiteIceGatherer(AsyncIOEventEmitter):
    """Nothing to gather: per advertised address, a host candidate on the node's UDP port and,
    with ICE-TCP, a passive one on its TCP port (RFC 6544)."""

    def __init__(self, mux: MuxSide) -> None:
        super().__init__()
        self._mux = mux
        self.ufrag = ""  # set by the mux when registering: unique among live transports
        self.password = random_ice_string(24)
        self._state = "new"

    @property
    def state(self) -> str:
        return self._state

    async def gather(self) -> None:
        if self._state == "new":
            self._state = "completed"
            self.emit("statechange")

    def getLocalCandidates(self) -> list[RTCIceCandidate]:
        ports: list[tuple[str, int, int, str | None]] = [
            ("udp", self._mux.port, HOST_TYPE_PREFERENCE, None)
        ]
        if self._mux.tcp_port:
            ports.append(("tcp", self._mux.tcp_port, TCP_HOST_TYPE_PREFERENCE, "passive"))
        return [
            RTCIceCandidate(
                component=1,
                foundation=f"lite{'' if protocol == 'udp' else protocol}{i}",
                ip=address,
                port=port,
                priority=candidate_priority(preference, 65535 - i),
                protocol=protocol,
                type="host",
                tcpType=tcp_type,
            )
            for protocol, port, preference, tcp_type in ports
            for i, address in enumerate(self._mux.advertised)
        ]

    def getLocalParameters(self) -> RTCIceParameters:
        return RTCIceParameters(usernameFragment=self.ufrag, password=self.password, iceLite=True)


class LiteIceTransport(AsyncIOEventEmitter):
    """One peer connection's ICE-lite side: answered checks decide where it sends; DTLS reaches
    aiortc through a queue; SRTP, once the tap attached a handler and the handshake gave keys,
    goes from the datapath straight to that handler (``media``)."""

    def __init__(self, gatherer: LiteIceGatherer, mux: MuxSide) -> None:
        super().__init__()
        self._gatherer = gatherer
        self._mux = mux
        self._state = "new"
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._connection = _Controlling()
        self._role_set = False
        self._first_check = asyncio.Event()
        self._started = False
        self.remote_ufrag: str | None = None
        self.remote: Source | None = None  # where we send
        self.addresses: list[Source] = []  # authenticated sources, oldest first
        self.remote_last_rx = 0.0
        self.last_check = 0.0
        self.media: Peer | None = None
        self.failure: str | None = None  # why it failed, for the client and the log
        self.password_bytes = gatherer.password.encode()
        mux.register(self)

    @property
    def iceGatherer(self) -> LiteIceGatherer:
        return self._gatherer

    @property
    def role(self) -> str:
        return "controlled"

    @property
    def state(self) -> str:
        return self._state

    @property
    def ready(self) -> bool:
        return self.remote is not None and self._state not in ("failed", "closed")

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.emit("statechange")
            if state == "closed":
                self.remove_all_listeners()

    async def addRemoteCandidate(self, candidate: RTCIceCandidate | None) -> None:
        """Ignored: a lite agent learns remote addresses from the checks it answers."""

    def getRemoteCandidates(self) -> list[RTCIceCandidate]:
        return []

    async def start(self, remoteParameters: RTCIceParameters) -> None:
        if self._state == "closed":
            return
        self.remote_ufrag = remoteParameters.usernameFragment
        if self._started:
            await self._first_check.wait()
            return
        self._started = True
        self.last_check = self._mux.now()  # the consent clock starts here
        self._set_state("checking")
        try:
            await asyncio.wait_for(self._first_check.wait(), self._mux.consent_timeout_s)
        except TimeoutError:
            self.fail(f"no connectivity check within {self._mux.consent_timeout_s:.0f} s")
            return
        if self._state == "checking":
            self._set_state("completed")

    async def stop(self) -> None:
        self._close()
        self._set_state("closed")

    def restart(self, remote_ufrag: str | None = None) -> None:
        """An ICE restart (RFC 8445 §9.1): new local credentials, which the next offer or answer
        carries, and the client's new ufrag when it started the restart. Its checks then come
        under the new ones; the path, the DTLS session and the SRTP keys stay, and the next
        nominated check moves the path (``should_switch``)."""
        self._gatherer.password = random_ice_string(24)
        self.password_bytes = self._gatherer.password.encode()
        self._mux.rename(self)
        if remote_ufrag is not None:
            self.remote_ufrag = remote_ufrag
        logger.info("ICE-lite transport restarted as %s", self._gatherer.ufrag)

    def fail(self, why: str) -> None:
        """Give up on this peer: aiortc's DTLS pump sees ConnectionError and the peer closes."""
        if self._state in ("failed", "closed"):
            return
        logger.info("ICE-lite transport %s failed: %s", self._gatherer.ufrag, why)
        self.failure = why
        self._close()
        self._set_state("failed")

    def attach_media(self, handler: PacketHandler, on_drop: Callable[[int], None]) -> Peer:
        """Our entry on the node port's datapath: SRTP from our addresses goes to ``handler``
        once ``set_keys`` gave it the handshake's sessions."""
        if self.media is None:
            self.media = self._mux.media_peer(handler, on_drop)
            for address in self.addresses:
                self._mux.bind(address, self)
            if self.remote is not None:
                self.media.set_destination(self.remote)
        return self.media

    def _close(self) -> None:
        self._mux.unregister(self)
        self.remote = None
        if self.media is not None:
            self.media.close()
        self._first_check.set()  # wake a waiting start()
        self._queue.put_nowait(None)

    def consent_expired(self, now: float) -> bool:
        return self._started and now - self.last_check > self._mux.consent_timeout_s

    def valid_check(self, source: Source, nominated: bool, now: float) -> None:
        """An authenticated check came from ``source``."""
        self.last_check = now
        if source not in self.addresses:
            self.addresses.append(source)
            self._mux.bind(source, self)
            if len(self.addresses) > MAX_ADDRESSES:
                old = self.addresses.pop(0 if self.addresses[0] != self.remote else 1)
                self._mux.unbind(old)
        last_rx = self.remote_last_rx
        if self.remote is not None:
            last_rx = max(last_rx, self._mux.last_media_s(self.remote))
        if should_switch(
            current=self.remote,
            source=source,
            nominated=nominated,
            current_silent_s=now - last_rx,
        ):
            if self.remote is not None:
                logger.info("ICE-lite %s: %s -> %s", self._gatherer.ufrag, self.remote, source)
            self.remote = source
            self.remote_last_rx = now
            if self.media is not None:
                self.media.set_destination(source)
        self._first_check.set()

    def lost(self, source: Source) -> None:
        """An authenticated TCP connection closed: if we sent there, we send to the newest
        source left; with none, a new check must come before consent runs out."""
        if source in self.addresses:
            self.addresses.remove(source)
        if self.remote == source:
            self.remote = self.addresses[-1] if self.addresses else None
            if self.media is not None and self.remote is not None:
                self.media.set_destination(self.remote)

    def deliver(self, data: bytes, source: Source, now: float) -> None:
        """A DTLS or SRTP datagram from an authenticated source that the datapath did not take:
        SRTP here came before the keys."""
        if source == self.remote:
            self.remote_last_rx = now
        if classify(data) in (RTP, RTCP):
            self._mux.drop(DropReason.MEDIA_BEFORE_KEYS)
        elif self._queue.qsize() < MAX_QUEUED:
            self._queue.put_nowait(data)
        else:
            self._mux.drop(DropReason.DTLS_QUEUE_FULL)

    async def _recv(self) -> bytes:
        data = await self._queue.get()
        if data is None:
            self._queue.put_nowait(None)  # every later call fails too
            raise ConnectionError("ICE-lite transport closed")
        return data

    async def _send(self, data: bytes) -> None:
        self.send_datagram(data)

    def send_datagram(self, data: bytes) -> None:
        """Synchronous send to the selected address; ConnectionError before there is one."""
        remote = self.remote
        if remote is None:
            raise ConnectionError("no remote address yet")
        self._mux.sendto(data, remote)


class LitePeerConnection(NodePeerConnection):
    """A node peer connection whose (max-bundle) transport is ICE-lite on the node's port."""

    def __init__(self, mux: MuxSide, certificate: RTCCertificate) -> None:
        self._lite_mux = mux
        super().__init__(certificate)

    def _RTCPeerConnection__createDtlsTransport(self) -> RTCDtlsTransport:
        pc: Any = self  # aiortc's name-mangled privates
        gatherer = LiteIceGatherer(self._lite_mux)
        gatherer.on("statechange", pc._RTCPeerConnection__updateIceGatheringState)
        ice = LiteIceTransport(gatherer, self._lite_mux)
        ice.on("statechange", pc._RTCPeerConnection__updateIceConnectionState)
        ice.on("statechange", pc._RTCPeerConnection__updateConnectionState)
        pc._RTCPeerConnection__iceTransports.add(ice)
        certificates: list[RTCCertificate] = pc._RTCPeerConnection__certificates
        dtls = RTCDtlsTransport(cast(Any, ice), certificates)  # duck-typed RTCIceTransport
        dtls.on("statechange", pc._RTCPeerConnection__updateConnectionState)
        pc._RTCPeerConnection__dtlsTransports.add(dtls)
        pc._RTCPeerConnection__updateIceGatheringState()
        pc._RTCPeerConnection__updateIceConnectionState()
        pc._RTCPeerConnection__updateConnectionState()
        return dtls


def prefer_dtls_server(pc: RTCPeerConnection, offered: Sequence[MediaDescription]) -> None:
    """Answer ``a=setup:passive`` where the offer let us choose (``actpass``): the client then
    sends its ClientHello on the pair it picked, and as DTLS server our SRTP profile order
    (AES-GCM first) wins. An offer that chose already keeps its choice, as aiortc answers it:
    ``active`` to ``passive`` (FFmpeg's WHIP muxer wants to be the server), ``passive`` to
    ``active``; two servers would each wait for the other's ClientHello."""
    if not any(m.dtls is not None and m.dtls.role == "auto" for m in offered):
        return
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls._role == "auto":
            dtls._set_role("server")
