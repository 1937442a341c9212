"""The node port's packet loop, on both implementations, over real loopback UDP sockets.

A "client" socket speaks SRTP with keys the test made; the datapath under test owns a second
socket. A missing compiled module fails the "cy" tests; it is never skipped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import socket
import struct
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pylibsrtp
import pytest

from sfu.media.clock import monotonic_ms
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.webrtc import datapath_py, libsrtp
from sfu.webrtc.datapath_py import Address, segment_runs
from tests.support.kernels import Kernels, kernels
from tests.support.packets import MID_ID, vp8_packet
from tests.support.sinks import PeerSink, Sink
from tests.support.tracks import subscribe

KEY_UP, KEY_DOWN = os.urandom(30), os.urandom(30)
SIOCGIFMTU, SIOCSIFMTU = 0x8921, 0x8922  # <linux/sockios.h>


def _session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy
    ssrc_type = policy.SSRC_ANY_OUTBOUND if outbound else policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(policy=policy(key=key, ssrc_type=ssrc_type))


def _rtp(seq: int, payload: bytes = b"p" * 100, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + payload


def _renumbered(packet: bytes, copy: int) -> bytes:
    """The copy one subscriber gets: its own SSRC (SRTP refuses a repeated sequence number)."""
    return packet[:8] + struct.pack("!I", 0x5000 + copy) + packet[12:]


def _rtcp_rr(ssrc: int = 0x99) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


class Handler:
    def __init__(self) -> None:
        self.rtp: list[tuple[bytes, int]] = []
        self.rtcp: list[tuple[bytes, int]] = []
        self.fail = False
        self.echo: Any = None  # a Peer: every packet goes back three times (sent in-batch)
        self.on_packet: Any = None  # called with no argument for each RTP packet

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        if self.fail:
            raise RuntimeError("handler bug")
        self.rtp.append((data, now_ms))
        if self.on_packet is not None:
            self.on_packet()
        if self.echo is not None:
            for copy in range(3):
                self.echo.send(_renumbered(data, copy), False)

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        self.rtcp.append((data, now_ms))


class Rig:
    def __init__(
        self,
        module: ModuleType,
        family: int = socket.AF_INET,
        *,
        may_read: Any = None,
        clock: bool = True,
        max_segments: int = datapath_py.MAX_SEGMENTS,
        server: type[socket.socket] = socket.socket,
    ) -> None:
        """``clock``: the test's (``now``), else the datapath's default; ``server``: the
        datapath's socket class."""
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        self.server = server(family, socket.SOCK_DGRAM)
        self.server.bind((host, 0))
        self.server.setblocking(False)
        self.client = socket.socket(family, socket.SOCK_DGRAM)
        self.client.bind((host, 0))
        self.client.settimeout(2)
        self.server_addr: Address = self.server.getsockname()[:2]
        self.client_addr: Address = self.client.getsockname()[:2]
        self.slow: list[tuple[bytes, Address]] = []
        self.drops: list[int] = []
        self.now = 1000
        self.module = module
        self.datapath = module.Datapath(
            self.server,
            slow_path=lambda data, source: self.slow.append((data, source)),
            **({"clock_ms": lambda: self.now} if clock else {}),
            may_read=may_read,
            libsrtp=libsrtp.functions(),
            pointer_of=libsrtp.session_pointer,
            max_segments=max_segments,
        )
        self.handler = Handler()
        self.peer = self.datapath.peer(self.handler, self.drops.append)
        self.client_tx, self.client_rx = _session(KEY_UP, True), _session(KEY_DOWN, False)

    def keyed(self) -> Rig:
        self.peer.set_keys(_session(KEY_UP, False), _session(KEY_DOWN, True))
        self.datapath.bind(self.client_addr, self.peer)
        self.peer.set_destination(self.client_addr)
        return self

    def send(self, *datagrams: bytes) -> None:
        for data in datagrams:
            self.client.sendto(data, self.server_addr)

    def send_batch(self, packets: list[bytes]) -> None:
        """The peer's RTP queued as one batch, then sent."""
        self.datapath.hold_sends()
        for packet in packets:
            assert self.peer.send(packet, False)
        self.datapath.release_sends()

    def drain(self, expected: int) -> None:
        """Run the loop until ``expected`` datagrams were read (loopback delivery is fast but
        not instantaneous)."""
        for _ in range(1000):  # bounded
            self.datapath.on_readable()
            if self.datapath.datagrams >= expected:
                return
        raise AssertionError(f"only {self.datapath.datagrams} of {expected} datagrams read")

    def received(self, count: int) -> list[bytes]:
        return [self.client_rx.unprotect(self.client.recv(4096)) for _ in range(count)]

    def received_raw(self, count: int) -> list[bytes]:
        return [self.client.recv(4096) for _ in range(count)]

    def close(self) -> None:
        self.server.close()
        self.client.close()


