"""The subscribers' per-packet counting: the compiled receive path against its pure-Python spec,
the receiver reports built from it, and the batched socket reader with real SRTP."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from types import ModuleType
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtp import RtcpPacket, RtcpRrPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from load_tests import counting, counting_py
from load_tests.receiving import ReceiverReports
from load_tests.rtp import build_rtp, build_sr, one_byte_extensions, stamp, vp8_payloads
from load_tests.tally import delay_percentile
from sfu.webrtc import libsrtp

IMPLEMENTATIONS = {"python": counting_py, "cython": counting}
VIDEO, AUDIO = 96, 111
MS = 1_000_000
TWCC = 5  # the transport-cc extension id


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return IMPLEMENTATIONS[request.param]


def receiver(impl: ModuleType) -> Any:
    r = impl.Receiver(impl.DelayHistogram())
    r.add_kinds({VIDEO: "video", AUDIO: "audio"})
    return r


def keyframe(height: int) -> bytes:
    """The start of a VP8 keyframe (RFC 6386 §9.1): tag, start code, width, height."""
    return b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 640, height) + b"\x00" * 20


def video(seq: int, *, ts: int = 0, marker: bool = True, payload: bytes = b"\x00" * 40) -> bytes:
    return build_rtp(VIDEO, seq, ts, 7, marker, b"", payload)


def test_loss_is_counted_from_sequence_gaps_across_the_wrap(impl: ModuleType) -> None:
    r = receiver(impl)
    for seq in (65533, 65534, 1, 2, 0, 2):  # 65535 lost; 0 late; 2 duplicated
        r.on_rtp(video(seq), 0)
    [stream] = r.window()
    assert (stream.packets, stream.expected) == (6, 6)  # 65533..2 is six numbers
    [report] = r.reports()
    assert report.highest == 65536 + 2 and report.ssrc == 7


def test_frames_freezes_and_layer_switches(impl: ModuleType) -> None:
    r = receiver(impl)
    first = next(vp8_payloads(keyframe(360), 1))
    r.on_rtp(video(1, payload=first, marker=False), 0)
    r.on_rtp(video(2), 10 * MS)
    r.start_window()
    r.on_rtp(video(3), 30 * MS)
    r.on_rtp(video(4), 300 * MS)  # 270 ms without a frame: a freeze
    r.on_rtp(video(5, payload=next(vp8_payloads(keyframe(720), 2))), 310 * MS)
    [stream] = r.window()
    assert (stream.frames, stream.freezes, stream.height, stream.layer_switches) == (3, 1, 720, 1)
    assert stream.packets == 3 and stream.kind == "video"


def test_delays_go_to_the_shared_histogram_only_in_the_window(impl: ModuleType) -> None:
    delays = impl.DelayHistogram()
    a, b = impl.Receiver(delays), impl.Receiver(delays)
    for r in (a, b):
        r.add_kinds({AUDIO: "audio"})
    a.on_rtp(build_rtp(AUDIO, 1, 0, 1, False, b"", stamp(b"x", 1 * MS)), 2 * MS)
    a.start_window()
    b.start_window()
    a.on_rtp(build_rtp(AUDIO, 2, 0, 1, False, b"", stamp(b"x", 10 * MS)), 12 * MS)
    b.on_rtp(build_rtp(AUDIO, 3, 0, 2, False, b"", stamp(b"x", 10 * MS)), 60 * MS)
    b.on_rtp(build_rtp(AUDIO, 4, 0, 2, False, b"", b"no trailer"), 70 * MS)
    assert delays.nonzero() == {20: 1, 500: 1}  # 2 ms and 50 ms, in 0.1 ms bins
    assert delay_percentile(delays.nonzero(), 50) == pytest.approx(2.1)
    assert delay_percentile(delays.nonzero(), 99) == pytest.approx(50.1)


def test_jitter_follows_rfc_3550(impl: ModuleType) -> None:
    r = receiver(impl)
    # 25 fps, arriving on time, then one frame 10 ms late: D = 900 timestamp units
    for n, late_ms in enumerate((0, 0, 0, 10)):
        r.on_rtp(video(n, ts=3600 * n), (1000 + 40 * n + late_ms) * MS)
    [report] = r.reports()
    assert report.jitter == int(900 / 16)


def test_what_is_not_counted(impl: ModuleType) -> None:
    r = receiver(impl)
    r.on_rtp(build_rtp(100, 1, 0, 9, False, b"", b"x"), 0)  # unknown payload type
    assert r.window() == [] and r.first_packet_ns == 0
    r.on_rtp(b"\x80\x60\x00", 0)  # too short
    r.on_rtp(b"\x40" + bytes(20), 0)  # version 1
    r.on_rtp(b"\xa0" + bytes(10) + b"\xff", 0)  # padding longer than the packet
    r.on_rtp(b"\x90" + bytes(12), 0)  # extension header cut off
    assert r.malformed == 4 and r.window() == []


def stamped(seq: int, *, pt: int = VIDEO, ssrc: int = 7, extensions: bytes | None = None) -> bytes:
    """A packet carrying transport seq ``seq`` (after a mid, as our node writes it)."""
    if extensions is None:
        extensions = one_byte_extensions([(1, b"0"), (TWCC, seq.to_bytes(2))])
    return build_rtp(pt, seq, 0, ssrc, True, extensions, b"\x00" * 40)


def test_transport_wide_arrivals_of_every_packet_are_kept_until_taken(impl: ModuleType) -> None:
    r = receiver(impl)
    r.on_rtp(stamped(1), 1_000)  # before the id is known: not kept
    r.transport_cc_id = TWCC
    padding_only = bytearray(stamped(3)[:-40])  # a probe: no payload, all padding
    padding_only[0] |= 0x20
    padding_only += bytes(7) + b"\x08"
    for n, data in enumerate(
        [
            stamped(2),
            stamped(3, pt=100, ssrc=98),  # unknown payload type
            bytes(padding_only),
            stamped(4, pt=AUDIO, ssrc=8),
            video(5),  # no extension
            stamped(6, extensions=one_byte_extensions([(3, b"\x00\x06")])),  # another id
            stamped(7, extensions=one_byte_extensions([(TWCC, b"\x00\x00\x07")])),  # 3 bytes
            stamped(8, extensions=b"\x10\x00\x00\x01\x52\x00\x00\x08"),  # two-byte profile
            stamped(9, extensions=b"\xbe\xde\x00\x02\x00\x00\x51\xff\xff\x00\x00\x00"),
            stamped(10, extensions=b"\xbe\xde\x00\x01\xf0\x51\x00\x0a"),  # 15 ends the block
        ]
    ):
        r.on_rtp(data, (2 + n) * MS + 999)
    assert r.take_arrivals() == [(2, 2_000), (3, 3_000), (3, 4_000), (4, 5_000), (0xFFFF, 10_000)]
    assert r.take_arrivals() == [] and r.malformed == 0
    assert [s.packets for s in r.window()] == [9, 1]  # counted as before
    r.transport_cc_id = 0
    r.on_rtp(stamped(11), 20 * MS)
    assert r.take_arrivals() == []


def test_a_malformed_extension_block_makes_the_packet_malformed(impl: ModuleType) -> None:
    """An element running past its block is not read beyond it: the packet is malformed, as
    one whose block runs past the packet is, and not counted."""
    overrun = stamped(1, extensions=b"\xbe\xde\x00\x01\x10\x00\x53\x00")
    r = receiver(impl)
    r.on_rtp(overrun, 0)  # no id: the block is not read
    r.transport_cc_id = TWCC
    r.on_rtp(overrun, 0)
    r.on_rtp(stamped(2, extensions=b"\xbe\xde\x00\x01\x00\x00\x00\x51"), 0)
    assert r.malformed == 2 and r.take_arrivals() == []
    assert [s.packets for s in r.window()] == [1]


def test_arrivals_beyond_the_bound_are_counted_not_kept(impl: ModuleType) -> None:
    r = receiver(impl)
    r.transport_cc_id = TWCC
    for seq in range(counting_py.ARRIVALS + 3):
        r.on_rtp(stamped(seq & 0xFFFF), seq * 1000)
    taken = r.take_arrivals()
    assert len(taken) == counting_py.ARRIVALS and taken[-1] == (counting_py.ARRIVALS - 1,) * 2
    assert r.transport_cc_overflow == 3
    r.on_rtp(stamped(7), 0)
    assert r.take_arrivals() == [(7, 0)] and r.transport_cc_overflow == 3


extension_blocks = st.one_of(
    st.just(b""),
    st.integers(0, 0xFFFF).map(lambda seq: one_byte_extensions([(TWCC, seq.to_bytes(2))])),
    st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), max_size=4).map(
        lambda items: one_byte_extensions(items) if items else b""
    ),
    st.tuples(st.sampled_from([0xBEDE, 0x1000]), st.integers(0, 3), st.binary(max_size=12)).map(
        lambda p: struct.pack("!HH", p[0], p[1]) + p[2]  # lengths that may lie
    ),
)
packets = st.lists(
    st.one_of(
        st.builds(
            lambda pt, seq, ts, ssrc, marker, payload, sent, extensions: build_rtp(
                pt, seq, ts, ssrc, marker, extensions, stamp(payload, sent) if sent else payload
            ),
            st.sampled_from([VIDEO, AUDIO, 100]),
            st.integers(0, 0xFFFF),
            st.integers(0, 0xFFFFFFFF),
            st.sampled_from([1, 2, 0xFFFFFFFF]),
            st.booleans(),
            st.one_of(
                st.binary(max_size=40),
                st.integers(100, 800).map(lambda h: next(vp8_payloads(keyframe(h), 0))),
            ),
            st.integers(0, 10**10),
            extension_blocks,
        ),
        st.binary(max_size=60),  # anything at all
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    packets,
    st.lists(st.integers(0, 10**9), min_size=40, max_size=40),
    st.integers(0, 40),
    st.sampled_from([0, 1, TWCC, 14]),
)
def test_both_implementations_count_alike(
    datagrams: list[bytes], gaps: list[int], window_at: int, transport_cc_id: int
) -> None:
    """The compiled receiver is its spec, packet for packet, whatever arrives."""
    seen = []
    for impl in (counting_py, counting):
        r, now = receiver(impl), 10**12
        r.transport_cc_id = transport_cc_id
        for n, data in enumerate(datagrams):
            if n == window_at:
                r.start_window()
            now += gaps[n]
            r.on_rtp(data, now)
        seen.append(
            (
                r.window(),
                r.reports(),
                r.delays.nonzero(),
                r.malformed,
                r.first_packet_ns,
                r.take_arrivals(),
                r.transport_cc_overflow,
            )
        )
    assert seen[0] == seen[1]


def test_receiver_reports_say_what_was_lost_since_the_last_one() -> None:
    reports = ReceiverReports(ssrc=42)
    reports.on_rtcp(build_sr(7, 1_000_000.5, 0, 0, 0), now_ns=1_000 * MS)
    first = reports.packets([counting_py.StreamReport(7, 90, 100, 65636, 12)], now_ns=1_500 * MS)
    again = reports.packets([counting_py.StreamReport(7, 190, 200, 65736, 3)], now_ns=2_500 * MS)
    quiet = reports.packets([counting_py.StreamReport(8, 5, 5, 5, 0)], now_ns=2_500 * MS)
    parsed = [RtcpPacket.parse(p) for p in first + again + quiet]
    assert all(isinstance(p, RtcpRrPacket) and p.ssrc == 42 for [p] in parsed)
    one, two, three = (p.reports[0] for [p] in parsed)
    assert (one.ssrc, one.fraction_lost, one.packets_lost, one.highest_sequence) == (
        7,
        25,
        10,
        65636,
    )
    assert (two.fraction_lost, two.packets_lost, two.jitter) == (0, 10, 3)  # none lost since
    ntp_middle = ((1_000_000 + 2_208_988_800) & 0xFFFF) << 16 | 0x8000
    assert (one.lsr, one.dlsr) == (ntp_middle, 32768)  # the SR came 0.5 s before
    assert (two.lsr, two.dlsr) == (ntp_middle, 98304)
    assert (three.lsr, three.dlsr) == (0, 0)  # no SR for this stream


def _sessions(key: bytes) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """(receive, send) SRTP sessions on one key, as both ends of a connection use them."""

    def session(direction: int) -> pylibsrtp.Session:
        profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        return pylibsrtp.Session(
            pylibsrtp.Policy(key=key, ssrc_type=direction, srtp_profile=profile)
        )

    return (
        session(pylibsrtp.Policy.SSRC_ANY_INBOUND),
        session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
    )


def _ignore(data: bytes, arrival_ns: int) -> None:
    pass


def _add(
    poller: Any,
    sink: socket.socket,
    receiver: Any,
    on_rtcp: Any,
    sessions: tuple[pylibsrtp.Session, pylibsrtp.Session],
    peer: tuple[str, int],
) -> int:
    rx, tx = sessions
    token: int = poller.add(
        os.dup(sink.fileno()),  # the poller's own, as ReceivePath gives it
        receiver,
        on_rtcp,
        libsrtp.session_pointer(rx),
        libsrtp.session_pointer(tx),
        peer,
        sessions,
    )
    return token


@pytest.mark.webrtc
def test_the_poller_counts_srtp_decrypts_srtcp_and_hands_back_the_rest() -> None:
    """Batched reads on a real socket: SRTP is unprotected and counted in C at the time the
    kernel received it, SRTCP goes decrypted to the connection's handler (one that fails
    authentication, or that the handler cannot read, is malformed), and what is neither (here a
    STUN-like datagram) comes back with its source address."""
    key = bytes(range(30))
    rx, tx = _sessions(key)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source,
    ):
        sink.bind(("127.0.0.1", 0))
        source.bind(("127.0.0.1", 0))
        poller = counting.Poller(libsrtp.functions())
        r = counting.Receiver(counting.DelayHistogram())
        r.add_kinds({VIDEO: "video"})
        reports: list[bytes] = []
        arrivals: list[int] = []

        def on_rtcp(data: bytes, arrival_ns: int) -> None:
            if data == unreadable:
                raise ValueError("not a report")
            reports.append(data)
            arrivals.append(arrival_ns)

        token = _add(poller, sink, r, on_rtcp, (rx, tx), source.getsockname())
        r.start_window()
        sent = time.monotonic_ns()
        for seq in range(100):
            source.sendto(
                tx.protect(build_rtp(VIDEO, seq, 0, 5, True, b"", stamp(b"v", sent))),
                sink.getsockname(),
            )
        source.sendto(b"\x00\x01" + bytes(18), sink.getsockname())
        sr, unreadable = build_sr(5, time.time(), 0, 100, 100), build_sr(6, time.time(), 0, 1, 1)
        for rtcp in (sr, unreadable):
            source.sendto(tx.protect_rtcp(rtcp), sink.getsockname())
        forged = bytearray(tx.protect_rtcp(build_sr(5, time.time(), 0, 101, 101)))
        forged[-1] ^= 1  # fails authentication
        source.sendto(bytes(forged), sink.getsockname())
        queued = time.monotonic_ns()
        time.sleep(0.05)  # read late: the kernel's receive times count, not the reading's
        slow = poller.drain()
        assert slow == [(token, b"\x00\x01" + bytes(18), source.getsockname())]
        assert reports == [sr]
        # when the kernel got it (its DLSR runs from then), not when it was read, 50 ms later
        assert sent < arrivals[0] < queued + 0.025 * 1e9
        [stream] = r.window()
        assert (stream.packets, stream.expected, stream.frames) == (100, 100, 100)
        assert sum(r.delays.nonzero().values()) == 100 and r.malformed == 2
        assert max(r.delays.nonzero()) < 0.05 * 1e9 / counting_py.DELAY_BIN_NS
        assert poller.datagrams == 104 and poller.reads <= 5  # read in batches
        poller.remove(token)
        source.sendto(b"\x00\x01", sink.getsockname())
        time.sleep(0.01)
        assert poller.drain() == []
        poller.close()


@pytest.mark.webrtc
def test_a_connections_own_rtcp_leaves_protected_for_its_peer() -> None:
    """``send_rtcp`` protects each packet with the connection's send session and sends it to
    the SFU's address; nothing goes once the connection is removed."""
    ours, theirs = _sessions(bytes(range(30))), _sessions(bytes(range(30)))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sfu,
    ):
        sink.bind(("127.0.0.1", 0))
        sfu.bind(("127.0.0.1", 0))
        sfu.settimeout(5)
        poller = counting.Poller(libsrtp.functions())
        receiver = counting.Receiver(counting.DelayHistogram())
        token = _add(poller, sink, receiver, _ignore, ours, sfu.getsockname())
        packets = [build_sr(7, time.time(), 0, n, n) for n in (1, 2)]
        assert poller.send_rtcp(token, packets) == 2
        for packet in packets:
            data, source = sfu.recvfrom(2048)
            assert source == sink.getsockname()
            assert data != packet and theirs[0].unprotect_rtcp(data) == packet
        assert poller.send_rtcp(token, [bytes(4000)]) == 0  # no room to protect it
        assert poller.send_failures == 1
        with pytest.raises(TypeError):
            poller.send_rtcp(token, [None])
        poller.remove(token)
        assert poller.send_rtcp(token, packets) == 0
        poller.close()


