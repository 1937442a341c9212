"""The kernels speak the node's vocabulary: the constants that cython_ext's .pxd files repeat
(it imports nothing of ours) equal the Python ones, and the classifier's twins agree."""

import cython_ext.bandwidth_estimator
import cython_ext.demux
import cython_ext.drops
import cython_ext.forwarder
from hypothesis import given
from hypothesis import strategies as st

from sfu.media import selector
from sfu.media.arrivals_py import NORMAL, OVERUSING, UNDERUSING
from sfu.media.bandwidth_estimator_py import STALE, UNKNOWN_PACKETS, Estimate, Probe
from sfu.media.counters import DropReason
from sfu.rtp import demux_py
from tests.support.kernels import Kernels


def test_drop_codes_are_the_drop_reasons() -> None:
    assert {
        name: DropReason[name].code for name in cython_ext.drops.CODES
    } == cython_ext.drops.CODES
    codes = [reason.code for reason in DropReason]
    assert len(set(codes)) == len(codes) and min(codes) > 0


def test_the_forwarder_decides_with_the_selector_s_codes() -> None:
    assert cython_ext.forwarder.CODES == {
        "NO_LAYER": selector.NO_LAYER,
        "FORWARD": selector.FORWARD,
        "SWITCH": selector.SWITCH,
    }
    assert {selector.FORWARD, selector.SWITCH}.isdisjoint(r.code for r in DropReason)


def test_both_classifiers_name_the_same_kinds() -> None:
    kinds = {name: getattr(demux_py, name) for name in ("OTHER", "STUN", "DTLS", "RTP", "RTCP")}
    assert kinds == cython_ext.demux.KINDS
    assert len(set(kinds.values())) == len(kinds)


def test_classify_by_first_byte(kernels: Kernels) -> None:
    """RFC 7983 §7 ranges; RFC 5761 §4 for RTCP (packet types 192-223 as the second byte)."""
    classify = kernels.demux.classify
    expected = {
        b"": demux_py.OTHER,
        b"\x00\x01": demux_py.STUN,
        b"\x03": demux_py.STUN,
        b"\x04": demux_py.OTHER,
        b"\x13": demux_py.OTHER,
        b"\x14\xfe": demux_py.DTLS,
        b"\x3f": demux_py.DTLS,
        b"\x40": demux_py.OTHER,
        b"\x7f": demux_py.OTHER,
        b"\x80": demux_py.RTP,
        b"\x80\x60": demux_py.RTP,
        b"\x80\xbf": demux_py.RTP,
        b"\x81\xc0": demux_py.RTCP,
        b"\x80\xc8\x00\x06": demux_py.RTCP,
        b"\xbf\xdf": demux_py.RTCP,
        b"\x80\xe0": demux_py.RTP,
        b"\xc0\xc8": demux_py.OTHER,
        b"\xff": demux_py.OTHER,
    }
    assert {data: classify(data) for data in expected} == expected


@given(st.binary(max_size=4))
def test_the_compiled_classifier_is_the_spec(data: bytes) -> None:
    assert cython_ext.demux.classify(data) == demux_py.classify(data)


def test_the_estimator_kernel_speaks_of_states_and_drops_as_its_spec() -> None:
    assert (
        cython_ext.bandwidth_estimator.NORMAL,
        cython_ext.bandwidth_estimator.OVERUSING,
        cython_ext.bandwidth_estimator.UNDERUSING,
        cython_ext.bandwidth_estimator.STALE,
        cython_ext.bandwidth_estimator.UNKNOWN_PACKETS,
    ) == (NORMAL, OVERUSING, UNDERUSING, STALE, UNKNOWN_PACKETS)
    assert cython_ext.bandwidth_estimator.Probe._fields == Probe._fields
    assert cython_ext.bandwidth_estimator.Estimate._fields == Estimate._fields
    assert cython_ext.bandwidth_estimator.Estimate._field_defaults == Estimate._field_defaults
