"""A received packet to every subscription of its track: the spec of cython_ext/fanout.pyx.

Equivalent to calling ``DownTrack.write`` on each subscription, with the common outcomes done
in the loop and counted for the caller (who adds them to the node's counters once per packet):
forwarded (kept in the history, sent, counted on the subscription), a packet of a layer the
subscription is not getting, or paused. Everything else (a keyframe to switch at, one awaited,
a packet from before the start) is returned with the forwarder's verdict, for
``DownTrack.handle``: nothing is decided twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sfu.media.counters import DropReason
from sfu.media.forwarder_py import Forwarder
from sfu.media.packet_py import RtpPacket

# the drops counted here in bulk, as plain ints (an enum attribute per packet costs)
_OTHER_LAYER = DropReason.LAYER_NOT_SELECTED.code
_PAUSED = DropReason.PAUSED.code


class Subscription(Protocol):
    """What the loop uses of a ``DownTrack``."""

    @property
    def forwarder(self) -> Forwarder: ...


S = TypeVar("S", bound=Subscription)

# (sent, their bytes, other-layer drops, paused drops, subscriptions left with their verdict)
Outcome = tuple[int, int, int, int, list[tuple[S, int]] | None]


def fan_out(downtracks: Sequence[S], packet: RtpPacket, now_ms: int) -> Outcome[S]:
    sent = octets = other = paused = 0
    slow: list[tuple[S, int]] | None = None
    for downtrack in downtracks:
        forwarder = downtrack.forwarder
        out = forwarder.forward(packet, now_ms)
        if isinstance(out, bytes):
            if forwarder.send(out):
                sent += 1
                octets += len(out)
        elif out == _OTHER_LAYER and not forwarder.waiting:
            other += 1
        elif out == _PAUSED:
            paused += 1
        else:
            slow = [*(slow or ()), (downtrack, out)]
    return sent, octets, other, paused, slow
