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
from typing import Protocol

from sfu.media.forwarder_py import DROP_OTHER_LAYER, DROP_PAUSED, Forwarder
from sfu.media.history import PacketHistory
from sfu.media.packet import RtpPacket


class Subscription(Protocol):
    """What the loop reads and updates on a ``DownTrack``."""

    forwarder: Forwarder
    history: PacketHistory
    send_rtp: Callable[[bytes], bool]
    packets_sent: int
    octets_sent: int


# (sent, their bytes, other-layer drops, paused drops, subscriptions left to write())
Outcome = tuple[int, int, int, int, list[Subscription] | None]


def fan_out(downtracks: Sequence[Subscription], packet: RtpPacket, now_ms: int) -> Outcome:
    sent = octets = other = paused = 0
    slow: list[Subscription] | None = None
    for downtrack in downtracks:
        forwarder = downtrack.forwarder
        out = forwarder.forward(
            packet.data,
            packet.payload_offset,
            packet.ext_seq,
            packet.timestamp,
            packet.marker,
            packet.audio_level,
            packet.layer,
            packet.keyframe,
            packet.picture_id,
            packet.tl0picidx,
            now_ms,
        )
        if isinstance(out, bytes):
            downtrack.history.put(out[2] << 8 | out[3], out)  # under the number it carries
            if downtrack.send_rtp(out):
                downtrack.packets_sent += 1
                downtrack.octets_sent += len(out) - 12
                sent += 1
                octets += len(out)
        elif out == DROP_OTHER_LAYER and not forwarder.waiting:
            other += 1
        elif out == DROP_PAUSED:
            paused += 1
        else:
            slow = [*(slow or ()), downtrack]
    return sent, octets, other, paused, slow
