"""VP8 PictureID and TL0PICIDX of one subscription, continuous across layer switches.

Each simulcast layer numbers its pictures independently; a decoder that sees PictureID jump
(or go back) on a switch may treat frames as missing or stale (RFC 7741 §4.2).
"""

from __future__ import annotations

PID_MOD = 0x8000
TL0_MOD = 0x100


class Vp8Munger:
    __slots__ = ("_last_pid", "_last_tl0", "_pid_offset", "_tl0_offset")

    def __init__(self) -> None:
        self._pid_offset = self._tl0_offset = 0
        self._last_pid = self._last_tl0 = -1

    def switch(self, picture_id: int, tl0picidx: int) -> None:
        """The keyframe starting a new layer gets the numbers after the last ones sent."""
        if self._last_pid >= 0 and picture_id >= 0:
            self._pid_offset = (self._last_pid + 1 - picture_id) % PID_MOD
        if self._last_tl0 >= 0 and tl0picidx >= 0:
            self._tl0_offset = (self._last_tl0 + 1 - tl0picidx) % TL0_MOD

    def translate(self, picture_id: int, tl0picidx: int) -> tuple[int, int]:
        """Output (picture_id, tl0picidx); -1 stays -1 (field absent)."""
        pid = tl0 = -1
        if picture_id >= 0:
            pid = (picture_id + self._pid_offset) % PID_MOD
            if self._last_pid < 0 or 0 < (pid - self._last_pid) % PID_MOD < PID_MOD // 2:
                self._last_pid = pid
        if tl0picidx >= 0:
            tl0 = (tl0picidx + self._tl0_offset) % TL0_MOD
            if self._last_tl0 < 0 or 0 < (tl0 - self._last_tl0) % TL0_MOD < TL0_MOD // 2:
                self._last_tl0 = tl0
        return pid, tl0
