"""CPU per forwarded packet of the node's packet path without signaling:
`python -m tests.bench.datapath`.

One publisher's SRTP (1200-byte payloads, AES-128-GCM) comes into a ``Datapath`` and goes to
N subscribers with their own SRTP sessions, four ways:
- "datapath alone", the floor under the SFU: a handler that copies each packet to every
  subscriber (no parsing, no forwarding decisions, no history);
- "packet path": the node's own ingest (``PublisherIngress``: parse, route, statistics, store)
  and one ``DownTrack`` per subscriber (decide, renumber, rewrite, history), as in a webinar;
- "packet path, H.264": the same with an H.264 publisher (FU-A fragments; a keyframe is a STAP-A
  with SPS and PPS, then the IDR);
- "packet path, ICE-TCP": the VP8 packet path with every subscriber on an ICE-TCP connection
  (RFC 4571 frames through ``tcpport``) instead of the UDP socket.
A second process sends at a fixed rate and drains the N subscriber sockets; the server's CPU
(user + system, from getrusage) is read over the window. Run inside `unshare -n` like every
WebRTC figure; not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import select
import socket
import struct
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import pylibsrtp

from cython_ext.twins import load
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.ingress import PublisherIngress
from sfu.webrtc import libsrtp
from sfu.webrtc.tcpport import TcpLink, TcpPort
from tests.support.packets import MID_ID, fu_a, h264_packet, stap_a, vp8_packet
from tests.support.sinks import PeerSink
from tests.support.tracks import subscribe

FANOUT = 20
RATES = (400, 2000, 10000)  # publisher packets/s; a 1→20 webinar's video is ~400
MODES = ("datapath alone", "packet path", "packet path, H.264", "packet path, ICE-TCP")
WINDOW_S = 5.0
WARMUP_S = 1.0
BODY = b"\x90" * 1180  # with the headers and VP8 descriptor, 1,200-byte payloads
KEYFRAME_EVERY = 3000  # packets
GCM = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
SPS = bytes.fromhex("6742c01fd9005005bb011000003e90000ea600f1832a")  # 1280x720
PPS = bytes.fromhex("68ce3c80")


def _session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy
    kind = policy.SSRC_ANY_OUTBOUND if outbound else policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(policy(key=key, ssrc_type=kind, srtp_profile=GCM))


class Echo:
    """Each packet to every subscriber, with its own SSRC and SRTP session."""

    def __init__(self, peers: list) -> None:  # type: ignore[type-arg]
        self.peers = peers

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        for i, peer in enumerate(self.peers):
            peer.send_rtp(data[:8] + struct.pack("!I", 0x1000 + i) + data[12:])

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        pass


def _handler(mode: str, peers: list[Any]) -> tuple[Any, MediaCounters | None]:
    """The handler of the publisher's peer for ``mode``, sending to ``peers``, and the counters
    of the packet path (None: the datapath counts what it sends)."""
    if mode == "datapath alone":
        return Echo(peers), None
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1)
    h264 = mode.endswith("H.264")
    receiver = ingress.add_track(
        "T",
        MediaLine(
            "0",
            "video",
            102 if h264 else 96,
            "video/h264" if h264 else "video/vp8",
            90000,
            ExtensionIds(mid=MID_ID),
            (),
            0,
            profile="42e01f" if h264 else "",
        ),
    )
    for i, peer in enumerate(peers):
        subscribe(receiver, PeerSink(peer), counters, ssrc=0x1000 + i)
    return ingress, counters


class _Accepted:
    """The bench's ICE-TCP port: connections are taken as they come (no checks to answer)."""

    def __init__(self, sock: socket.socket) -> None:
        self.port = TcpPort(
            sock,
            receive=lambda frames, link: None,
            authenticated=lambda link: True,
            on_lost=lambda link: None,
            clock=time.monotonic,
        )

    async def links(self, count: int) -> list[TcpLink]:
        for _ in range(500):  # bounded: 5 s
            if len(self.port.links) >= count:
                return list(self.port.links)
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{len(self.port.links)} of {count} subscribers connected over TCP")


def _server(keys: list[bytes], ready: Connection, result: Connection) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.bind(("127.0.0.1", 0))
        listening.setblocking(False)
        tcp = _Accepted(listening)
        datapath = load("datapath", "cython").Datapath(
            sock,
            slow_path=lambda data, source: None,
            clock_ms=monotonic_ms,
            libsrtp=libsrtp.functions(),
            pointer_of=libsrtp.session_pointer,
        )
        await tcp.port.start()
        ready.send((sock.getsockname(), listening.getsockname()))
        addresses = ready.recv()
        links = await tcp.links(FANOUT)
        asyncio.get_running_loop().add_reader(sock.fileno(), datapath.on_readable)
        for mode in MODES:
            destinations = links if mode.endswith("ICE-TCP") else addresses[1:]
            subscribers = []
            for key, destination in zip(keys[1:], destinations, strict=True):
                peer = datapath.peer(Echo([]), lambda why: None)
                peer.set_keys(_session(key, False), _session(key, True))
                peer.set_destination(destination)
                subscribers.append(peer)
            handler, counters = _handler(mode, subscribers)
            publisher = datapath.peer(handler, lambda why: None)
            publisher.set_keys(_session(keys[0], False), _session(keys[0], True))
            datapath.bind(addresses[0], publisher)

            def sent() -> int:
                return datapath.sent if counters is None else counters.packets_out  # noqa: B023

            for _ in RATES:
                await asyncio.to_thread(ready.recv)  # the window starts
                start, before = resource.getrusage(resource.RUSAGE_SELF), sent()
                await asyncio.to_thread(ready.recv)  # and ends
                end = resource.getrusage(resource.RUSAGE_SELF)
                cpu = end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime
                result.send((cpu, sent() - before))
            publisher.close()
            for peer in subscribers:
                peer.close()

    asyncio.run(main())


