"""What negotiation decided about one m-line, in the terms the packet path needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class ExtensionIds:
    """Negotiated RTP header-extension ids of one m-line (0: not negotiated)."""

    mid: int = 0
    rid: int = 0
    repaired_rid: int = 0
    abs_send_time: int = 0
    audio_level: int = 0
    transport_cc: int = 0  # the transport-wide seq (subscribe side: we stamp, they give feedback)


@dataclass(frozen=True, slots=True)
class MediaLine:
    """One negotiated m-line of a bundle: its mid, codec, extension ids and simulcast rids.

    ``ssrc`` is the SSRC we send with (subscribe side), or the one the publisher's offer signalled
    (publish side, without simulcast; 0 if none); ``rids`` the layers, lowest first (publish
    side, empty without simulcast); ``nack`` whether the codec's negotiated feedback has generic
    NACK (RFC 4585): Chrome and Firefox negotiate it for video, never for Opus;
    ``rtx_payload_type`` the RTX payload type whose apt is the codec's (RFC 4588), 0 if none,
    and ``rtx_ssrc`` the SSRC of its RTX stream (ours on the subscribe side, the signalled one
    on the publish side).
    ``mime`` is lower case: video/vp8, video/h264 or audio/opus.
    """

    mid: str
    kind: Kind
    payload_type: int
    mime: str
    clock_rate: int
    extensions: ExtensionIds
    rids: tuple[str, ...] = ()
    ssrc: int = 0
    nack: bool = False
    rtx_payload_type: int = 0
    rtx_ssrc: int = 0
    profile: str = ""  # H.264's profile-level-id, lower case (RFC 6184 §8.1)
