"""aiortc without its codecs: the node imports aiortc but never PyAV.

Why this exists. ``import aiortc.<anything>`` first runs ``aiortc/__init__.py``, which imports
every module of the package; there is no way to import only the submodules we use. Two kinds of
module then pull in PyAV (``av``, ~20 MB resident, ~50 modules):

* ``aiortc.codecs`` imports the encoders and decoders (``codecs/vpx.py``, ``h264.py``,
  ``opus.py``, ``g711.py``, ``g722.py``), all built on PyAV, just to define the codec table
  ``RTCPeerConnection`` negotiates with;
* ``aiortc.rtp``, ``mediastreams``, ``rtcrtpreceiver``, ``rtcrtpsender`` and ``codecs.base``
  bind a few PyAV names at import (``AudioFrame``, ``VideoFrame``, ``av.frame.Frame``,
  ``av.packet.Packet``, ``import av``) for type hints, ``isinstance`` tests and frame
  creation, which run only when aiortc decodes or encodes.

The node never does either: its receivers and senders are never started (``sfu/webrtc/peer.py``),
packets go through the tap. So while aiortc is first imported, ``import_aiortc_without_codecs``
puts a finder in front of ``sys.meta_path`` that answers

* ``aiortc.codecs`` with a module holding the same codec table, header extensions and
  ``get_capabilities``/``is_rtx`` as aiortc's (copied; ``tests/sfu/webrtc/test_nocodecs.py``
  compares them with the pinned version's), whose ``get_encoder``, ``get_decoder`` and
  ``depayload`` raise ``CodecsNotLoaded``; its submodules (``codecs.base``) are aiortc's own;
* ``av``, ``av.frame``, ``av.packet`` with placeholders holding those few names, classes that
  cannot be instantiated.

The finder and the placeholders are gone once aiortc is imported: a later ``import av`` gets the
real PyAV. A process that encodes or decodes with aiortc (the load tool, the test suite's
clients) imports aiortc before ``sfu.webrtc``; aiortc is then already whole and this does
nothing. Which one a process got is ``aiortc_has_codecs()``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# The PyAV names aiortc binds at import, by module (the contract test reads aiortc's sources).
AV_NAMES: dict[str, tuple[str, ...]] = {
    "av": ("AudioFrame", "VideoFrame"),
    "av.frame": ("Frame",),
    "av.packet": ("Packet",),
}


class CodecsNotLoaded(RuntimeError):
    """aiortc was asked to encode, decode or depayload in a process that loaded it without."""


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise CodecsNotLoaded(
        "aiortc was imported without its codecs (sfu.webrtc.nocodecs): the media node never "
        "decodes or encodes. A process that does must import aiortc before sfu.webrtc."
    )


def aiortc_has_codecs() -> bool:
    """Whether this process's aiortc has its encoders and decoders (False in the media node)."""
    codecs = sys.modules.get("aiortc.codecs")
    return codecs is not None and not getattr(codecs, "_without_codecs", False)


