"""The one table of kernels: each layer hands out the implementation it selects, the compiled one
unless SFU_NO_EXTENSIONS=1; a silent fallback to Python fails here, and both columns agree on
their signatures."""

import inspect
import os
import subprocess
import sys

import sfu.media.counters
import sfu.media.kernels
import sfu.rtp.kernels
import sfu.rtp.twcc
import sfu.webrtc.kernels
from cython_ext.twins import IMPLEMENTATION, TWINS, load
from sfu.media.arrivals_py import RECEIVED
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.egress import SubscriberFeedback
from sfu.media.ingress import PublisherIngress
from sfu.rtp.rtcp import build_transport_feedback
from sfu.rtp.twcc import TransportFeedback
from tests.support.packets import MID_ID, vp8_packet
from tests.support.sinks import Sink

# Each layer's kernels module: the names it takes from which kernel.
LAYERS = {
    sfu.rtp.kernels: {
        "rtp": ("parse_rtp", "vp8_descriptor"),
        "demux": ("classify",),
        "twcc": ("read_feedback",),
    },
    sfu.media.counters: {"counts": ("Counts",)},
    sfu.media.kernels: {
        "packet": ("RtpPacket",),
        "stats": ("StreamStats",),
        "store": ("PacketStore",),
        "history": ("PacketHistory",),
        "forwarder": ("Forwarder",),
        "fanout": ("fan_out",),
        "arrivals": ("Arrivals",),
        "bandwidth_estimator": ("BandwidthEstimator",),
        "feedback": ("FeedbackReader",),
        "ingest": ("Ingest", "Layer"),
    },
    sfu.webrtc.kernels: {"datapath": ("Datapath", "Peer"), "sendlog": ("SendLog",)},
}


def test_the_selected_implementation_is_the_environment_s() -> None:
    expected = "python" if os.environ.get("SFU_NO_EXTENSIONS") == "1" else "cython"
    assert expected == IMPLEMENTATION


def test_each_layer_hands_out_the_selected_implementation() -> None:
    for layer, kernels in LAYERS.items():
        for kernel, names in kernels.items():
            module = load(kernel, IMPLEMENTATION)
            for name in names:
                assert getattr(layer, name) is getattr(module, name), (layer.__name__, name)
    assert {k for kernels in LAYERS.values() for k in kernels} == set(TWINS)


def test_the_packet_path_runs_the_selected_kernels() -> None:
    """What the node really runs: a publish connection's ingest, a track's layers and a
    subscription built as the node builds them, down to the packet they share."""
    counters = MediaCounters()
    ingress = PublisherIngress(counters, remb_bps=1_000_000)
    line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(mid=MID_ID), (), 0xABC)
    receiver = ingress.add_track("T", line)
    downtrack = DownTrack(
        receiver, Sink(), line, initial_layer=0, counters=counters, on_layer=lambda _: None
    )
    receiver.downtracks.append(downtrack)
    assert type(ingress.on_rtp.__self__) is load("ingest").Ingest  # type: ignore[attr-defined]
    assert type(counters).__mro__[1] is load("counts").Counts
    layer = receiver.layers[0]
    assert type(layer) is load("ingest").Layer
    assert type(layer.stats) is load("stats").StreamStats
    assert type(layer.store) is load("store").PacketStore
    assert type(downtrack.forwarder) is load("forwarder").Forwarder
    assert type(downtrack.forwarder.history) is load("history").PacketHistory
    packet = vp8_packet(
        seq=1, ts=0, ssrc=7, picture_id=0, tl0picidx=0, keyframe=True, start=True, marker=True,
        body=b"x",
    )  # fmt: skip
    ingress.on_rtp(packet, 0)
    stored = layer.store.get(1)
    assert type(stored) is load("packet").RtpPacket and stored.data is packet
    assert counters.packets_out == downtrack.packets_sent == 1


