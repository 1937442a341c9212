# Types of the compiled kernels; sfu/rtp/rtp_py.py documents what they do.

def parse_rtp(
    data: bytes, mid_id: int, rid_id: int, rrid_id: int, audio_level_id: int
) -> tuple[int, int, int, int, bool, int, int, bytes | None, bytes | None, bytes | None, int]: ...
def rewrite_rtp(
    data: bytes,
    payload_offset: int,
    ssrc: int,
    payload_type: int,
    seq: int,
    timestamp: int,
    marker: bool,
    mid_id: int,
    mid: bytes,
    abs_send_time_id: int,
    abs_send_time: int,
    audio_level_id: int,
    audio_level: int,
    picture_id: int,
    tl0picidx: int,
) -> bytes: ...
def vp8_descriptor(
    data: bytes, payload_offset: int, payload_end: int
) -> tuple[bool, bool, int, int, int, int]: ...