def _vp8_frame(seq: int) -> list[bytes]:
    """The 10 packets of the frame after ``seq`` (a keyframe every KEYFRAME_EVERY packets)."""
    return [
        vp8_packet(
            seq=n,
            ts=n // 10 * 3000,
            ssrc=0x42,
            picture_id=n // 10,
            tl0picidx=n // 10,
            keyframe=n % KEYFRAME_EVERY == 1,
            start=n % 10 == 1,
            marker=n % 10 == 0,
            body=BODY,
        )
        for n in range(seq + 1, seq + 11)
    ]


def _h264_frame(seq: int) -> list[bytes]:
    """A frame of 10 FU-A packets after ``seq``; a keyframe's first is a STAP-A (SPS, PPS)
    and the IDR's fragments follow it."""
    keyframe = seq % KEYFRAME_EVERY == 0
    unit = bytes([0x65 if keyframe else 0x41]) + BODY * (9 if keyframe else 10)
    payloads = ([stap_a(SPS, PPS)] if keyframe else []) + fu_a(unit, len(BODY))
    return [
        h264_packet(seq=seq + 1 + i, ts=seq // 10 * 3000, ssrc=0x42, payload=p, marker=i == 9)
        for i, p in enumerate(payloads)
    ]


def _send_for(
    seconds: float,
    rate: int,
    tx: pylibsrtp.Session,
    seq: int,
    pub: socket.socket,
    server: tuple[str, int],
    sinks: list[socket.socket],
    frame: Any,
) -> int:
    """Send at ``rate`` in bursts of 10 (a frame's packets) and drain the subscribers."""
    interval = 10 / rate
    deadline = time.monotonic() + seconds
    next_burst = time.monotonic()
    while time.monotonic() < deadline:  # bounded by the deadline
        if time.monotonic() >= next_burst:
            for packet in frame(seq):
                pub.sendto(tx.protect(packet), server)
            seq += 10
            next_burst += interval
        wait = max(0.0, min(0.002, next_burst - time.monotonic()))
        readable, _, _ = select.select(sinks, [], [], wait)
        for sink in readable:
            while True:
                try:
                    if not sink.recv(65536):
                        break  # closed
                except BlockingIOError:
                    break
    return seq


def main() -> None:
    keys = [os.urandom(16 + 12) for _ in range(FANOUT + 1)]
    ready_here, ready_there = multiprocessing.Pipe()
    result_here, result_there = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_server, args=(keys, ready_there, result_there))
    server.start()
    server_address, tcp_address = ready_here.recv()
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    sinks, tcp_sinks = [], []
    for i in range(FANOUT):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sinks.append(sink)
        # one source host each, in order, as the node's per-host limit expects of real clients
        tcp_sink = socket.create_connection(tcp_address, source_address=(f"127.0.1.{i + 1}", 0))
        tcp_sink.setblocking(False)
        tcp_sinks.append(tcp_sink)
    ready_here.send([pub.getsockname()] + [s.getsockname() for s in sinks])
    print(f"fan-out {FANOUT}, AES-128-GCM, 1,200-byte payloads")
    for mode in MODES:
        tx = _session(keys[0], True)  # a new publisher: a new SRTP stream
        seq = 0
        frame = _h264_frame if mode.endswith("H.264") else _vp8_frame
        drained = tcp_sinks if mode.endswith("ICE-TCP") else sinks
        print(f"  {mode}")
        for rate in RATES:
            seq = _send_for(WARMUP_S, rate, tx, seq, pub, server_address, drained, frame)
            ready_here.send("start")
            seq = _send_for(WINDOW_S, rate, tx, seq, pub, server_address, drained, frame)
            ready_here.send("stop")
            cpu, sent = result_here.recv()
            print(
                f"    {rate:>6} in pkt/s -> {sent / WINDOW_S:>8,.0f} out pkt/s: "
                f"{cpu * 1e6 / max(sent, 1):5.2f} µs CPU per forwarded packet "
                f"({100 * cpu / WINDOW_S:.0f} % of a core)"
            )
    server.join(timeout=10)
    if server.is_alive():
        server.kill()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
