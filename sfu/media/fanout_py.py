"""A received packet to every subscription of its track: the spec of cython_ext/fanout.pyx.

Equivalent to calling ``DownTrack.write`` on each subscription, with the common outcomes done
in the loop and counted for the caller (who adds them to the node's counters once per packet):
forwarded (kept for NACKs, sent, counted on the subscription), a packet of a layer the
subscription is not getting, or paused. Everything else (a keyframe to switch at, one awaited,
a packet from before the start, a forwarder of another implementation) is returned for
``DownTrack.write``, which redoes that decision without side effects and handles it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sfu.media.counters import DropReason
from sfu.media.forwarder_py import Forwarder
from sfu.media.history_py import PacketHistory
from sfu.media.packet import RtpPacket

# the drops counted here in bulk, as plain ints (an enum attribute per packet costs)
_OTHER_LAYER = DropReason.LAYER_NOT_SELECTED.code
_PAUSED = DropReason.PAUSED.code


class Subscription(Protocol):
    """What the loop uses of a ``DownTrack``: its methods here, its fields in the compiled
    twin (which inlines ``forward`` and ``send``)."""

    forwarder: Forwarder
    history: PacketHistory
    send_rtp: Callable[[bytes], bool]
    packets_sent: int
    octets_sent: int

    def forward(self, packet: RtpPacket, now_ms: int) -> bytes | int: ...

    def send(self, out: bytes) -> bool: ...


S = TypeVar("S", bound=Subscription)

# (sent, their bytes, other-layer drops, paused drops, subscriptions left to write())
Outcome = tuple[int, int, int, int, list[S] | None]


def fan_out(downtracks: Sequence[S], packet: RtpPacket, now_ms: int) -> Outcome[S]:
    sent = octets = other = paused = 0
    slow: list[S] | None = None
    for downtrack in downtracks:
        out = downtrack.forward(packet, now_ms)
        if isinstance(out, bytes):
            if downtrack.send(out):
                sent += 1
                octets += len(out)
        elif out == _OTHER_LAYER and not downtrack.forwarder.waiting:
            other += 1
        elif out == _PAUSED:
            paused += 1
        else:
            slow = [*(slow or ()), downtrack]
    return sent, octets, other, paused, slow
