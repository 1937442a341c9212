# Types of the compiled fan-out; sfu/media/fanout_py.py documents what it does.
from collections.abc import Sequence

from sfu.media.fanout_py import Outcome, S
from sfu.media.packet import RtpPacket

def fan_out(downtracks: Sequence[S], packet: RtpPacket, now_ms: int) -> Outcome[S]: ...
