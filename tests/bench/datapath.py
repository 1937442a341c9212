"""CPU per forwarded packet of the node's packet path without signaling:
`python -m tests.bench.datapath`.

One publisher's SRTP (1200-byte VP8 payloads, AES-128-GCM) comes into a ``Datapath`` and goes to
N subscribers with their own SRTP sessions, two ways:
- "datapath alone", the floor under the SFU: a handler that copies each packet to every
  subscriber (no parsing, no forwarding decisions, no history);
- "packet path": the node's own ingest (``PublisherIngress``: parse, route, statistics, store)
  and one ``DownTrack`` per subscriber (decide, renumber, rewrite, history), as in a webinar.
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
from tests.support.packets import MID_ID, vp8_packet
from tests.support.sinks import PeerSink
from tests.support.tracks import subscribe

FANOUT = 20
RATES = (400, 2000, 10000)  # publisher packets/s; a 1→20 webinar's video is ~400
MODES = ("datapath alone", "packet path")
WINDOW_S = 5.0
WARMUP_S = 1.0
BODY = b"\x90" * 1180  # with the headers and VP8 descriptor, 1,200-byte payloads
KEYFRAME_EVERY = 3000  # packets
GCM = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM


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


def _handler(mode: str, peers: list[Any]) -> Any:
    """The handler of the publisher's peer for ``mode``, sending to ``peers``."""
    if mode == "datapath alone":
        return Echo(peers)
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1)
    receiver = ingress.add_track(
        "T", MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID), (), 0)
    )
    for i, peer in enumerate(peers):
        subscribe(receiver, PeerSink(peer), counters, ssrc=0x1000 + i)
    return ingress


def _server(keys: list[bytes], ready: Connection, result: Connection) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        datapath = load("datapath", "cython").Datapath(
            sock,
            slow_path=lambda data, source: None,
            clock_ms=monotonic_ms,
            libsrtp=libsrtp.functions(),
            pointer_of=libsrtp.session_pointer,
        )
        ready.send(sock.getsockname())
        addresses = ready.recv()
        asyncio.get_running_loop().add_reader(sock.fileno(), datapath.on_readable)
        for mode in MODES:
            subscribers = []
            for key, address in zip(keys[1:], addresses[1:], strict=True):
                peer = datapath.peer(Echo([]), lambda why: None)
                peer.set_keys(_session(key, False), _session(key, True))
                peer.set_destination(address)
                subscribers.append(peer)
            publisher = datapath.peer(_handler(mode, subscribers), lambda why: None)
            publisher.set_keys(_session(keys[0], False), _session(keys[0], True))
            datapath.bind(addresses[0], publisher)
            for _ in RATES:
                await asyncio.to_thread(ready.recv)  # the window starts
                start, sent = resource.getrusage(resource.RUSAGE_SELF), datapath.sent
                await asyncio.to_thread(ready.recv)  # and ends
                end = resource.getrusage(resource.RUSAGE_SELF)
                cpu = end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime
                result.send((cpu, datapath.sent - sent))
            publisher.close()
            for peer in subscribers:
                peer.close()

    asyncio.run(main())


def _send_for(
    seconds: float,
    rate: int,
    tx: pylibsrtp.Session,
    seq: int,
    pub: socket.socket,
    server: tuple[str, int],
    sinks: list[socket.socket],
) -> int:
    """Send at ``rate`` in bursts of 10 (a frame's packets) and drain the subscribers."""
    interval = 10 / rate
    deadline = time.monotonic() + seconds
    next_burst = time.monotonic()
    while time.monotonic() < deadline:  # bounded by the deadline
        if time.monotonic() >= next_burst:
            for _ in range(10):
                seq += 1
                packet = vp8_packet(
                    seq=seq,
                    ts=seq * 300,
                    ssrc=0x42,
                    picture_id=seq // 10,
                    tl0picidx=seq // 10,
                    keyframe=seq % KEYFRAME_EVERY == 1,
                    start=seq % 10 == 1,
                    marker=seq % 10 == 0,
                    body=BODY,
                )
                pub.sendto(tx.protect(packet), server)
            next_burst += interval
        wait = max(0.0, min(0.002, next_burst - time.monotonic()))
        readable, _, _ = select.select(sinks, [], [], wait)
        for sink in readable:
            while True:
                try:
                    sink.recv(2048)
                except BlockingIOError:
                    break
    return seq


def main() -> None:
    keys = [os.urandom(16 + 12) for _ in range(FANOUT + 1)]
    ready_here, ready_there = multiprocessing.Pipe()
    result_here, result_there = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_server, args=(keys, ready_there, result_there))
    server.start()
    server_address = ready_here.recv()
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    sinks = []
    for _ in range(FANOUT):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sinks.append(sink)
    ready_here.send([pub.getsockname()] + [s.getsockname() for s in sinks])
    print(f"fan-out {FANOUT}, AES-128-GCM, 1,200-byte VP8 payloads")
    for mode in MODES:
        tx = _session(keys[0], True)  # a new publisher: a new SRTP stream
        seq = 0
        print(f"  {mode}")
        for rate in RATES:
            seq = _send_for(WARMUP_S, rate, tx, seq, pub, server_address, sinks)
            ready_here.send("start")
            seq = _send_for(WINDOW_S, rate, tx, seq, pub, server_address, sinks)
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
