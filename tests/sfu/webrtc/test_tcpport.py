"""ICE-TCP (RFC 6544 passive, RFC 4571 framing) on the node's port: the framing decisions, then
real TCP connections to a started port: checks answered in frames, the transport sending on
the connection, and each kind of bad client closed alone and counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aioice import stun
from aiortc import RTCIceParameters
from aiortc.sdp import candidate_to_sdp
from hypothesis import given
from hypothesis import strategies as st

from sfu.media.counters import DropReason
from sfu.webrtc import tcpport
from sfu.webrtc.icelite import LiteIceGatherer, LiteIceTransport
from sfu.webrtc.tcpport import MAX_FRAME, TcpLink, split_frames
from sfu.webrtc.udpmux import UdpMux
from tests.support.ports import free_port, free_udp_port

REMOTE_UFRAG, REMOTE_PASSWORD = "remoteufrag", "p" * 24
# First bytes of what a WebRTC stream carries (RFC 7983): STUN, DTLS, RTP/RTCP
WEBRTC_FIRST = st.sampled_from([0, 1, 20, 23, 63, 128, 191])


def _framed(*datagrams: bytes) -> bytes:
    return b"".join(len(d).to_bytes(2, "big") + d for d in datagrams)


@given(
    st.lists(
        st.tuples(WEBRTC_FIRST, st.binary(max_size=MAX_FRAME - 1)).map(
            lambda t: bytes([t[0]]) + t[1]
        ),
        max_size=8,
    ),
    st.lists(st.integers(1, 4000), max_size=8),
)
def test_frames_come_out_whole_however_the_stream_is_cut(
    datagrams: list[bytes], cuts: list[int]
) -> None:
    stream, got, buffer, at = _framed(*datagrams), [], bytearray(), 0
    for size in [*cuts, len(stream)]:
        buffer += stream[at : at + size]
        at += size
        split = split_frames(buffer)
        assert not isinstance(split, DropReason)
        frames, used = split
        got += frames
        del buffer[:used]
    assert got == datagrams and not buffer


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"\x00\x00", DropReason.TCP_BAD_FRAME),  # a zero length: nothing can follow it
        ((MAX_FRAME + 1).to_bytes(2, "big"), DropReason.TCP_FRAME_TOO_LARGE),
        (_framed(b"GET / HTTP/1.1\r\n"), DropReason.TCP_BAD_FRAME),  # not WebRTC
        (_framed(b"\x00\x01ok", b"\xff"), DropReason.TCP_BAD_FRAME),  # a good frame first
    ],
)
def test_a_stream_that_cannot_be_followed_is_refused_by_reason(
    stream: bytes, reason: DropReason
) -> None:
    assert split_frames(stream) == reason


def test_the_tcp_candidate_is_passive_and_ranks_below_every_udp_one() -> None:
    class Mux:
        port, tcp_port, advertised = 7882, 7881, ["203.0.113.9", "2001:db8::9"]

        def register(self, transport: object) -> None: ...

    candidates = LiteIceGatherer(Mux()).getLocalCandidates()  # type: ignore[arg-type]
    udp = [c for c in candidates if c.protocol == "udp"]
    tcp = [c for c in candidates if c.protocol == "tcp"]
    assert [(c.ip, c.port) for c in tcp] == [("203.0.113.9", 7881), ("2001:db8::9", 7881)]
    assert max(c.priority for c in tcp) < min(c.priority for c in udp)
    assert candidate_to_sdp(tcp[0]).endswith("typ host tcptype passive")


def _check(transport: LiteIceTransport, *, password: bytes | None = None) -> bytes:
    message = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    message.attributes["USERNAME"] = f"{transport.iceGatherer.ufrag}:{REMOTE_UFRAG}"
    message.attributes["PRIORITY"] = 1853817087
    message.attributes["ICE-CONTROLLING"] = 1
    message.attributes["USE-CANDIDATE"] = None
    message.add_message_integrity(password or transport.password_bytes)
    return bytes(message)


@contextlib.asynccontextmanager
async def _port() -> AsyncIterator[tuple[UdpMux, LiteIceTransport]]:
    mux = UdpMux(
        bind="127.0.0.1",
        port=free_udp_port(),
        tcp_port=free_port(),
        advertised=["127.0.0.1"],
        consent_timeout_s=30,
    )
    await mux.start()
    transport = LiteIceTransport(LiteIceGatherer(mux), mux)
    starting = asyncio.create_task(transport.start(RTCIceParameters(REMOTE_UFRAG, REMOTE_PASSWORD)))
    try:
        yield mux, transport
    finally:
        await transport.stop()
        await starting
        await mux.close()


async def _connect(mux: UdpMux) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", mux.tcp_port)


async def _frame(reader: asyncio.StreamReader) -> bytes:
    length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 5), "big")
    return await asyncio.wait_for(reader.readexactly(length), 5)


async def _closed(reader: asyncio.StreamReader) -> None:
    """The node ended the connection (FIN or RST)."""
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(), 5) == b""


async def _wait(condition: object, what: str) -> None:
    for _ in range(500):  # bounded: 5 s
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def test_a_check_over_tcp_is_answered_and_the_transport_then_sends_on_it() -> None:
    async with _port() as (mux, transport):
        reader, writer = await _connect(mux)
        writer.write(_framed(_check(transport)))
        response = stun.parse_message(await _frame(reader))
        assert response.message_class == stun.Class.RESPONSE
        assert response.attributes["XOR-MAPPED-ADDRESS"] == writer.get_extra_info("sockname")
        assert response.check_message_integrity(transport.password_bytes)
        assert isinstance(transport.remote, TcpLink) and transport.state == "completed"
        dtls = b"\x16\xfe\xfd" + b"h" * 60  # a DTLS record each way, in frames
        writer.write(_framed(dtls))
        assert await asyncio.wait_for(transport._recv(), 5) == dtls
        transport.send_datagram(b"\x16\xfe\xfd" + b"r" * 40)
        assert await _frame(reader) == b"\x16\xfe\xfd" + b"r" * 40
        assert mux.stats.checks_answered == 1
        writer.close()
        await _wait(lambda: transport.remote is None, "the closed connection is still the path")
        assert mux.by_addr == {} and mux.tcp is not None and not mux.tcp.links


async def test_bad_frames_close_that_connection_only_and_are_counted() -> None:
    async with _port() as (mux, transport):
        assert mux.tcp is not None
        reader, writer = await _connect(mux)
        writer.write(_framed(_check(transport)))
        await _frame(reader)
        for bad, reason in [
            (b"\x00\x00", DropReason.TCP_BAD_FRAME),
            (b"\xff\xff" + b"x" * 100, DropReason.TCP_FRAME_TOO_LARGE),
            (_framed(b"\x00\x01" + b"s" * 20, b"GET /"), DropReason.TCP_BAD_FRAME),
        ]:
            bad_reader, bad_writer = await _connect(mux)
            bad_writer.write(bad)
            await _closed(bad_reader)
            assert mux.tcp.stats.drops[reason] >= 1
            bad_writer.close()
        writer.write(_framed(_check(transport)))  # the good connection carries on
        assert stun.parse_message(await _frame(reader)).message_class == stun.Class.RESPONSE
        assert sum(mux.tcp.stats.drops.values()) == 3
        writer.close()


async def test_a_connection_without_a_valid_check_is_closed_after_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tcpport, "CHECK_TIMEOUT_S", 0.2)
    async with _port() as (mux, transport):
        assert mux.tcp is not None
        reader, writer = await _connect(mux)
        writer.write(_framed(_check(transport, password=b"x" * 24)))  # no answer, no binding
        await _closed(reader)
        assert mux.tcp.stats.drops[DropReason.TCP_NO_CHECK] == 1
        assert mux.stats.drops[DropReason.STUN_BAD_INTEGRITY] == 1
        assert transport.remote is None
        writer.close()


async def test_a_flood_of_unauthenticated_connections_from_one_host_is_limited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tcpport, "MAX_PENDING_PER_HOST", 3)
    async with _port() as (mux, transport):
        assert mux.tcp is not None
        port = mux.tcp
        connections = [await _connect(mux) for _ in range(6)]
        await _wait(lambda: port.stats.accepted == 3, "three connections admitted")
        for reader, _ in connections[3:]:
            await _closed(reader)
        assert port.stats.drops[DropReason.TCP_CONNECTIONS_LIMITED] == 3
        reader, writer = connections[0]  # an admitted one is authenticated by its check...
        writer.write(_framed(_check(transport)))
        assert stun.parse_message(await _frame(reader)).message_class == stun.Class.RESPONSE
        late_reader, late_writer = await _connect(mux)  # ...and no longer counts against the host
        late_writer.write(_framed(_check(transport)))
        assert stun.parse_message(await _frame(late_reader)).message_class == stun.Class.RESPONSE
        assert port.stats.accepted == 4
        for _, writer in [*connections, (late_reader, late_writer)]:
            writer.close()
        await _wait(lambda: not port.links, "closed connections are forgotten")
