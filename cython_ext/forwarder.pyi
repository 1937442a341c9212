# Types of the compiled Forwarder; sfu/media/forwarder_py.py documents what it does.
from typing import Final

NO_LAYER: Final[int]
DROP_OTHER_LAYER: Final[int]
DROP_WAIT_KEYFRAME: Final[int]
DROP_PAUSED: Final[int]
DROP_TOO_OLD: Final[int]
NEEDS_SWITCH: Final[int]

class Forwarder:
    target: int
    @property
    def current(self) -> int: ...
    @property
    def waiting(self) -> bool: ...
    @property
    def ts_offset(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def last_ts(self) -> int: ...
    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        mid_id: int,
        mid: bytes,
        abs_send_time_id: int,
        audio_level_id: int,
        clock_rate: int,
        first_seq: int,
        first_ts: int,
        target: int,
    ) -> None: ...
    def forward(
        self,
        data: bytes,
        payload_offset: int,
        ext_seq: int,
        timestamp: int,
        marker: bool,
        audio_level: int,
        layer: int,
        keyframe: bool,
        picture_id: int,
        tl0picidx: int,
        now_ms: int,
    ) -> bytes | int: ...
    def switch(
        self,
        ext_seq: int,
        timestamp: int,
        picture_id: int,
        tl0picidx: int,
        now_ms: int,
        aligned_ts: int,
    ) -> None: ...
    def pause(self) -> None: ...