@pytest.fixture
def module(kernels: Kernels) -> ModuleType:
    return kernels.datapath


@pytest.fixture
def rig(module: ModuleType) -> Iterator[Rig]:
    made = Rig(module)
    yield made
    made.close()


def test_srtp_from_a_keyed_source_reaches_the_handler_decrypted_with_the_batch_time(
    rig: Rig,
) -> None:
    rig.keyed()
    packets = [_rtp(seq) for seq in range(1, 41)]  # more than one recvmmsg batch
    rig.send(*(rig.client_tx.protect(p) for p in packets), rig.client_tx.protect_rtcp(_rtcp_rr()))
    rig.drain(41)
    assert [data for data, _ in rig.handler.rtp] == packets
    assert [data for data, _ in rig.handler.rtcp] == [_rtcp_rr()]
    assert {now for _, now in rig.handler.rtp + rig.handler.rtcp} == {1000}
    assert rig.slow == [] and rig.drops == []
    assert rig.datapath.last_received_ms(rig.client_addr) == 1000


def test_everything_else_goes_to_the_slow_path_with_its_source(rig: Rig) -> None:
    stun, dtls = b"\x00\x01" + b"s" * 30, b"\x16\xfe\xfd" + b"d" * 30
    early_srtp = rig.client_tx.protect(_rtp(1))
    rig.send(stun, dtls, early_srtp)  # nothing bound, no keys yet
    rig.drain(3)
    assert rig.slow == [(data, rig.client_addr) for data in (stun, dtls, early_srtp)]
    rig.datapath.bind(rig.client_addr, rig.peer)  # bound but not keyed: still the slow path
    rig.send(early_srtp)
    rig.drain(4)
    assert rig.slow[-1] == (early_srtp, rig.client_addr) and rig.handler.rtp == []


def test_an_oversized_datagram_reaches_the_slow_path_truncated(rig: Rig) -> None:
    rig.send(b"\x80" + b"x" * 5000)
    rig.drain(1)
    assert len(rig.slow) == 1 and len(rig.slow[0][0]) == 2048


def test_bad_srtp_and_a_failing_handler_are_reported_and_the_batch_goes_on(rig: Rig) -> None:
    rig.keyed()
    good = [rig.client_tx.protect(_rtp(seq)) for seq in (1, 2, 3)]
    forged = bytearray(rig.client_tx.protect(_rtp(9)))
    forged[-1] ^= 0xFF
    rig.send(good[0], bytes(forged), good[1])
    rig.drain(3)
    assert rig.drops == [DropReason.SRTP_UNPROTECT.code]
    rig.handler.fail = True
    rig.send(good[2])
    rig.drain(4)
    assert rig.drops == [DropReason.SRTP_UNPROTECT.code, DropReason.INTERNAL_ERROR.code]
    assert [data for data, _ in rig.handler.rtp] == [_rtp(1), _rtp(2)]


def test_sends_during_a_batch_leave_together_protected_for_the_destination(rig: Rig) -> None:
    rig.keyed()
    rig.handler.echo = rig.peer  # each packet fans out three times, like three subscribers
    rig.send(*(rig.client_tx.protect(_rtp(seq)) for seq in range(1, 11)))
    rig.drain(10)
    expected = [_renumbered(_rtp(seq), copy) for seq in range(1, 11) for copy in range(3)]
    assert rig.received(30) == expected
    assert rig.datapath.sent == 30 and rig.datapath.send_failed == 0
    assert rig.datapath.coalesced == 30  # equal sizes, one destination: one segmented send


def test_a_run_is_cut_at_a_larger_datagram_after_a_shorter_one_and_at_the_bounds() -> None:
    assert segment_runs([]) == []
    assert segment_runs([1200] * 5) == [5]
    assert segment_runs([1200, 1200, 1199, 1199, 1199]) == [3, 2]
    assert segment_runs([1000, 1200, 1200]) == [1, 2]
    assert segment_runs([100] * 70) == [64, 6]
    assert segment_runs([1400] * 50) == [46, 4]  # 65,000 bytes at most
    assert segment_runs([1200] * 3, max_segments=1) == [1, 1, 1]


