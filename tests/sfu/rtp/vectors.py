"""Chrome-like RTP packets, written out byte by byte, shared by the tests and the benchmark.

Extension ids follow Chrome's offers: video abs-send-time 2, transport-cc 4, mid 9, rid 10,
repaired-rid 11 (a Chrome simulcast offer); audio ssrc-audio-level 1, abs-send-time 2,
transport-cc 3, mid 4.
"""

VIDEO_IDS = (9, 10, 11, 0)  # mid, rid, repaired rid, audio level
AUDIO_IDS = (4, 0, 0, 1)


def _hex(*fields: str) -> bytes:
    return bytes.fromhex("".join(fields))


def fill(head: bytes, size: int = 1200) -> bytes:
    """Pad a packet head with deterministic filler to `size` bytes (payload bytes)."""
    return head + bytes(i & 0xFF for i in range(size - len(head)))


VP8_KEYFRAME_HEAD = _hex(
    "9060 1234",  # V=2 X=1 | M=0 PT=96 | seq 0x1234
    "5f5e1000",  # timestamp
    "1a2b3c4d",  # ssrc
    "bede 0003",  # one-byte profile, 3 words
    "22 a1b2c3",  # abs-send-time (id 2, 3 bytes)
    "41 0007",  # transport-cc (id 4, 2 bytes)
    "90 30",  # mid (id 9) "0"
    "a0 68",  # rid (id 10) "h"
    "00",  # padding
    "90 e0 8123 05 20",  # VP8: X S PID=0 | I L T | M=1 PictureID 0x123 | TL0PICIDX 5 | TID 0 Y
    "10 0200 9d012a 8002 e001",  # VP8 payload header P=0 (key frame), start code, 640x480
)
VP8_KEYFRAME = fill(VP8_KEYFRAME_HEAD)
VP8_KEYFRAME_OFFSET = 28

VP8_DELTA = fill(
    _hex(
        "90e0 1235 5f5e1000 1a2b3c4d",  # marker set, seq 0x1235
        "bede 0002 22a1b2c4 90 30 a0 68",  # abs-send-time, mid "0", rid "h"
        "90 e0 8124 05 60",  # S PID=0, PictureID 0x124, TL0PICIDX 5, TID 1 Y
        "31 0400",  # VP8 payload header P=1: inter frame
    )
)

VP8_CONTINUATION = fill(
    _hex(
        "9060 1236 5f5e1000 1a2b3c4d bede 0001 90 30 0000",
        "80 80 24",  # X, S=0 (not the start of a partition) | I | M=0 PictureID 0x24
    )
)

RTX = fill(
    _hex(
        "9061 0100 5f5e1000 0badcafe",  # PT 97 (rtx)
        "bede 0002 90 30 b0 68 41 0009 00",  # mid "0", repaired-rid (id 11) "h", transport-cc
        "1234",  # original sequence number (RFC 4588)
    )
)

OPUS = fill(
    _hex(
        "90ef 002a 00003c00 deadbeef",  # M=1 (talkspurt start) PT=111
        "bede 0003",
        "10 b2",  # ssrc-audio-level (id 1): V=1, level 50 dBov
        "22 001000",  # abs-send-time
        "31 0008",  # transport-cc
        "40 30",  # mid (id 4) "0"
        "00",
        "78 0be4",  # Opus TOC + frame
    ),
    size=120,
)

PADDING_PROBE = (
    _hex(
        "b061 0101 5f5e1000 0badcafe",  # P=1 X=1 PT 97: a bandwidth probe, all padding
        "bede 0002 22 a1b2c5 41 000a 00",
    )
    + bytes(223)
    + b"\xe0"
)  # 224 bytes of padding, the last one is the count
PADDING_PROBE_OFFSET = 24

CSRC = fill(
    _hex(
        "8260 0001 00000010 00000020",  # CC=2 (from a mixer)
        "00000001 00000002",  # CSRCs
        "10",  # VP8 descriptor: S PID=0, no X
    )
)

TWO_BYTE = fill(
    _hex(
        "9060 0002 00000020 00000030",
        "1003 0003",  # two-byte profile, appbits 3, 3 words
        "0d 05 c1 0203 0405",  # dependency descriptor (id 13), 5 bytes
        "09 01 30",  # mid (id 9) "0"
        "0a 00",  # rid (id 10), empty
    )
)