def import_aiortc_without_codecs() -> None:
    """Import aiortc with a data-only ``aiortc.codecs`` and no PyAV; a no-op if aiortc is
    already imported (whole, by a process that encodes)."""
    if "aiortc" in sys.modules:
        return
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    try:
        import aiortc  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
        for name in AV_NAMES:
            if sys.modules.get(name) in finder.placeholders:
                del sys.modules[name]


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``aiortc.codecs`` and the PyAV modules aiortc imports; nothing else."""

    def __init__(self) -> None:
        self.placeholders: list[ModuleType] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "aiortc.codecs" and path:
            # aiortc's own codecs/ stays the package's path: codecs.base is imported from it.
            spec = importlib.util.spec_from_loader(fullname, self, is_package=True)
            assert spec is not None and spec.submodule_search_locations is not None
            spec.submodule_search_locations.append(str(Path(path[0]) / "codecs"))
            return spec
        if fullname in AV_NAMES:
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname == "av")
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        if module.__name__ == "aiortc.codecs":
            _fill_codecs(module)
            return
        module.__doc__ = "Placeholder for PyAV while aiortc is imported (sfu.webrtc.nocodecs)."
        for name in AV_NAMES[module.__name__]:
            setattr(module, name, type(name, (), {"__init__": _refuse, "__module__": "av"}))
        self.placeholders.append(module)


def _fill_codecs(module: ModuleType) -> None:
    """What ``aiortc/codecs/__init__.py`` defines, without importing a codec implementation.

    Runs while aiortc's package is being imported: ``aiortc.rtcrtpparameters`` (plain
    dataclasses) is importable then.
    """
    from aiortc.rtcrtpparameters import (
        ParametersDict,
        RTCRtcpFeedback,
        RTCRtpCapabilities,
        RTCRtpCodecCapability,
        RTCRtpCodecParameters,
        RTCRtpHeaderExtensionCapability,
        RTCRtpHeaderExtensionParameters,
    )

    def video(
        mime_type: str, pt: int, parameters: ParametersDict | None = None
    ) -> list[RTCRtpCodecParameters]:
        feedback = [
            RTCRtcpFeedback(type="nack"),
            RTCRtcpFeedback(type="nack", parameter="pli"),
            RTCRtcpFeedback(type="goog-remb"),
        ]
        return [
            RTCRtpCodecParameters(
                mimeType=mime_type,
                clockRate=90000,
                payloadType=pt,
                rtcpFeedback=feedback,
                parameters=parameters or {},
            ),
            RTCRtpCodecParameters(
                mimeType="video/rtx", clockRate=90000, payloadType=pt + 1, parameters={"apt": pt}
            ),
        ]

    def h264(profile_level_id: str) -> ParametersDict:
        return {
            "level-asymmetry-allowed": "1",
            "packetization-mode": "1",
            "profile-level-id": profile_level_id,
        }

    codecs: dict[str, list[RTCRtpCodecParameters]] = {
        "audio": [
            RTCRtpCodecParameters(
                mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96
            ),
            RTCRtpCodecParameters(mimeType="audio/G722", clockRate=8000, channels=1, payloadType=9),
            RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1, payloadType=0),
            RTCRtpCodecParameters(mimeType="audio/PCMA", clockRate=8000, channels=1, payloadType=8),
        ],
        "video": [
            *video("video/VP8", 97),
            *video("video/H264", 99, h264("42001f")),
            *video("video/H264", 101, h264("42e01f")),
        ],
    }
    header_extensions = {
        "audio": [
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
            ),
        ],
        "video": [
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
        ],
    }

    def is_rtx(codec: RTCRtpCodecCapability | RTCRtpCodecParameters) -> bool:
        return codec.name.lower() == "rtx"

    def get_capabilities(kind: str) -> RTCRtpCapabilities:
        """aiortc's: every codec but one RTX entry, and the kind's header extensions."""
        if kind not in codecs:
            raise ValueError(f"cannot get capabilities for unknown media {kind}")
        capabilities = []
        rtx_added = False
        for params in codecs[kind]:
            if not is_rtx(params):
                capabilities.append(
                    RTCRtpCodecCapability(
                        mimeType=params.mimeType,
                        clockRate=params.clockRate,
                        channels=params.channels,
                        parameters=params.parameters,
                    )
                )
            elif not rtx_added:
                capabilities.append(
                    RTCRtpCodecCapability(mimeType=params.mimeType, clockRate=params.clockRate)
                )
                rtx_added = True
        extensions = [RTCRtpHeaderExtensionCapability(uri=e.uri) for e in header_extensions[kind]]
        return RTCRtpCapabilities(codecs=capabilities, headerExtensions=extensions)

    module.__doc__ = "aiortc's codec table without the codecs (sfu.webrtc.nocodecs)."
    module.__dict__.update(
        CODECS=codecs,
        HEADER_EXTENSIONS=header_extensions,
        is_rtx=is_rtx,
        get_capabilities=get_capabilities,
        get_encoder=_refuse,
        get_decoder=_refuse,
        depayload=_refuse,
        _without_codecs=True,
    )
