"""SDP text edits aiortc cannot do: simulcast (RFC 8853) lines, Chrome's start bitrate, and
rejected m-lines (RFC 3264 §6: port 0).

aiortc's SDP model drops ``a=rid`` and ``a=simulcast``; without them in the answer Chrome sends
only its first encoding. These are pure functions over SDP text.
"""

from __future__ import annotations

import re

# The lines of an m-section that describe its transport, and those that describe its codecs
_TRANSPORT = (
    "c=",
    "a=candidate:",
    "a=end-of-candidates",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=fingerprint:",
    "a=setup:",
)
_CODEC = ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")


def split_sections(sdp: str) -> list[list[str]]:
    """Split into [session, m-section, m-section, ...] line lists."""
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        if line:
            sections[-1].append(line)
    return sections


def join_sections(sections: list[list[str]]) -> str:
    """The SDP text of `sections` (the inverse of `split_sections`, with CRLF line ends)."""
    return "\r\n".join(line for section in sections for line in section) + "\r\n"


def _mid(section: list[str]) -> str | None:
    return next((line[6:] for line in section if line.startswith("a=mid:")), None)


def stopped_mids(sdp: str) -> set[str]:
    """The mids of m-sections with port 0 that are not bundle-only (RFC 8843 §6): rejected
    before, or stopped by their sender."""
    return {
        mid
        for section in split_sections(sdp)[1:]
        if section[0].split(" ")[1:2] == ["0"]
        and "a=bundle-only" not in section
        and (mid := _mid(section)) is not None
    }


def without_sections(sdp: str, mids: set[str]) -> str:
    """``sdp`` without the m-sections of ``mids``, nor those mids in its BUNDLE group: what
    aiortc is given of an offer whose other m-lines we accept."""
    sections = split_sections(sdp)
    kept = [sections[0]] + [s for s in sections[1:] if _mid(s) not in mids]
    kept[0] = [
        " ".join(w for w in line.split(" ") if w not in mids)
        if line.startswith("a=group:BUNDLE ")
        else line
        for line in kept[0]
    ]
    return join_sections(kept)


def with_declined_sections(answer: str, offer: str, mids: set[str]) -> str:
    """``answer`` (to the offer without ``mids``) with the offer's m-sections of ``mids`` back in
    their places, declined: inactive, on the answer's transport, in the BUNDLE group. (Port 0
    would be cleaner, but Chrome cannot move its BUNDLE tag: refusing its first m-section that
    way fails its whole answer.) A section the offer stopped (port 0) stays at port 0 (RFC 3264
    §6)."""
    sections = split_sections(answer)
    port = sections[1][0].split(" ")[1]
    transport = [line for line in sections[1] if line.startswith(_TRANSPORT)]
    for index, section in enumerate(split_sections(offer)[1:], start=1):
        mid = _mid(section)
        if mid in mids:
            kind, offered_port, rest = section[0][2:].split(" ", 2)
            codecs = [line for line in section if line.startswith(_CODEC)]
            sections.insert(
                index,
                [
                    f"m={kind} {'0' if offered_port == '0' else port} {rest}",
                    *transport,
                    f"a=mid:{mid}",
                    "a=inactive",
                    "a=rtcp-mux",
                    *codecs,
                ],
            )
    bundled = [_mid(s) for s in sections[1:] if s[0].split(" ")[1] != "0"]
    sections[0] = [
        "a=group:BUNDLE " + " ".join(m for m in bundled if m is not None)
        if line.startswith("a=group:BUNDLE ")
        else line
        for line in sections[0]
    ]
    return join_sections(sections)


def offered_simulcast(offer: str) -> dict[str, list[str]]:
    """mid -> rids the offerer sends, ordered as in ``a=simulcast:send`` (lowest layer first)."""
    result: dict[str, list[str]] = {}
    for section in split_sections(offer)[1:]:
        mid = _mid(section)
        send_rids = [
            line[6:].split(" ")[0]
            for line in section
            if line.startswith("a=rid:") and line.split(" ")[1:2] == ["send"]
        ]
        order = next((line for line in section if line.startswith("a=simulcast:send ")), None)
        if mid is None or not send_rids:
            continue
        if order is not None:
            listed = [r.lstrip("~") for r in re.split("[;,]", order.split(" ", 1)[1].strip())]
            send_rids = [r for r in listed if r in send_rids]
        result[mid] = send_rids
    return result


def add_simulcast_and_bitrate(
    answer: str, rids_by_mid: dict[str, list[str]], start_kbps: int
) -> str:
    """Add ``a=rid:… recv``/``a=simulcast:recv`` for each simulcast mid, and a start bitrate.

    ``x-google-start-bitrate`` lets Chrome send every layer at once instead of ramping up from
    300 kbps for ~20 s.
    """
    sections = split_sections(answer)
    for section in sections[1:]:
        rids = rids_by_mid.get(_mid(section) or "")
        if rids:
            section.extend(f"a=rid:{rid} recv" for rid in rids)
            section.append("a=simulcast:recv " + ";".join(rids))
        if section[0].startswith("m=video") and start_kbps > 0:
            _add_start_bitrate(section, start_kbps)
    return join_sections(sections)


def _add_start_bitrate(section: list[str], start_kbps: int) -> None:
    param = f"x-google-start-bitrate={start_kbps}"
    for pt_match in (re.match(r"a=rtpmap:(\d+) (?:VP8|H264)/", line) for line in section):
        if pt_match is None:
            continue
        pt = pt_match.group(1)
        for i, line in enumerate(section):
            if line.startswith(f"a=fmtp:{pt} "):
                section[i] = f"{line};{param}"
                break
        else:
            section.append(f"a=fmtp:{pt} {param}")


def without_transport_cc(sdp: str) -> str:
    """``sdp`` without the transport-wide seq extension and transport-cc feedback, so the client
    sends REMB instead (the node's setting SFU_TRANSPORT_CC=false)."""
    sections = split_sections(sdp)
    for section in sections:
        section[:] = [
            line
            for line in section
            if not (line.startswith("a=extmap:") and "transport-wide-cc" in line)
            and not (line.startswith("a=rtcp-fb:") and line.endswith(" transport-cc"))
        ]
    return join_sections(sections)
