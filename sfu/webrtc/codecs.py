"""Which codecs the node forwards, and which a subscriber decodes.

A publisher's m-line with no codec we forward is rejected on its own (the rest of the offer
connects); a track is offered only to subscribers that declared they decode its codec. Both
tell the client why, in words made here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiortc.codecs import CODECS
from aiortc.rtcpeerconnection import find_common_codecs
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import MediaDescription, parse_h264_profile_level_id

# What we forward, by kind: a publisher's first choice among these decides its track's codec
FORWARDABLE = {"video": ("video/vp8", "video/h264"), "audio": ("audio/opus",)}
# The same, for people (aiortc's H.264 profiles are 42001f and 42e01f)
ACCEPTED = {
    "video": "VP8 and H.264 (packetization-mode=1, baseline or constrained-baseline profile: "
    "profile-level-id 4200xx or 42e0xx)",
    "audio": "Opus",
}
# Formats that carry no media of their own: not worth naming in a refusal
_NOT_MEDIA = {"rtx", "red", "ulpfec", "flexfec-03", "cn", "telephone-event"}
_DEFAULT_PROFILE = "42e01f"  # RFC 6184 §8.1: no profile-level-id means constrained baseline


@dataclass(frozen=True, slots=True)
class Codec:
    """A track's codec as a subscriber must receive it: mime type, and for H.264 the publisher's
    profile-level-id (its profile must match: RFC 6184 §8.1)."""

    mime: str
    profile: str = ""

    def __str__(self) -> str:
        name = self.mime.split("/", 1)[-1].upper()
        return f"{name} (profile-level-id {self.profile})" if self.profile else name


@dataclass(frozen=True, slots=True)
class CodecCapability:
    """A codec a client decodes, as its browser's ``RTCRtpReceiver.getCapabilities`` lists it."""

    mime: str
    fmtp: str = ""  # sdpFmtpLine: "packetization-mode=1;profile-level-id=42e01f"


def forwardable(
    codecs: list[RTCRtpCodecParameters], kind: str, prefer: Codec | None = None
) -> list[RTCRtpCodecParameters]:
    """The first codec of ``codecs`` (aiortc's negotiated ones, in the offer's order) that we
    forward, or the first that is ``prefer`` (the codec of the track a player will get first),
    and its RTX; empty if none."""
    ours = [c for c in codecs if c.mimeType.lower() in FORWARDABLE[kind]]
    main = [c for c in ours if prefer is not None and same_codec(prefer, _codec(c))][:1] or ours[:1]
    if not main:
        return []
    rtx = [
        c
        for c in codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == main[0].payloadType
    ]
    return main + rtx[:1]


def unforwardable(media: MediaDescription) -> str | None:
    """Why none of an offered m-line's codecs is forwarded, or None if one is."""
    if forwardable(find_common_codecs(CODECS[media.kind], media.rtp.codecs), media.kind):
        return None
    offered = dict.fromkeys(_label(c) for c in media.rtp.codecs if _label(c))
    listed = ", ".join(offered) or "none"
    return (
        f"{media.kind}: none of the offered codecs is forwarded ({listed}); "
        f"we accept {ACCEPTED[media.kind]}"
    )


def _codec(codec: RTCRtpCodecParameters) -> Codec:
    mime = codec.mimeType.lower()
    profile = str(codec.parameters.get("profile-level-id", "")) if mime == "video/h264" else ""
    return Codec(mime, profile.lower())


def same_codec(a: Codec, b: Codec) -> bool:
    """Whether a stream of ``a`` can be sent as ``b``: same mime type, for H.264 the same
    profile (RFC 6184 §8.1: the level may differ)."""
    if a.mime != b.mime:
        return False
    return a.mime != "video/h264" or _profile(a.profile or _DEFAULT_PROFILE) == _profile(
        b.profile or _DEFAULT_PROFILE
    )


def _label(codec: RTCRtpCodecParameters) -> str:
    name = codec.mimeType.split("/", 1)[-1]
    if name.lower() in _NOT_MEDIA:
        return ""
    if name.lower() != "h264":
        return name
    mode = codec.parameters.get("packetization-mode", 0)
    return f"{name} {codec.parameters.get('profile-level-id', _DEFAULT_PROFILE)}/mode {mode}"


def decodes(capabilities: Iterable[CodecCapability], codec: Codec) -> bool:
    """Whether a client with these receive capabilities decodes ``codec``: same mime type, and
    for H.264 packetization mode 1 and the same profile (its level may differ)."""
    for capability in capabilities:
        if capability.mime.lower() != codec.mime:
            continue
        if codec.mime != "video/h264":
            return True
        params = dict(p.strip().partition("=")[::2] for p in capability.fmtp.split(";"))
        if params.get("packetization-mode") == "1" and same_codec(
            Codec(codec.mime, params.get("profile-level-id", _DEFAULT_PROFILE)), codec
        ):
            return True
    return False


def _profile(profile_level_id: str) -> object:
    try:
        return parse_h264_profile_level_id(profile_level_id)[0]
    except ValueError:
        return profile_level_id  # unknown: only an identical one matches
