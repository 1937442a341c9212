"""One ICE-lite transport against a fake socket side: binding, switching, consent, closing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import uvloop
from aiortc import RTCIceParameters
from aiortc.rtcdtlstransport import generate_certificate
from cryptography.hazmat.primitives.asymmetric import ec

from sfu.media.counters import DropReason, MediaCounters
from sfu.webrtc.certificate import NodeCertificate, refused_curve
from sfu.webrtc.datapath_py import Address
from sfu.webrtc.icelite import LiteIceGatherer, LiteIceTransport
from sfu.webrtc.peer import PublishPeer
from sfu.webrtc.udpmux import UdpMux, UdpMuxError
from tests.support.ports import free_udp_port
from tests.support.sinks import NoMedia

A, B = ("198.51.100.1", 4000), ("198.51.100.1", 4001)
DATA = Path(__file__).parents[2] / "data"


class FakeMedia:
    """A datapath peer: records where it is told to send."""

    def __init__(self) -> None:
        self.destinations: list[Address] = []
        self.closed = False

    def set_destination(self, address: Address) -> None:
        self.destinations.append(address)

    def close(self) -> None:
        self.closed = True


class FakeMux:
    def __init__(self) -> None:
        self.port = 7882
        self.tcp_port = 0
        self.advertised = ["203.0.113.9", "2001:db8::9"]
        self.consent_timeout_s = 30.0
        self.by_ufrag: dict[str, LiteIceTransport] = {}
        self.registered = 0
        self.by_addr: dict[Address, LiteIceTransport] = {}
        self.sent: list[tuple[bytes, Address]] = []
        self.clock = 100.0
        self.media: dict[Address, FakeMedia] = {}  # what the datapath has bound
        self.media_at: dict[Address, float] = {}  # when it last took media from there
        self.drops: list[DropReason] = []

    def register(self, transport: LiteIceTransport) -> None:
        transport.iceGatherer.ufrag = f"ufrag{self.registered}"
        self.registered += 1
        self.by_ufrag[transport.iceGatherer.ufrag] = transport

    def rename(self, transport: LiteIceTransport) -> None:
        self.by_ufrag.pop(transport.iceGatherer.ufrag, None)
        self.register(transport)

    def unregister(self, transport: LiteIceTransport) -> None:
        self.by_ufrag.pop(transport.iceGatherer.ufrag, None)
        for address in transport.addresses:
            self.unbind(address)

    def bind(self, address: Address, transport: LiteIceTransport) -> None:
        self.by_addr[address] = transport
        if transport.media is not None:
            self.media[address] = transport.media  # type: ignore[assignment]

    def unbind(self, address: Address) -> None:
        self.by_addr.pop(address, None)
        self.media.pop(address, None)

    def media_peer(self, handler: object, on_drop: object) -> FakeMedia:
        return FakeMedia()

    def last_media_s(self, address: Address) -> float:
        return self.media_at.get(address, -1.0)

    def drop(self, reason: DropReason) -> None:
        self.drops.append(reason)

    def sendto(self, data: bytes, address: Address) -> None:
        self.sent.append((data, address))

    def now(self) -> float:
        return self.clock


def _transport() -> tuple[FakeMux, LiteIceTransport]:
    mux = FakeMux()
    return mux, LiteIceTransport(LiteIceGatherer(mux), mux)


async def test_the_sdp_side_announces_lite_and_one_candidate_per_address() -> None:
    _, transport = _transport()
    params = transport.iceGatherer.getLocalParameters()
    assert params.iceLite and params.usernameFragment == "ufrag0" and len(params.password) >= 22
    candidates = transport.iceGatherer.getLocalCandidates()
    assert [(c.ip, c.port, c.type) for c in candidates] == [
        ("203.0.113.9", 7882, "host"),
        ("2001:db8::9", 7882, "host"),
    ]
    assert candidates[0].priority > candidates[1].priority


async def test_start_completes_on_the_first_check_and_sends_there() -> None:
    mux, transport = _transport()
    with pytest.raises(ConnectionError):
        transport.send_datagram(b"x")
    started = asyncio.create_task(transport.start(RTCIceParameters("remote", "pw" * 11)))
    await asyncio.sleep(0)
    assert transport.state == "checking"
    transport.valid_check(A, False, mux.clock)
    await asyncio.wait_for(started, 1)
    assert transport.state == "completed"
    transport.send_datagram(b"\x80data")
    assert mux.sent == [(b"\x80data", A)]
    assert mux.by_addr == {A: transport}


async def test_dtls_is_queued_for_aiortc_and_srtp_the_datapath_left_is_dropped() -> None:
    mux, transport = _transport()
    transport.valid_check(A, True, mux.clock)
    transport.deliver(b"\x16dtls", A, mux.clock)
    transport.deliver(b"\x80srtp", A, mux.clock)  # before the keys
    assert await transport._recv() == b"\x16dtls"
    assert transport._queue.empty()
    assert mux.drops == [DropReason.MEDIA_BEFORE_KEYS]


async def test_the_media_entry_follows_the_authenticated_addresses_and_the_remote() -> None:
    mux, transport = _transport()
    transport.valid_check(A, True, 100.0)
    media = transport.attach_media(object(), print)  # type: ignore[arg-type]
    assert transport.attach_media(object(), print) is media  # type: ignore[arg-type]
    assert isinstance(media, FakeMedia)
    assert mux.media == {A: media} and media.destinations == [A]
    transport.valid_check(B, True, 101.0)  # nominated from elsewhere: media goes there
    assert mux.media == {A: media, B: media} and media.destinations == [A, B]
    transport.fail("test")
    assert media.closed and mux.media == {}


async def test_media_from_the_current_address_keeps_it_against_a_plain_check() -> None:
    mux, transport = _transport()
    transport.valid_check(A, True, 100.0)
    mux.media_at[A] = 103.0  # the datapath took media from A a moment ago
    transport.valid_check(B, False, 103.5)
    assert transport.remote == A
    transport.valid_check(B, False, 105.5)  # A silent 2.5 s
    assert transport.remote == B


async def test_a_plain_check_from_a_new_address_moves_only_once_the_old_one_is_quiet() -> None:
    mux, transport = _transport()
    transport.valid_check(A, True, 100.0)
    transport.deliver(b"\x80", A, 101.0)
    transport.valid_check(B, False, 102.0)  # A heard 1 s ago: stay
    assert transport.remote == A
    assert mux.by_addr[B] is transport  # but B is authenticated now
    transport.valid_check(B, False, 103.5)  # A silent 2.5 s: NAT rebinding
    assert transport.remote == B
    transport.valid_check(A, True, 104.0)  # a nomination moves it at once
    assert transport.remote == A


async def test_an_ice_restart_changes_the_credentials_and_keeps_the_path() -> None:
    """RFC 8445 §9: new local ufrag and password (and the client's new ufrag when it began);
    where we send, the bound addresses and the media entry stay until a check moves them."""
    mux, transport = _transport()
    started = asyncio.create_task(transport.start(RTCIceParameters("remote", "pw" * 11)))
    transport.valid_check(A, True, mux.clock)
    await asyncio.wait_for(started, 1)
    media = transport.attach_media(object(), lambda _: None)
    old = transport.iceGatherer.getLocalParameters()
    transport.restart("remote2")
    new = transport.iceGatherer.getLocalParameters()
    assert new.usernameFragment != old.usernameFragment and new.password != old.password
    assert mux.by_ufrag == {new.usernameFragment: transport}
    assert transport.password_bytes == new.password.encode()
    assert transport.remote_ufrag == "remote2"
    assert (transport.remote, mux.by_addr, transport.media) == (A, {A: transport}, media)
    transport.valid_check(B, True, mux.clock + 1)  # the restarted path, nominated
    assert transport.remote == B and transport.state == "completed"


async def test_without_consent_the_transport_fails_and_aiortc_sees_connection_error() -> None:
    mux, transport = _transport()
    states: list[str] = []
    transport.on("statechange", lambda: states.append(transport.state))
    started = asyncio.create_task(transport.start(RTCIceParameters("remote", "pw" * 11)))
    await asyncio.sleep(0)
    transport.valid_check(A, True, 100.0)
    await started
    assert not transport.consent_expired(129.0)
    assert transport.consent_expired(130.5)
    transport.fail("test")
    assert states == ["checking", "completed", "failed"]
    assert mux.by_ufrag == {} and not transport.ready
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await transport._recv()


async def test_a_peer_that_never_checks_fails_after_the_consent_timeout() -> None:
    mux, transport = _transport()
    mux.consent_timeout_s = 0.05
    await asyncio.wait_for(transport.start(RTCIceParameters("remote", "pw" * 11)), 1)
    assert transport.state == "failed"


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_taken_port_fails_fast_with_a_clear_error(loop_kind: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        mux = UdpMux(bind="127.0.0.1", port=port, advertised=["127.0.0.1"], consent_timeout_s=30)
        run = uvloop.run if loop_kind == "uvloop" else asyncio.run
        with pytest.raises(UdpMuxError, match=f"127.0.0.1:{port} \\(SFU_UDP_PORT\\): .*in use"):
            run(mux.start())


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("actpass", "passive"),  # ours to choose: we are the DTLS server
        ("passive", "active"),  # FFmpeg's WHIP muxer: it is the server, we must be the client
        ("active", "passive"),
    ],
)
async def test_the_answer_keeps_a_dtls_role_the_offer_chose(offered: str, answered: str) -> None:
    offer = (DATA / "chrome_simulcast_offer.sdp").read_text()
    offer = offer.replace("a=setup:actpass", f"a=setup:{offered}")
    mux = UdpMux(bind="127.0.0.1", port=free_udp_port(), advertised=[], consent_timeout_s=30)
    await mux.start()
    peer = PublishPeer(
        NoMedia(), MediaCounters(), start_kbps=300, certificate=NodeCertificate(), mux=mux
    )
    answer, _, _ = await peer.answer(offer)
    setups = {line for line in answer.splitlines() if line.startswith("a=setup:")}
    assert setups == {f"a=setup:{answered}"}
    await peer.close()
    await mux.close()


def test_a_failed_handshake_names_a_client_certificate_on_a_curve_openssl_refuses() -> None:
    p224 = ec.generate_private_key(ec.SECP224R1())
    assert refused_curve(generate_certificate(p224)) == "secp224r1"  # FFmpeg + GnuTLS
    for curve in (ec.SECP256R1(), ec.SECP384R1()):
        assert refused_curve(generate_certificate(ec.generate_private_key(curve))) is None
    assert refused_curve(None) is None