@contextlib.contextmanager
def _loopback_mtu(mtu: int) -> Iterator[None]:
    """The loopback device's MTU set to ``mtu`` (the tests' own network namespace), restored."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack("16si", b"lo", 0)
        before = struct.unpack("16si", fcntl.ioctl(control, SIOCGIFMTU, request))[1]
        fcntl.ioctl(control, SIOCSIFMTU, struct.pack("16si", b"lo", mtu))
        try:
            yield
        finally:
            fcntl.ioctl(control, SIOCSIFMTU, struct.pack("16si", b"lo", before))


def test_a_run_the_kernel_refuses_is_sent_datagram_by_datagram(module: ModuleType) -> None:
    """Datagrams larger than the path's MTU cannot be segmented (EINVAL): they go one by one,
    fragmented as before, and segmentation stays on for the runs that fit."""
    rig = Rig(module).keyed()
    try:
        large = [_rtp(seq, payload=b"x" * 1300) for seq in range(3)]
        with _loopback_mtu(1280):
            rig.send_batch(large)
            assert rig.received(3) == large
        assert rig.datapath.sent == 3 and rig.datapath.coalesced == 0
        small = [_rtp(seq) for seq in range(3, 6)]
        rig.send_batch(small)
        assert rig.received(3) == small
        assert rig.datapath.coalesced == 3 and rig.datapath.send_failed == 0
    finally:
        rig.close()


def test_runs_are_cut_at_the_kernels_most_segments_and_bytes(module: ModuleType) -> None:
    rig = Rig(module).keyed()
    try:
        # 65 of 128 bytes: 64 and 1; 60 of 1,100 bytes: 59 (64,900 bytes) and 1
        for first, count, payload, runs in ((0, 65, 100, [64, 1]), (100, 60, 1072, [59, 1])):
            packets = [_rtp(seq, payload=b"x" * payload) for seq in range(first, first + count)]
            before = rig.datapath.coalesced
            rig.send_batch(packets)
            assert rig.received(count) == packets
            assert rig.datapath.coalesced - before == sum(n for n in runs if n > 1)
    finally:
        rig.close()


def test_a_destination_changed_within_a_batch_cuts_the_run(module: ModuleType) -> None:
    rig = Rig(module).keyed()
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2)
    try:
        packets = [_rtp(seq) for seq in range(6)]
        rig.datapath.hold_sends()
        for packet in packets[:3]:
            assert rig.peer.send(packet, False)
        rig.peer.set_destination(other.getsockname())
        for packet in packets[3:]:
            assert rig.peer.send(packet, False)
        rig.datapath.release_sends()
        assert rig.received(3) == packets[:3]
        assert [rig.client_rx.unprotect(other.recv(4096)) for _ in range(3)] == packets[3:]
        assert rig.datapath.sent == 6 and rig.datapath.coalesced == 6  # two runs of three
    finally:
        other.close()
        rig.close()


class _NoSegmentingDevice(socket.socket):
    """A UDP socket whose segmented sends the device refuses, as one without checksum
    offload does (EIO); everything else is the real socket's."""

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        if ancdata:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().sendmsg(buffers, ancdata, flags, address)


def test_a_device_that_cannot_segment_turns_segmentation_off() -> None:
    """The twin only: a system call's failure cannot be injected under the compiled loop."""
    rig = Rig(datapath_py, server=_NoSegmentingDevice).keyed()
    try:
        for first in (0, 4):  # refused once, then never tried again
            packets = [_rtp(seq) for seq in range(first, first + 4)]
            rig.send_batch(packets)
            assert rig.received(4) == packets
            assert rig.datapath.max_segments == 1 and rig.datapath.coalesced == 0
        assert rig.datapath.sent == 8 and rig.datapath.send_failed == 0
    finally:
        rig.close()


class _Subscriber:
    """A second peer of the rig's datapath, with its own socket and keys."""

    def __init__(self, rig: Rig) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.rx = _session(KEY_DOWN, False)
        self.peer = rig.datapath.peer(Handler(), rig.drops.append)
        self.peer.set_keys(_session(KEY_UP, False), _session(KEY_DOWN, True))
        self.peer.set_destination(self.sock.getsockname())

    def received(self, count: int) -> list[bytes]:
        return [self.rx.unprotect(self.sock.recv(4096)) for _ in range(count)]


