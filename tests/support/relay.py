"""A UDP relay in front of the node's one port, for tests of what the network does to a call.

The node binds 127.0.0.1 and announces another loopback address (``SFU_ICE_HOST_ADDRESSES``);
the relay listens there and forwards each client's datagrams from an outgoing socket of its
own, like a NAT. ``rebind()`` swaps those sockets (new source ports); ``drop`` decides, per
datagram from a client, whether the network loses it, and ``drop_back`` the same for one from
the node; while ``blocked``, nothing passes either way (the path is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable

Address = tuple[str, int]
# (datagram, client address) -> lost on the way to the node?
Drop = Callable[[bytes, Address], bool]


class Relay(asyncio.DatagramProtocol):
    def __init__(
        self, node: Address, drop: Drop | None = None, drop_back: Drop | None = None
    ) -> None:
        self.node = node
        self.drop = drop
        self.drop_back = drop_back
        self.blocked = False
        self.front: asyncio.DatagramTransport | None = None
        self.outgoing: dict[Address, asyncio.DatagramTransport] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.front = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.blocked or (self.drop is not None and self.drop(data, addr)):
            return
        out = self.outgoing.get(addr)
        if out is not None:
            out.sendto(data)
        elif addr not in self._pending:
            self._pending[addr] = [data]
            self._tasks.add(asyncio.ensure_future(self._open(addr)))
        else:
            self._pending[addr].append(data)

    async def _open(self, client: Address) -> None:
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Address) -> None:
                assert relay.front is not None
                if relay.blocked or (relay.drop_back is not None and relay.drop_back(data, client)):
                    return
                relay.front.sendto(data, client)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Back, local_addr=("127.0.0.1", 0), remote_addr=self.node
        )
        self.outgoing[client] = transport
        for data in self._pending.pop(client, []):
            transport.sendto(data)

    async def rebind(self) -> None:
        for client, old in list(self.outgoing.items()):
            del self.outgoing[client]
            await self._open(client)
            old.close()

    def close(self) -> None:
        for transport in self.outgoing.values():
            transport.close()
        if self.front is not None:
            self.front.close()


@contextlib.asynccontextmanager
async def relay(
    front: Address, node: Address, drop: Drop | None = None, drop_back: Drop | None = None
) -> AsyncIterator[Relay]:
    """A relay listening on ``front``, forwarding to ``node``, while the block runs."""
    _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Relay(node, drop, drop_back), local_addr=front
    )
    try:
        yield protocol
    finally:
        protocol.close()


class RtpLoss:
    """A ``Drop`` that loses a seeded ``fraction`` of the RTP packets of one SSRC (the header is
    in the clear under SRTP) and nothing else: not its retransmissions, RTCP, STUN or DTLS.
    ``ssrc`` may be set once the sender has one; before, nothing is lost. ``any_ssrc`` loses
    from every stream instead (audio, video and retransmissions alike)."""

    def __init__(
        self, fraction: float, ssrc: int | None = None, seed: int = 7, any_ssrc: bool = False
    ) -> None:
        self.ssrc = ssrc
        self.any_ssrc = any_ssrc
        self.fraction = fraction
        self._random = random.Random(seed)
        self.seen = 0
        self.dropped = 0

    def __call__(self, data: bytes, addr: Address) -> bool:
        if len(data) < 12 or not 128 <= data[0] < 192 or 72 <= data[1] & 0x7F <= 76:
            return False  # not RTP: STUN, DTLS, RTCP (payload types 200-204 read as 72-76)
        if not self.any_ssrc and int.from_bytes(data[8:12]) != self.ssrc:
            return False
        self.seen += 1
        if self._random.random() < self.fraction:
            self.dropped += 1
            return True
        return False
