"""sfu.rtp.fastpath must hand out the compiled kernels; a silent fallback to Python fails here."""

import inspect
import os
import subprocess
import sys
from types import ModuleType

import cython_ext.datapath
import cython_ext.fanout
import cython_ext.forwarder
import cython_ext.history as history
import cython_ext.rtp
import sfu.media.fanout_py
import sfu.media.forwarder_py
import sfu.rtp.rtp_py
import sfu.webrtc.datapath_py
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.history_py import PacketHistory as spec_history
from sfu.media.receiver import TrackReceiver
from sfu.rtp import fastpath
from tests.support.sinks import Sink

RTP_NAMES = ("parse_rtp", "vp8_descriptor")
FORWARDER_NAMES = (
    "Forwarder",
    "NO_LAYER",
    "DROP_OTHER_LAYER",
    "DROP_WAIT_KEYFRAME",
    "DROP_PAUSED",
    "DROP_TOO_OLD",
    "NEEDS_SWITCH",
)


def _expected() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    """The rtp, forwarder, fanout and datapath modules sfu.rtp.fastpath should export."""
    if os.environ.get("SFU_NO_EXTENSIONS") == "1":
        assert fastpath.IMPLEMENTATION == "python"
        return (
            sfu.rtp.rtp_py,
            sfu.media.forwarder_py,
            sfu.media.fanout_py,
            sfu.webrtc.datapath_py,
        )
    assert fastpath.IMPLEMENTATION == "cython"
    return cython_ext.rtp, cython_ext.forwarder, cython_ext.fanout, cython_ext.datapath


def test_fastpath_uses_the_selected_implementation() -> None:
    rtp, forwarder, fanout, datapath = _expected()
    for name in RTP_NAMES:
        assert getattr(fastpath, name) is getattr(rtp, name)
    for name in FORWARDER_NAMES:
        assert getattr(fastpath, name) is getattr(forwarder, name)
    assert fastpath.fan_out is fanout.fan_out
    expected_history = history.PacketHistory if fanout is cython_ext.fanout else spec_history
    assert fastpath.PacketHistory is expected_history
    assert (fastpath.Datapath, fastpath.Peer) == (datapath.Datapath, datapath.Peer)


def test_downtracks_forward_with_the_selected_forwarder() -> None:
    """What the packet path really runs: a DownTrack built as the node builds it."""
    line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=1), (), 0xABC)
    receiver = TrackReceiver(
        "T", line, send_rtcp=lambda _: True, local_ssrc=1, counters=MediaCounters()
    )
    downtrack = DownTrack(
        receiver,
        Sink(connected=False),
        line,
        initial_layer=0,
        counters=MediaCounters(),
        on_layer=lambda _: None,
    )
    assert type(downtrack.forwarder) is _expected()[1].Forwarder


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SFU_NO_EXTENSIONS"} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=False
    )


def test_compiled_is_the_default_and_the_env_var_selects_python() -> None:
    code = "from sfu.rtp import fastpath; print(fastpath.IMPLEMENTATION, fastpath.Forwarder)"
    assert _run(code).stdout.split() == ["cython", "<class", "'cython_ext.forwarder.Forwarder'>"]
    assert _run(code, SFU_NO_EXTENSIONS="1").stdout.split() == [
        "python",
        "<class",
        "'sfu.media.forwarder_py.Forwarder'>",
    ]


MISSING = "the compiled kernels (cython_ext.rtp, .forwarder, .fanout, .history, .datapath) are"


def test_missing_compiled_module_is_a_loud_import_error() -> None:
    for name in ("rtp", "forwarder", "fanout", "history", "datapath"):
        module = f"cython_ext.{name}"
        blocked = f"import sys; sys.modules[{module!r}] = None; import sfu.rtp.fastpath"
        result = _run(blocked)
        assert result.returncode != 0
        assert f"ImportError: {MISSING}" in result.stderr, module
        assert _run(blocked, SFU_NO_EXTENSIONS="1").returncode == 0


def test_both_implementations_take_the_same_parameters() -> None:
    """Callers may pass keywords, so the compiled signatures must not drift from the spec.

    (Forwarder.__init__ has no introspectable signature: tests/media/test_forwarder.py builds
    both with every keyword.)
    """
    pairs = [
        (getattr(cython_ext.rtp, n), getattr(sfu.rtp.rtp_py, n))
        for n in ("parse_rtp", "rewrite_rtp", "vp8_descriptor")
    ]
    pairs += [
        (getattr(cython_ext.forwarder.Forwarder, n), getattr(sfu.media.forwarder_py.Forwarder, n))
        for n in ("forward", "switch", "pause")
    ]
    pairs += [
        (getattr(history.PacketHistory, n), getattr(spec_history, n))
        for n in ("put", "forget_before", "answer")
    ]
    pairs += [
        (getattr(cython_ext.datapath.Peer, n), getattr(sfu.webrtc.datapath_py.Peer, n))
        for n in ("set_keys", "set_destination", "send", "close")
    ]
    pairs += [
        (getattr(cython_ext.datapath.Datapath, n), getattr(sfu.webrtc.datapath_py.Datapath, n))
        for n in ("peer", "bind", "unbind", "last_received_ms", "on_readable")
    ]
    for compiled, spec in pairs:
        assert list(inspect.signature(compiled).parameters) == list(
            inspect.signature(spec).parameters
        )