@pytest.mark.parametrize("max_segments", [datapath_py.MAX_SEGMENTS, 1])
def test_each_peers_sends_leave_in_runs_and_arrive_one_datagram_each_in_order(
    module: ModuleType, max_segments: int
) -> None:
    """Two peers' packets queued interleaved, as a fan-out queues them: each gets its own
    datagrams, in order, one per packet; runs as segment_runs cuts them (none at 1 segment)."""
    rig = Rig(module, max_segments=max_segments).keyed()
    other = _Subscriber(rig)
    try:
        mine = [_rtp(seq, payload=b"a" * n) for seq, n in enumerate((100, 100, 100, 60, 100, 100))]
        theirs = [_rtp(seq, payload=b"b" * n) for seq, n in enumerate((200, 300, 300))]
        rig.datapath.hold_sends()
        for n in range(len(mine)):
            assert rig.peer.send(mine[n], False)
            if n < len(theirs):
                assert other.peer.send(theirs[n], False)
        rig.datapath.release_sends()
        assert rig.received(len(mine)) == mine
        assert other.received(len(theirs)) == theirs
        assert rig.datapath.sent == 9 and rig.datapath.send_failed == 0
        # mine in runs of 4 (three 100s and the shorter 60) and 2; theirs 1 (200) and 2
        assert rig.datapath.coalesced == (0 if max_segments == 1 else 4 + 2 + 2)
        assert rig.drops == []
    finally:
        other.sock.close()
        rig.close()


def test_a_send_outside_a_batch_leaves_at_once(rig: Rig) -> None:
    rig.keyed()
    assert rig.peer.send(_rtcp_rr(), True)
    assert rig.client_rx.unprotect_rtcp(rig.client.recv(4096)) == _rtcp_rr()


def test_held_sends_wait_for_their_release_and_leave_together(rig: Rig, kernels: Kernels) -> None:
    """A tick turn's reports: queued while held (nothing reaches the socket), stamped with the
    hold's time, then sent at the release; after it a send leaves at once again."""
    rig.keyed()
    log = kernels.sendlog.SendLog(5)
    rig.peer.set_send_log(log)
    slot = b"\xbe\xde\x00\x01\x51\x00\x00\x00"
    rig.datapath.hold_sends()
    rig.now += 5
    assert rig.peer.send(_rtcp_rr(), True)
    assert rig.peer.send(bytes([0x90]) + _rtp(1, payload=slot + b"x" * 20)[1:], False)
    rig.client.setblocking(False)
    with pytest.raises(BlockingIOError):
        rig.client.recv(4096)
    rig.datapath.release_sends()
    rig.client.settimeout(2)
    assert rig.client_rx.unprotect_rtcp(rig.client.recv(4096)) == _rtcp_rr()
    assert rig.client_rx.unprotect(rig.client.recv(4096))[:1] == b"\x90"
    assert log.sent(0)[1] == 1000  # the hold's time
    assert rig.peer.send(_rtcp_rr(), True)
    assert rig.client_rx.unprotect_rtcp(rig.client.recv(4096)) == _rtcp_rr()
    assert rig.datapath.sent == 3


def test_nothing_is_sent_without_keys_or_destination_or_after_close(rig: Rig) -> None:
    assert not rig.peer.send(_rtp(1), False)
    rig.keyed()
    assert not rig.peer.send(_rtp(1, payload=b"x" * 1950), False)  # no room for the tag
    rig.peer.close()
    assert not rig.peer.send(_rtp(1), False)
    rig.send(rig.client_tx.protect(_rtp(1)))
    rig.drain(1)
    assert rig.handler.rtp == [] and len(rig.slow) == 1  # closed: no longer media of a peer
    assert rig.datapath.sent == 0


def test_unbind_and_a_new_destination_follow_the_peer(rig: Rig, module: ModuleType) -> None:
    rig.keyed()
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2)
    try:
        moved: Address = other.getsockname()
        rig.datapath.bind(moved, rig.peer)
        rig.datapath.unbind(rig.client_addr)
        rig.peer.set_destination(moved)
        stale = rig.client_tx.protect(_rtp(1))
        rig.send(stale)
        other.sendto(rig.client_tx.protect(_rtp(2)), rig.server_addr)
        rig.drain(2)
        assert [data for data, _ in rig.handler.rtp] == [_rtp(2)]
        assert rig.slow == [(stale, rig.client_addr)]
        assert rig.peer.send(_rtp(3), False)
        assert rig.client_rx.unprotect(other.recv(4096)) == _rtp(3)
    finally:
        other.close()


