"""A down track that takes over an m-line from another (a WHEP player's new source) goes on
with its numbering: the receiver sees one stream, on both kernel implementations."""

from __future__ import annotations

import struct
from itertools import pairwise

from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import SOURCE_GAP, DownTrack
from sfu.rtp import rtp_py
from tests.support.kernels import Kernels
from tests.support.packets import MID_ID, vp8_packet
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


def test_the_source_replaced_goes_on_until_the_new_one_s_keyframe(kernels: Kernels) -> None:
    """A video source taking over waits for its keyframe, the one before playing on meanwhile:
    the receiver sees no gap, one SSRC, numbers and timestamps going on."""
    counters, sink = MediaCounters(), Sink(record=True)
    out = MediaLine("1", "video", 96, "video/vp8", 90000, ExtensionIds(mid=1), (), 0xABC)
    sources, downtracks = [], []

    def source(ssrc: int) -> None:
        line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID), ())
        receiver = published(line, counters, layer_class=kernels.ingest.Layer)
        receiver.bind_ssrc(0, ssrc)
        downtrack = DownTrack(
            receiver, sink, out, initial_layer=0, counters=counters,
            on_layer=lambda started: [d.close() for d in downtracks if d is not started],
            forwarder_class=kernels.forwarder.Forwarder,
            continues=downtracks[-1] if downtracks else None,
        )  # fmt: skip
        receiver.downtracks.append(downtrack)
        sources.append(receiver)
        downtracks.append(downtrack)

    def frame(index: int, n: int, keyframe: bool) -> None:
        """Frame ``n`` of source ``index`` (a packet), sent at n * 33 ms."""
        ssrc, receiver = 0x10 + index, sources[index]
        data = vp8_packet(
            seq=1000 * index + n, ts=3000 * n, ssrc=ssrc, picture_id=n, tl0picidx=n,
            keyframe=keyframe, start=True, marker=True, body=f"|{index}:{n}|".encode(),
        )  # fmt: skip
        parsed = rtp_py.parse_rtp(data, MID_ID, 0, 0, 0)
        receiver.layers[0].receive(data, 96, *parsed[2:7], -1, 33 * n)

    source(0x10)
    frame(0, 0, keyframe=True)
    frame(0, 1, keyframe=False)
    source(0x11)
    frame(1, 2, keyframe=False)  # the new source's delta frame: it waits for a keyframe
    frame(0, 2, keyframe=False)  # so the old one plays on
    frame(1, 3, keyframe=True)  # takeover: the old one is closed
    frame(0, 3, keyframe=False)
    frame(1, 4, keyframe=False)
    sent = [rtp_py.parse_rtp(p, 0, 0, 0, 0) for p in sink.rtp]
    tags = [p.rsplit(b"|", 2)[1] for p in sink.rtp]
    assert tags == [b"0:0", b"0:1", b"0:2", b"1:3", b"1:4"]
    seqs, stamps = [s[2] for s in sent], [s[3] for s in sent]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(5)]
    assert all(0 < (b - a) & 0xFFFFFFFF <= 90000 for a, b in pairwise(stamps))
    assert {s[0] for s in sent} == {0xABC}
