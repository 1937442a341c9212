"""SDP text edits and reads for synthetic participants (aiortc's SDP model has no simulcast)."""

from __future__ import annotations

import re

from load_tests.publishing import SendParams
from sfu.webrtc.sdp import join_sections, split_sections
from sfu.webrtc.stack import TRANSPORT_CC_URI

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"


def _value(section: list[str], prefix: str) -> str | None:
    return next((line[len(prefix) :] for line in section if line.startswith(prefix)), None)


def add_simulcast(offer: str, rids: tuple[str, ...]) -> str:
    """Offer the video as rid simulcast (like Chrome): ``a=rid:… send``, ``a=simulcast:send``,
    and no ``a=ssrc`` lines, so the SFU learns each layer's SSRC from the rid extension."""
    sections = split_sections(offer)
    for section in sections[1:]:
        if section[0].startswith("m=video"):
            section[:] = [line for line in section if not line.startswith("a=ssrc")]
            section.extend(f"a=rid:{rid} send" for rid in rids)
            section.append("a=simulcast:send " + ";".join(rids))
    return join_sections(sections)


def keep_candidates(sdp: str, prefix: str = "127.") -> str:
    """Drop every ICE candidate whose address does not start with ``prefix``."""
    sections = split_sections(sdp)
    for section in sections:
        section[:] = [
            line
            for line in section
            if not line.startswith("a=candidate:") or line.split()[4].startswith(prefix)
        ]
    return join_sections(sections)


def payload_kinds(sdp: str) -> dict[int, str]:
    """Payload type -> media kind, for the VP8 and Opus payload types of an SDP."""
    kinds: dict[int, str] = {}
    for section in split_sections(sdp)[1:]:
        for line in section:
            match = re.match(r"a=rtpmap:(\d+) (VP8|opus)/", line, re.IGNORECASE)
            if match:
                kinds[int(match.group(1))] = "video" if match.group(2) == "VP8" else "audio"
    return kinds


def _pt(section: list[str], codec: str) -> int | None:
    for line in section:
        match = re.match(rf"a=rtpmap:(\d+) {codec}/", line, re.IGNORECASE)
        if match:
            return int(match.group(1))
    return None


def _extmap(section: list[str], uri: str) -> int | None:
    for line in section:
        match = re.match(r"a=extmap:(\d+)(?:/\w+)? (\S+)", line)
        if match and match.group(2) == uri:
            return int(match.group(1))
    return None


def transport_cc_id(sdp: str) -> int:
    """The transport-cc extension id an SDP negotiates (bundled: one for all its m-lines), or
    0 without it."""
    return next(
        (ext_id for s in split_sections(sdp)[1:] if (ext_id := _extmap(s, TRANSPORT_CC_URI))), 0
    )


def send_params(offer: str, answer: str, rids: tuple[str, ...]) -> SendParams:
    """What to send after the answer: codecs the answer accepted (port 0 = refused), extension
    ids and the audio SSRC of the offer, and simulcast only if the answer has ``a=simulcast``."""
    offered, answered = split_sections(offer)[1:], split_sections(answer)[1:]
    video_pt = audio_pt = mid_ext = rid_ext = audio_ssrc = None
    video_mid = audio_mid = ""
    simulcast = False
    for ours, theirs in zip(offered, answered, strict=False):
        if theirs[0].split()[1] == "0":
            continue
        mid = _value(ours, "a=mid:") or ""
        mid_ext = mid_ext or _extmap(ours, MID_URI)
        if ours[0].startswith("m=video"):
            video_pt, video_mid = _pt(theirs, "VP8"), mid
            rid_ext = _extmap(ours, RID_URI)
            simulcast = any(line.startswith("a=simulcast:") for line in theirs)
        elif ours[0].startswith("m=audio"):
            audio_pt, audio_mid = _pt(theirs, "opus"), mid
            ssrc = _value(ours, "a=ssrc:")
            audio_ssrc = int(ssrc.split()[0]) if ssrc else None
    if mid_ext is None:
        raise ValueError("the offer has no mid header extension")
    return SendParams(
        video_pt=video_pt,
        audio_pt=audio_pt,
        video_mid=video_mid,
        audio_mid=audio_mid,
        audio_ssrc=audio_ssrc,
        mid_ext=mid_ext,
        rid_ext=rid_ext if simulcast else None,
        rids=rids if simulcast else rids[-1:],
    )