def test_ipv6_sources_and_destinations(module: ModuleType) -> None:
    try:
        rig = Rig(module, socket.AF_INET6)
    except OSError as exc:  # no ::1 in this network namespace: a failure, not a skip
        raise AssertionError(f"IPv6 loopback unavailable: {exc}") from exc
    try:
        rig.keyed()
        rig.handler.echo = rig.peer
        rig.send(rig.client_tx.protect(_rtp(1)), b"\x00\x01stun")
        rig.drain(2)
        assert [data for data, _ in rig.handler.rtp] == [_rtp(1)]
        assert rig.slow == [(b"\x00\x01stun", rig.client_addr)]
        assert rig.received(3) == [_renumbered(_rtp(1), copy) for copy in range(3)]
    finally:
        rig.close()


def test_address_keys_agree_with_the_sockets_view(module: ModuleType) -> None:
    assert module.address_key(("127.0.0.1", 0x1234)) == b"\x12\x34\x7f\x00\x00\x01"
    assert module.address_key(("::1", 80)) == b"\x00\x50" + b"\x00" * 15 + b"\x01"


def test_a_failing_slow_path_is_counted_and_the_batch_goes_on(module: ModuleType) -> None:
    rig = Rig(module)
    try:
        seen: list[bytes] = []

        def slow_path(data: bytes, source: Address) -> None:
            seen.append(data)
            if data == b"\x00bug":
                raise RuntimeError("slow path bug")

        rig.datapath = module.Datapath(
            rig.server,
            slow_path=slow_path,
            clock_ms=lambda: 0,
            libsrtp=libsrtp.functions(),
            pointer_of=libsrtp.session_pointer,
        )
        rig.send(b"\x00bug", b"\x00next")
        rig.drain(2)
        assert seen == [b"\x00bug", b"\x00next"]
        assert rig.datapath.slow_path_errors == 1
    finally:
        rig.close()


def _publishing() -> tuple[Rig, MediaCounters, TrackReceiver]:
    """The compiled datapath whose keyed client publishes a VP8 track: its receiver, to
    subscribe to, and the counters."""
    rig = Rig(kernels("cython").datapath)
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1)
    rig.peer = rig.datapath.peer(ingress, rig.drops.append)
    rig.keyed()
    line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID), (), 0xABC)
    return rig, counters, ingress.add_track("T", line)


def test_forwarding_runs_no_python_per_packet() -> None:
    """The compiled datapath hands a publisher's packets to the compiled ingest, which fans them
    out to the subscribers' peers: once the subscriptions started, not one Python function runs
    for a batch of packets forwarded to three subscribers."""
    rig, counters, receiver = _publishing()
    for i in range(3):
        peer = rig.datapath.peer(Handler(), rig.drops.append)
        peer.set_keys(_session(KEY_UP, False), _session(os.urandom(30), True))
        peer.set_destination(rig.client_addr)
        subscribe(receiver, PeerSink(peer), counters, ssrc=0x50 + i)

    def publish(seq: int) -> bytes:
        return rig.client_tx.protect(
            vp8_packet(
                seq=seq,
                ts=3000 * seq,
                ssrc=0x1234,
                picture_id=seq,
                tl0picidx=seq,
                keyframe=seq == 0,
                start=True,
                marker=True,
                body=b"v" * 300,
            )
        )

    rig.send(publish(0))  # learnt and started in Python: a new SSRC, the keyframe's switches
    rig.drain(1)
    assert counters.packets_out == 3
    python_calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        # (this file's harness is Python: the drain loop, the rig's clock once per batch)
        if event == "call" and frame.f_code.co_filename != __file__:
            python_calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    rig.send(*(publish(seq) for seq in range(1, 21)))
    sys.setprofile(profile)
    try:
        rig.drain(21)
    finally:
        sys.setprofile(None)
    assert python_calls == []
    assert counters.packets_in == 21 and counters.packets_out == 3 * 21
    assert len(rig.received_raw(3 * 21)) == 3 * 21  # (a socket's buffer holds about 100)
    rig.close()