@pytest.mark.webrtc
def test_one_drain_reads_every_ready_socket_with_room_for_keyframes() -> None:
    """More sockets ready than one ``epoll_wait`` returns are all read in one drain (the loop
    wakes every few ms, not per datagram), and each socket's receive buffer grows beyond the
    default so a few keyframes fit between two reads."""
    count = 70  # more than the 64 events one epoll_wait returns
    sessions = _sessions(bytes(30))
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
        poller = counting.Poller(libsrtp.functions())
        try:
            default = sinks[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            for sink in sinks:
                sink.bind(("127.0.0.1", 0))
                receiver = counting.Receiver(counting.DelayHistogram())
                _add(poller, sink, receiver, _ignore, sessions, ("127.0.0.1", 9))
                source.sendto(b"\x00\x01" + bytes(18), sink.getsockname())
            assert sinks[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > default
            pending = set(sinks)
            while pending:  # every datagram queued before the one drain
                ready, _, _ = select.select(list(pending), [], [], 5.0)
                assert ready, "a datagram never arrived"
                pending -= set(ready)
            assert len(poller.drain()) == count
            assert poller.datagrams == count
        finally:
            poller.close()
            for sink in sinks:
                sink.close()


@pytest.mark.webrtc
def test_a_flooded_socket_is_read_in_bounded_turns() -> None:
    """One drain reads at most 8 batches of 32 from a socket, so the event loop gets its turn
    even while datagrams keep coming; the rest waits for the next drain."""
    sessions = _sessions(bytes(30))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source,
    ):
        sink.bind(("127.0.0.1", 0))
        poller = counting.Poller(libsrtp.functions())
        receiver = counting.Receiver(counting.DelayHistogram())
        _add(poller, sink, receiver, _ignore, sessions, ("127.0.0.1", 9))
        for _ in range(8 * 32 + 10):
            source.sendto(b"\x00\x01" + bytes(18), sink.getsockname())
        assert len(poller.drain()) == 8 * 32
        assert len(poller.drain()) == 10
        poller.close()


@pytest.mark.webrtc
def test_the_poller_reads_its_own_descriptor_and_closes_it_on_remove() -> None:
    """The socket stays read when its first owner (aioice) closes its descriptor, and once the
    connection is removed the port is free again: no descriptor of someone else is touched."""
    sessions = _sessions(bytes(30))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        address = sink.getsockname()
        poller = counting.Poller(libsrtp.functions())
        receiver = counting.Receiver(counting.DelayHistogram())
        token = _add(poller, sink, receiver, _ignore, sessions, ("127.0.0.1", 9))
        sink.close()
        source.sendto(b"\x00\x01" + bytes(18), address)
        assert select.select([poller.fileno()], [], [], 5.0)[0]
        assert [data for _, data, _ in poller.drain()] == [b"\x00\x01" + bytes(18)]
        poller.remove(token)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(address)  # fails while any descriptor of the old socket is open
        poller.close()
