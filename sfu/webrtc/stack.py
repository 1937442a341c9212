"""Process-wide aiortc/aioice configuration for an SFU: extensions, codecs, ICE host addresses.

aiortc keeps these as module globals, so they are set once at node start-up (idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice
from aiortc import codecs as aiortc_codecs
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpHeaderExtensionParameters

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
TRANSPORT_CC_ID = 5  # one id for audio and video: a bundle numbers all its packets together
TRANSPORT_CC_FEEDBACK = RTCRtcpFeedback(type="transport-cc")

_original_host_addresses = aioice.ice.get_host_addresses


def configure_aiortc(host_addresses: Sequence[str] = ()) -> None:
    """Negotiate simulcast rid extensions, transport-cc, Opus in-band FEC, and pick the ICE host
    addresses. (Publishers get transport-cc declined: ``sfu.webrtc.peer``.)

    With no addresses given, the machine's own are used, and loopback when it has no other
    (aioice alone never offers 127.0.0.1).
    """
    video = aiortc_codecs.HEADER_EXTENSIONS["video"]
    known = {ext.uri for ext in video}
    for ext_id, uri in ((10, RID_URI), (11, REPAIRED_RID_URI)):
        if uri not in known:
            video.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))
    for kind in ("audio", "video"):
        extensions = aiortc_codecs.HEADER_EXTENSIONS[kind]
        if TRANSPORT_CC_URI not in {ext.uri for ext in extensions}:
            extensions.append(RTCRtpHeaderExtensionParameters(TRANSPORT_CC_ID, TRANSPORT_CC_URI))
        for codec in aiortc_codecs.CODECS[kind]:
            rtx = codec.mimeType.lower().endswith("/rtx")
            if not rtx and TRANSPORT_CC_FEEDBACK not in codec.rtcpFeedback:
                codec.rtcpFeedback.append(TRANSPORT_CC_FEEDBACK)
    for codec in aiortc_codecs.CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update({"minptime": 10, "useinbandfec": 1})

    fixed = list(host_addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if fixed:
            return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
        return _original_host_addresses(use_ipv4, use_ipv6) or (["127.0.0.1"] if use_ipv4 else [])

    aioice.ice.get_host_addresses = get_host_addresses