def test_a_packet_fanned_out_to_a_peer_is_written_as_the_bytes_path_writes_it() -> None:
    """The compiled fan-out rewrites a forwarded packet straight into the peer's send slot (no
    bytes object); the subscriber decrypts, byte for byte, what the same subscription gives a
    Python sink through rewrite(): the keyframe, the packets after it, a VP8 descriptor's
    renumbered picture id, the mid extension."""
    rig, counters, receiver = _publishing()
    peer = rig.datapath.peer(Handler(), rig.drops.append)
    peer.set_keys(_session(KEY_UP, False), _session(KEY_DOWN, True))
    peer.set_destination(rig.client_addr)
    recorded = Sink(record=True)
    for sink in (PeerSink(peer), recorded):
        random.seed(7)  # the same first seq and timestamp for both subscriptions
        subscribe(receiver, sink, counters, ssrc=0x50)
    bodies = [300, 1_100, 1, 700]
    for seq, size in enumerate(bodies):
        packet = vp8_packet(
            seq=seq, ts=3000 * seq, ssrc=0x1234, picture_id=200 + seq, tl0picidx=seq,
            keyframe=seq == 0, start=True, marker=True, body=bytes([seq]) * size,
        )  # fmt: skip
        rig.send(rig.client_tx.protect(packet))
        rig.drain(seq + 1)
    assert len(recorded.rtp) == len(bodies)
    assert rig.received(len(bodies)) == recorded.rtp
    assert counters.packets_out == 2 * len(bodies)
    assert rig.drops == []
    rig.close()


def test_a_read_after_a_pause_asks_may_read_first(module: ModuleType) -> None:
    """The node's stall watch is asked before a read that follows a pause, not on every
    wake-up; a refusal leaves the datagrams in the socket, and the next wake-up asks again."""
    asked: list[int] = []
    answer = [True]
    rig = Rig(module, may_read=lambda: asked.append(rig.now) is None and answer[0]).keyed()
    rig.send(rig.client_tx.protect(_rtp(1)))
    rig.drain(1)  # the first read asks
    rig.now += module.PAUSE_MS - 1
    rig.send(rig.client_tx.protect(_rtp(2)))
    rig.drain(2)  # within the pause: not asked
    rig.now += module.PAUSE_MS
    answer[0] = False
    rig.send(rig.client_tx.protect(_rtp(3)))
    for _ in range(3):
        rig.datapath.on_readable()
    assert rig.datapath.datagrams == 2 and len(rig.handler.rtp) == 2  # refused: unread
    answer[0] = True
    rig.drain(3)
    assert asked == [1000, 1000 + 2 * module.PAUSE_MS - 1, *[asked[2]] * 3]
    assert len(rig.handler.rtp) == 3
    rig.close()


def test_the_default_clock_is_the_packet_path_s(module: ModuleType) -> None:
    rig = Rig(module, clock=False).keyed()
    rig.send(rig.client_tx.protect(_rtp(1)))
    before = monotonic_ms()
    rig.drain(1)
    assert before <= rig.handler.rtp[0][1] <= monotonic_ms()
    rig.close()


def test_a_peer_with_a_send_log_stamps_its_rtp_in_send_order(rig: Rig, kernels: Kernels) -> None:
    """transport-cc counts what leaves, so the datapath stamps as it queues (RTCP is not RTP:
    never stamped)."""
    rig.keyed()
    log = kernels.sendlog.SendLog(5)
    rig.peer.set_send_log(log)
    slot = bytes([0x90, 96]) + bytes(10) + b"\xbe\xde\x00\x01\x51\x00\x00\x00"
    packets = [_renumbered(slot + bytes([i]) * 50, i) for i in range(3)]
    for packet in packets:
        assert rig.peer.send(packet, False)
    assert rig.peer.send(_rtcp_rr(), True)
    got = rig.received(3)
    assert [p[17:19] for p in got] == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]
    assert [p[:17] + p[19:] for p in got] == [p[:17] + p[19:] for p in packets]
    assert rig.client_rx.unprotect_rtcp(rig.client.recv(4096)) == _rtcp_rr()
    assert log.next_seq == 3 and log.sent(2) == (2, rig.now, len(packets[2]), 0, 0)


