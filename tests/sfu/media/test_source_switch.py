"""A down track that takes over an m-line from another (a WHEP player's new source) goes on
with its numbering: the receiver sees one stream, on both kernel implementations."""

from __future__ import annotations

import struct

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import SOURCE_GAP, DownTrack
from sfu.rtp import rtp_py
from tests.support.kernels import Kernels
from tests.support.sinks import Sink
from tests.support.tracks import published

OUT = MediaLine("1", "audio", 109, "audio/opus", 48000, ExtensionIds(mid=1), (), 0xDEF)


def test_numbering_goes_on_from_the_down_track_replaced(kernels: Kernels) -> None:
    counters, sink = MediaCounters(), Sink(record=True)
    downtracks = []
    for ssrc, first_seq in ((0x55, 7), (0x66, 40_000)):  # two sources, unrelated numbering
        line = MediaLine("0", "audio", 111, "audio/opus", 48000, ExtensionIds(mid=1), ())
        receiver = published(line, counters, layer_class=kernels.ingest.Layer)
        receiver.bind_ssrc(0, ssrc)
        downtrack = DownTrack(
            receiver,
            sink,
            OUT,
            initial_layer=0,
            counters=counters,
            on_layer=lambda _: None,
            forwarder_class=kernels.forwarder.Forwarder,
            continues=downtracks[-1] if downtracks else None,
        )
        receiver.downtracks.append(downtrack)
        downtracks.append(downtrack)
        for seq in (first_seq, first_seq + 1):
            data = struct.pack("!BBHII", 0x80, 111, seq, 960 * seq, ssrc) + b"opus"
            receiver.layers[0].receive(data, 111, seq, 960 * seq, False, 12, 12 + 4, -1, 0)
        downtrack.close()
    sent = [rtp_py.parse_rtp(p, 0, 0, 0, 0) for p in sink.rtp]
    seqs, timestamps = [s[2] for s in sent], [s[3] for s in sent]
    assert len(sent) == 4
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(4)]
    assert (timestamps[2] - timestamps[1]) & 0xFFFFFFFF == 48000 // SOURCE_GAP
    assert {s[0] for s in sent} == {0xDEF}
