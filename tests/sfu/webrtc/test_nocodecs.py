"""The node imports aiortc without its codecs and without PyAV (sfu/webrtc/nocodecs.py).

Each check that needs a process whose aiortc is codec-free runs a fresh interpreter: this test
process imports aiortc whole first (tests/conftest.py), for its clients.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import aiortc
import pytest

from sfu.webrtc.nocodecs import AV_NAMES

REPO = Path(__file__).resolve().parents[3]
AIORTC = Path(aiortc.__file__).parent
CODEC_IMPLEMENTATIONS = ("g711", "g722", "h264", "opus", "vpx")
# What the media node must never load: PyAV, aiortc's encoders and decoders, numpy.
NEVER_LOADED = ("av", "numpy", *(f"aiortc.codecs.{c}" for c in CODEC_IMPLEMENTATIONS))


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter from the repository; its stdout (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("entry", ["sfu.__main__", "sfu.node"])
def test_importing_the_node_loads_no_codec_machinery(entry: str) -> None:
    # sfu.__main__ is what `python -m sfu` imports (main() runs only as __main__).
    loaded = _python(
        f"""
        import sys
        import {entry}
        print(" ".join(sys.modules))
        """
    ).split()
    assert "aiortc.rtcpeerconnection" in loaded  # aiortc itself is there...
    for name in NEVER_LOADED:  # ...without PyAV, its codecs or numpy
        assert not [m for m in loaded if m == name or m.startswith(name + ".")], name


def test_codec_free_aiortc_refuses_to_code_and_leaves_av_importable() -> None:
    _python(
        """
        import sys
        import sfu.webrtc
        import aiortc.codecs, aiortc.mediastreams
        from sfu.webrtc.nocodecs import CodecsNotLoaded, aiortc_has_codecs

        assert not aiortc_has_codecs()
        vp8 = aiortc.codecs.CODECS["video"][0]
        for make in (aiortc.codecs.get_encoder, aiortc.codecs.get_decoder):
            try:
                make(vp8)
            except CodecsNotLoaded:
                pass
            else:
                raise AssertionError(make)
        try:
            aiortc.mediastreams.VideoFrame(width=2, height=2)
        except CodecsNotLoaded:
            pass
        else:
            raise AssertionError("a placeholder frame was made")
        assert "av" not in sys.modules  # the placeholders are gone: real PyAV still imports
        import av
        assert av.VideoFrame(width=2, height=2).width == 2
        """
    )


def test_a_process_that_imported_aiortc_first_keeps_its_codecs() -> None:
    _python(
        """
        import aiortc
        import sfu.node
        import aiortc.codecs
        from sfu.webrtc.nocodecs import aiortc_has_codecs

        assert aiortc_has_codecs()
        aiortc.codecs.get_encoder(aiortc.codecs.CODECS["video"][0])
        """
    )


def test_the_load_tool_keeps_aiortcs_codecs() -> None:
    # load_tests.sdp reuses sfu.webrtc.sdp: importing it first must not strip the tool's codecs.
    _python(
        """
        import load_tests.sdp
        import load_tests.__main__
        from sfu.webrtc.nocodecs import aiortc_has_codecs

        assert aiortc_has_codecs()
        """
    )


def test_the_codec_table_is_the_pinned_aiortcs() -> None:
    # Compared in a fresh process: the suite's configure_aiortc() edits aiortc's table in place.
    _python(
        """
        from types import ModuleType
        import aiortc.codecs as real
        from sfu.webrtc.nocodecs import _fill_codecs

        ours = ModuleType("ours")
        _fill_codecs(ours)
        assert ours.CODECS == real.CODECS, (ours.CODECS, real.CODECS)
        assert ours.HEADER_EXTENSIONS == real.HEADER_EXTENSIONS
        for kind in ("audio", "video"):
            assert ours.get_capabilities(kind) == real.get_capabilities(kind), kind
        for codec in real.CODECS["audio"] + real.CODECS["video"]:
            assert ours.is_rtx(codec) == real.is_rtx(codec)
        """
    )


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    tree = ast.parse(path.read_text())
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _aiortc_modules_without_codecs() -> list[Path]:
    """The aiortc modules a codec-free import runs: all but contrib/ and the implementations."""
    replaced = {AIORTC / "codecs" / f"{c}.py" for c in ("__init__", *CODEC_IMPLEMENTATIONS)}
    return [
        path
        for path in sorted(AIORTC.rglob("*.py"))
        if "contrib" not in path.relative_to(AIORTC).parts and path not in replaced
    ]


def test_aiortc_binds_only_the_placeholder_pyav_names() -> None:
    bound: dict[str, set[str]] = {}
    for path in _aiortc_modules_without_codecs():
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] == "av":
                    bound.setdefault(node.module, set()).update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "av":
                        assert alias.name == "av" and alias.asname is None, path
    assert bound == {module: set(names) for module, names in AV_NAMES.items()}


def test_aiortc_reads_only_what_the_codec_free_table_defines() -> None:
    provided = {
        "CODECS",
        "HEADER_EXTENSIONS",
        "is_rtx",
        "get_capabilities",
        "get_encoder",
        "get_decoder",
        "depayload",
    }
    wanted: set[str] = set()
    for path in _aiortc_modules_without_codecs():
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and node.module == "codecs" and node.level == 1:
                wanted.update(a.name for a in node.names)
            if isinstance(node, ast.ImportFrom) and node.module == "aiortc.codecs":
                wanted.update(a.name for a in node.names)
    assert wanted <= provided, wanted - provided
    # codecs.base (the Encoder/Decoder ABCs) is aiortc's own, loaded with the placeholders.
    assert {n.module for n in _imports(AIORTC / "codecs" / "base.py") if n.module} == {
        "abc",
        "av.frame",
        "av.packet",
        "jitterbuffer",
    }
