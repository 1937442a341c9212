"""SDP text edits aiortc cannot do: simulcast (RFC 8853) lines and Chrome's start bitrate.

aiortc's SDP model drops ``a=rid`` and ``a=simulcast``; without them in the answer Chrome sends
only its first encoding. These are pure functions over SDP text.
"""

from __future__ import annotations

import re


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
