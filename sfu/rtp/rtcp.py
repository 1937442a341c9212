"""RTCP wire format (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3.1, draft-alvestrand-rmcat-remb).

Only what an SFU reads and writes: SR, RR, NACK, PLI, FIR, REMB, and transport-cc feedback
(its content is ``sfu.rtp.twcc``). RTCP runs at a few packets per
second per stream, so this stays in plain Python; parse errors are ``ValueError`` with a reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sfu.rtp.twcc import TransportFeedback, pack_transport_feedback, parse_transport_feedback

SR, RR, SDES, BYE, RTPFB, PSFB = 200, 201, 202, 203, 205, 206
FMT_NACK, FMT_TRANSPORT_CC = 1, 15
FMT_PLI, FMT_FIR, FMT_AFB = 1, 4, 15

_HEADER = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IIIIII")


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_timestamp: int
    packets: int
    octets: int
    reports: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class Nack:
    """A generic NACK, its FCI unexpanded: one 1,200-byte NACK asks for 5,049 sequence numbers,
    so expanding it is left to the history that answers it (``nack_seqs``, capped)."""

    sender_ssrc: int
    media_ssrc: int
    fci: bytes  # (pid, blp) pairs, 4 bytes each


@dataclass(frozen=True, slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True, slots=True)
class Fir:
    sender_ssrc: int
    media_ssrcs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Remb:
    sender_ssrc: int
    bitrate: int
    ssrcs: tuple[int, ...]


RtcpPacket = SenderReport | ReceiverReport | Nack | Pli | Fir | Remb | TransportFeedback


_LONE_FEEDBACK = 0x80 | FMT_TRANSPORT_CC  # version 2, no padding
_SSRCS = struct.Struct("!II")


def lone_transport_feedback(data: bytes) -> TransportFeedback | None:
    """``data`` when it is one transport-cc feedback and nothing else (browsers send theirs so,
    RFC 5506 reduced size, ten to twenty times a second per subscriber), else None: read
    without parse_compound's walk, as it reads it. A malformed feedback is the walk's
    ValueError. (sfu.media.feedback_py reads a subscriber's datagrams so.)"""
    if (
        len(data) < 12
        or data[0] != _LONE_FEEDBACK
        or data[1] != RTPFB
        or 4 + 4 * (data[2] << 8 | data[3]) != len(data)
    ):
        return None
    sender, media = _SSRCS.unpack_from(data, 4)
    return parse_transport_feedback(sender, media, data[12:])


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; kinds the SFU does not use (SDES, BYE, XR...) are skipped."""
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise ValueError("rtcp header truncated")
        first, packet_type, length = _HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise ValueError("rtcp version is not 2")
        end = pos + 4 + length * 4
        if end > len(data):
            raise ValueError("rtcp length exceeds packet")
        body = data[pos + 4 : end]
        if first & 0x20:
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise ValueError("rtcp padding invalid")
            body = body[: -body[-1]]
        parsed = _parse_one(first & 0x1F, packet_type, body)
        if parsed is not None:
            packets.append(parsed)
        pos = end
    return packets


def _parse_one(count: int, packet_type: int, body: bytes) -> RtcpPacket | None:
    if packet_type == SR:
        if len(body) < 24 + count * 24:
            raise ValueError("rtcp sender report truncated")
        ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body)
        return SenderReport(
            ssrc, (ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets, _blocks(body, 24, count)
        )
    if packet_type == RR:
        if len(body) < 4 + count * 24:
            raise ValueError("rtcp receiver report truncated")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _blocks(body, 4, count))
    if packet_type in (RTPFB, PSFB):
        if len(body) < 8:
            raise ValueError("rtcp feedback truncated")
        sender, media = struct.unpack_from("!II", body)
        fci = body[8:]
        if packet_type == RTPFB and count == FMT_NACK:
            if len(fci) % 4:
                raise ValueError("rtcp nack truncated")
            return Nack(sender, media, fci)
        if packet_type == RTPFB and count == FMT_TRANSPORT_CC:
            return parse_transport_feedback(sender, media, fci)
        if packet_type == PSFB and count == FMT_PLI:
            return Pli(sender, media)
        if packet_type == PSFB and count == FMT_FIR:
            return Fir(
                sender,
                tuple(ssrc for (ssrc,) in struct.iter_unpack("!I4x", fci[: len(fci) // 8 * 8])),
            )
        if packet_type == PSFB and count == FMT_AFB and fci[:4] == b"REMB":
            return _parse_remb(sender, fci)
    return None


def _blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(
            body, offset + i * 24
        )
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def nack_seqs(fci: bytes, limit: int) -> tuple[list[int], int]:
    """The distinct sequence numbers a generic NACK's FCI asks for, in the order asked, at most
    ``limit`` of them; and how many more it asked for (a trailing partial item is ignored).

    A receiver NACKs recent losses, never more than a history holds (``limit``); each number
    costs a lookup, so the cap bounds what a NACK costs. cython_ext/history.pyx walks alike.
    """
    seen: set[int] = set()
    seqs: list[int] = []
    for pid, blp in struct.iter_unpack("!HH", fci[: len(fci) // 4 * 4]):
        for seq in (pid, *((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)):
            if seq not in seen:
                seen.add(seq)
                seqs.append(seq)
    return seqs[:limit], max(0, len(seqs) - limit)


def _parse_remb(sender: int, fci: bytes) -> Remb:
    if len(fci) < 8:
        raise ValueError("rtcp remb truncated")
    num_ssrc = fci[4]
    if len(fci) < 8 + 4 * num_ssrc:
        raise ValueError("rtcp remb truncated")
    exponent = fci[5] >> 2
    mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
    ssrcs = struct.unpack_from(f"!{num_ssrc}I", fci, 8)
    return Remb(sender, mantissa << exponent, tuple(ssrcs))


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP time (seconds in 16.16 fixed point): the compact form
    of an SR's time that a report block echoes as LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_ms(lsr: int, dlsr: int, arrival: int) -> int | None:
    """The round trip a report block measures (RFC 3550 §6.4.1): its arrival time A minus the
    LSR it echoes minus the DLSR the reporter held it, all compact NTP (1/65536 s), modulo 2**32
    so a wrap of the 16-bit seconds between SR and report costs nothing.

    ``arrival`` is ``ntp_middle32`` of now on the clock the echoed SR was stamped with. None when
    LSR is 0: the reporter has no SR from us yet. At least 1 ms, as in libwebrtc: a "negative"
    result (2**31 units or more) comes from a clock stepping back or DLSR rounding on a near-zero
    round trip, not from a 9-hour round trip.
    """
    if lsr == 0:
        return None
    units = (arrival - lsr - dlsr) & 0xFFFFFFFF
    if units >= 0x80000000:
        return 1
    return max(1, (units * 1000 + 0x8000) >> 16)


# builders ---------------------------------------------------------------------------------------


def _packet(count: int, packet_type: int, body: bytes) -> bytes:
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def _pack_blocks(reports: tuple[ReportBlock, ...] | list[ReportBlock]) -> bytes:
    return b"".join(
        _REPORT_BLOCK.pack(
            r.ssrc,
            (r.fraction_lost & 0xFF) << 24 | (r.packets_lost & 0xFFFFFF),
            r.highest_seq & 0xFFFFFFFF,
            r.jitter,
            r.lsr,
            r.dlsr,
        )
        for r in reports
    )


def build_sr(sr: SenderReport) -> bytes:
    body = struct.pack(
        "!IIIIII",
        sr.ssrc,
        sr.ntp >> 32,
        sr.ntp & 0xFFFFFFFF,
        sr.rtp_timestamp & 0xFFFFFFFF,
        sr.packets & 0xFFFFFFFF,
        sr.octets & 0xFFFFFFFF,
    )
    return _packet(len(sr.reports), SR, body + _pack_blocks(sr.reports))


def build_rr(ssrc: int, reports: list[ReportBlock]) -> bytes:
    """One or more RR packets (at most 31 report blocks each), concatenated."""
    out = [
        _packet(len(chunk), RR, struct.pack("!I", ssrc) + _pack_blocks(chunk))
        for chunk in (reports[i : i + 31] for i in range(0, max(len(reports), 1), 31))
    ]
    return b"".join(out)


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return _packet(FMT_PLI, PSFB, struct.pack("!II", sender_ssrc, media_ssrc))


def build_nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    items: list[tuple[int, int]] = []
    for seq in sorted(set(lost)):
        if items and 0 < (seq - items[-1][0]) <= 16:
            pid, blp = items[-1]
            items[-1] = (pid, blp | 1 << (seq - pid - 1))
        else:
            items.append((seq, 0))
    fci = b"".join(struct.pack("!HH", pid, blp) for pid, blp in items)
    return _packet(FMT_NACK, RTPFB, struct.pack("!II", sender_ssrc, media_ssrc) + fci)


def build_remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exponent = 0
    mantissa = max(0, bitrate)
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exponent += 1
    fci = b"REMB" + bytes(
        [len(ssrcs), (exponent << 2) | (mantissa >> 16), (mantissa >> 8) & 0xFF, mantissa & 0xFF]
    )
    fci += b"".join(struct.pack("!I", s) for s in ssrcs)
    return _packet(FMT_AFB, PSFB, struct.pack("!II", sender_ssrc, 0) + fci)


def build_transport_feedback(feedback: TransportFeedback) -> bytes:
    ssrcs = struct.pack("!II", feedback.sender_ssrc, feedback.media_ssrc)
    return _packet(FMT_TRANSPORT_CC, RTPFB, ssrcs + pack_transport_feedback(feedback))