def test_transport_cc_feedback_runs_the_selected_kernels() -> None:
    """A subscriber's feedback, read and matched as the node does: the datagram goes to the
    selected feedback reader (the one the datapath calls in C), every reported packet through the
    selected twcc reader and arrivals kernel, and the feedback through the selected estimator,
    not their twins."""
    feedback = SubscriberFeedback(MediaCounters(), lambda _: None)
    reader = feedback.on_rtcp.__self__  # type: ignore[attr-defined]
    assert type(reader) is load("feedback").FeedbackReader
    log = sfu.webrtc.kernels.SendLog(5)
    feedback.use_send_log(log)
    assert feedback.estimator is not None
    assert type(feedback.estimator) is load("bandwidth_estimator").BandwidthEstimator
    assert type(feedback.estimator.arrivals) is load("arrivals").Arrivals
    assert sfu.rtp.twcc.read_feedback is load("twcc").read_feedback
    for ms in range(10):
        log.record(1_000, ms)
    report = TransportFeedback(1, 2, 0, 7, 0, tuple(1_000 * i for i in range(10)))
    feedback.on_rtcp(build_transport_feedback(report), 50)
    assert feedback.send_side and feedback.estimator.arrivals.received == 10
    assert log.sent(9) is not None and log.sent(9)[4] == RECEIVED


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SFU_NO_EXTENSIONS"} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=False
    )


def test_compiled_is_the_default_and_the_env_var_selects_python() -> None:
    code = "from sfu.media import kernels; print(kernels.Forwarder)"
    assert _run(code).stdout.split() == ["<class", "'cython_ext.forwarder.Forwarder'>"]
    assert _run(code, SFU_NO_EXTENSIONS="1").stdout.split() == [
        "<class",
        "'sfu.media.forwarder_py.Forwarder'>",
    ]


def test_missing_compiled_module_is_a_loud_import_error() -> None:
    layer_of = {kernel: layer.__name__ for layer, kernels in LAYERS.items() for kernel in kernels}
    for kernel, (compiled, _) in TWINS.items():
        blocked = f"import sys; sys.modules[{compiled!r}] = None; import {layer_of[kernel]}"
        result = _run(blocked)
        assert result.returncode != 0
        missing = (
            f"ImportError: the compiled kernel {compiled} is not built: run `make install` or "
            "`python setup.py build_ext --inplace`, or set SFU_NO_EXTENSIONS=1 to run the "
            "pure-Python kernels"
        )
        assert missing in result.stderr, compiled
        assert _run(blocked, SFU_NO_EXTENSIONS="1").returncode == 0


def test_both_implementations_take_the_same_parameters() -> None:
    """Callers may pass keywords, so the compiled signatures must not drift from the spec.

    (Forwarder.__init__ has no introspectable signature: tests/sfu/media/test_forwarder.py builds
    both with every keyword.)
    """
    names = {
        "rtp": ("parse_rtp", "rewrite_rtp", "vp8_descriptor"),
        "demux": ("classify",),
        "twcc": ("read_feedback",),
        "arrivals": ("Arrivals.take",),
        "bandwidth_estimator": (
            *(f"BandwidthEstimator.{n}" for n in ("on_feedback", "on_probe_sent")),
        ),
        "feedback": ("FeedbackReader.on_rtcp", "FeedbackReader.take"),
        "counts": ("Counts.add_drop", "Counts.dropped"),
        "packet": (),  # RtpPacket.__init__: built positionally by both Layer kernels
        "stats": ("StreamStats.update", "StreamStats.on_sender_report", "StreamStats.report"),
        "store": ("PacketStore.put", "PacketStore.get", "PacketStore.after"),
        "forwarder": (
            *(f"Forwarder.{n}" for n in ("forward", "send", "rewrite", "switch", "pause")),
        ),
        "history": ("PacketHistory.put", "PacketHistory.forget_before", "PacketHistory.answer"),
        "fanout": ("fan_out",),
        "sendlog": tuple(f"SendLog.{n}" for n in ("stamp", "record", "sent", "judge")),
        "ingest": (
            *(f"Layer.{n}" for n in ("bind", "receive")),
            *(f"Ingest.{n}" for n in ("set_extension_ids", "route", "forget", "on_rtp")),
        ),
        "datapath": (
            *(
                f"Peer.{n}"
                for n in ("set_keys", "set_send_log", "set_destination", "send", "close")
            ),
            *(
                f"Datapath.{n}"
                for n in (
                    "peer",
                    "bind",
                    "unbind",
                    "last_received_ms",
                    "on_readable",
                    "hold_sends",
                    "release_sends",
                )
            ),
        ),
    }
    assert set(names) == set(TWINS)
    for kernel, paths in names.items():
        for path in paths:
            compiled, spec = (_attribute(load(kernel, i), path) for i in ("cython", "python"))
            assert list(inspect.signature(compiled).parameters) == list(
                inspect.signature(spec).parameters
            ), (kernel, path)


def _attribute(module: object, path: str) -> object:
    for name in path.split("."):
        module = getattr(module, name)
    return module