def test_a_batch_stamps_its_sends_with_its_own_time(rig: Rig, kernels: Kernels) -> None:
    """The clock is read once per batch, not once per packet sent: here it moves on with every
    packet the handler gets, and the batch's six sends still share one time."""
    rig.keyed()
    log = kernels.sendlog.SendLog(5)
    rig.peer.set_send_log(log)
    slot = b"\xbe\xde\x00\x01\x51\x00\x00\x00"  # the transport seq's slot, as we forward
    rig.handler.echo = rig.peer  # three sends per packet received, inside the batch

    def tick() -> None:
        rig.now += 7

    rig.handler.on_packet = tick
    packets = [bytes([0x90]) + _rtp(seq, payload=slot + b"x" * 20)[1:] for seq in (1, 2)]
    rig.send(*(rig.client_tx.protect(p) for p in packets))
    rig.drain(2)
    rig.received(6)
    assert log.next_seq == 6
    assert {log.sent(seq)[1] for seq in range(6)} == {1000}  # the batch's time, not 1007/1014
    assert rig.now == 1014


def test_a_batch_that_fills_the_queue_stamps_what_follows_with_a_later_time(
    rig: Rig, kernels: Kernels
) -> None:
    """A long batch (a big fan-out) sends whenever its queue is full: what is queued after such
    a send leaves after it, and its stamps say so, or the batch's last sends would look
    delayed by the whole batch and the receiver's feedback like a queue growing."""
    rig.keyed()
    log = kernels.sendlog.SendLog(5)
    rig.peer.set_send_log(log)
    slot = b"\xbe\xde\x00\x01\x51\x00\x00\x00"
    rig.handler.echo = rig.peer  # three sends per packet received

    def tick() -> None:
        rig.now += 1

    rig.handler.on_packet = tick
    rig.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # all 200 wait in it
    received = 200  # 600 sends: more than a queue (512) holds
    packets = [bytes([0x90]) + _rtp(seq, payload=slot + b"x" * 20)[1:] for seq in range(received)]
    rig.send(*(rig.client_tx.protect(p) for p in packets))
    rig.drain(received)
    assert rig.datapath.wakeups == 1 and log.next_seq == 3 * received
    stamps = [log.sent(seq)[1] for seq in range(3 * received)]
    assert set(stamps[:512]) == {1000}  # the first queue: the batch's time
    assert set(stamps[512:]) == {1000 + 171}  # after it left: the 171st packet's time


class MemoryStream:
    """An ICE-TCP connection's side the datapath sees (``datapath_py.Stream``), in memory."""

    def __init__(self, *, room: int = 100) -> None:
        self.key = b"tcp:" + os.urandom(8)
        self.remote: Address = ("192.0.2.1", 40000)
        self.frames: list[bytes] = []
        self.room = room  # frames it takes before it reports itself full
        self.closed = False

    def send_frame(self, data: bytes) -> bool:
        if len(self.frames) >= self.room:
            return False
        self.frames.append(data)
        return True

    def close(self) -> None:
        self.closed = True


def test_a_streams_frames_are_one_batch_and_its_peer_sends_on_it(rig: Rig) -> None:
    rig.keyed()  # a UDP peer beside it: untouched by the stream's traffic
    stream, handler, drops = MemoryStream(), Handler(), []
    peer = rig.datapath.peer(handler, drops.append)
    peer.set_keys(_session(KEY_UP, False), _session(KEY_DOWN, True))
    stun = b"\x00\x01" + b"s" * 30
    early = rig.client_tx.protect(_rtp(1))
    rig.datapath.receive([stun, early], stream)  # not bound yet: the slow path, with the stream
    assert rig.slow == [(stun, stream), (early, stream)] and handler.rtp == []
    rig.datapath.bind(stream, peer)
    peer.set_destination(stream)
    handler.echo = peer
    rig.now = 2000
    rig.datapath.receive([rig.client_tx.protect(_rtp(seq)) for seq in (2, 3)], stream)
    assert handler.rtp == [(_rtp(2), 2000), (_rtp(3), 2000)]
    assert [rig.client_rx.unprotect(f) for f in stream.frames] == [
        _renumbered(_rtp(seq), copy) for seq in (2, 3) for copy in range(3)
    ]
    assert rig.datapath.last_received_ms(stream) == 2000
    assert rig.handler.rtp == [] and rig.datapath.sent == 0 and drops == []
    stream.room = len(stream.frames)  # full: a send fails and is reported, nothing is lost else
    assert not peer.send(_rtp(4), False)
    assert drops == [DropReason.SEND_FAILED.code]
    rig.datapath.unbind(stream)
    rig.datapath.receive([rig.client_tx.protect(_rtp(5))], stream)
    assert len(handler.rtp) == 2 and len(rig.slow) == 3
