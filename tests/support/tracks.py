"""Published tracks and subscriptions as the node builds them, for packet-path tests and benches."""

from __future__ import annotations

from typing import Any

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.kernels import Forwarder, Layer
from sfu.media.receiver import TrackReceiver
from sfu.media.transport import MediaSink


def published(
    line: MediaLine, counters: MediaCounters, *, layer_class: type[Layer] = Layer
) -> TrackReceiver:
    """A track published with ``line``, its layers not yet bound to SSRCs."""
    return TrackReceiver(
        "T",
        line,
        send_rtcp=lambda _: True,
        local_ssrc=1,
        counters=counters,
        layer_class=layer_class,
    )


def subscribe(
    receiver: TrackReceiver,
    sink: MediaSink,
    counters: MediaCounters,
    *,
    ssrc: int = 0xABC,
    forwarder_class: type[Forwarder] | Any = Forwarder,
    initial_layer: int = 0,
    rtx: bool = False,
) -> DownTrack[TrackReceiver]:
    """A subscription to ``receiver``'s video (VP8 on payload type 97, mid extension 1, NACK;
    with ``rtx``, resends on payload type 98 and SSRC ``ssrc + 1``)."""
    line = MediaLine(
        "1", "video", 97, "video/vp8", 90000, ExtensionIds(mid=1), (), ssrc, nack=True,
        rtx_payload_type=98 if rtx else 0, rtx_ssrc=ssrc + 1 if rtx else 0,
    )  # fmt: skip
    downtrack = DownTrack(
        receiver,
        sink,
        line,
        initial_layer=initial_layer,
        counters=counters,
        on_layer=lambda _: None,
        forwarder_class=forwarder_class,
    )
    receiver.downtracks.append(downtrack)
    return downtrack
