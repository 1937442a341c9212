"""H.264 facts the node reads from a keyframe without decoding it: the picture size in its
sequence parameter set (ITU-T H.264 §7.3.2.1.1), which sizes the layer for the allocator as a
VP8 keyframe's header does (``sfu.rtp.vp8``). Read from the SPS the keyframe's packet carries
(alone, in a STAP-A, or at the start of an FU-A: RFC 6184 §5.6-5.8)."""

from __future__ import annotations

from collections.abc import Iterator

from sfu.rtp.rtp_py import H264_FU_A, H264_SPS, H264_STAP_A

# profile_idc values whose SPS carries chroma format, bit depths and scaling matrices
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


def keyframe_size(data: bytes, payload_offset: int, payload_end: int) -> tuple[int, int] | None:
    """(width, height) from the SPS in this packet, None if it has none or it cannot be read."""
    for sps in _sps_units(data[payload_offset:payload_end]):
        try:
            return sps_size(sps)
        except (IndexError, ValueError):
            return None
    return None


def _sps_units(payload: bytes) -> Iterator[bytes]:
    """The SPS units (NAL header included) of one RTP payload."""
    if not payload:
        return
    kind = payload[0] & 0x1F
    if kind == H264_SPS:
        yield payload
    elif kind == H264_STAP_A:
        at = 1
        while at + 2 <= len(payload):
            size = payload[at] << 8 | payload[at + 1]
            unit = payload[at + 2 : at + 2 + size]
            if unit and unit[0] & 0x1F == H264_SPS:
                yield unit
            at += 2 + size
    elif kind == H264_FU_A and len(payload) > 2 and payload[1] & 0x9F == 0x80 | H264_SPS:
        # the first fragment of an SPS: its start is all the size needs
        yield bytes([payload[0] & 0xE0 | H264_SPS]) + payload[2:]


def sps_size(unit: bytes) -> tuple[int, int]:
    """The cropped picture size a sequence parameter set unit describes; IndexError if it ends
    early, ValueError if it is not one."""
    if not unit or unit[0] & 0x1F != H264_SPS:
        raise ValueError("not an h264 sps")
    bits = _Bits(_rbsp(unit[1:]))
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.u(1)  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.u(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):
            bits.se()  # offset_for_ref_frame
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if bits.u(1):  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
    # crop units: 4:2:0 counts in chroma samples (2 luma), monochrome in luma samples (§7.4.2.1.1)
    crop_x = 1 if chroma_format in (0, 3) else 2
    crop_y = (2 - frame_mbs_only) * (2 if chroma_format == 1 else 1)
    width = width_mbs * 16 - crop_x * (left + right)
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError("h264 sps crops the whole picture")
    return width, height


def _rbsp(ebsp: bytes) -> bytes:
    """Without emulation prevention: every 00 00 03 is 00 00 (§7.4.1)."""
    return ebsp.replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se()) % 256
        last = next_scale or last


class _Bits:
    """Big-endian bit reader with the Exp-Golomb codes of §9.1."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self._data[self._at >> 3]  # IndexError past the end
            value = value << 1 | (byte >> (7 - (self._at & 7)) & 1)
            self._at += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise ValueError("h264 exp-golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)
