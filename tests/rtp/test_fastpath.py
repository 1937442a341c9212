"""sfu.rtp.fastpath must hand out the compiled kernels; a silent fallback to Python fails here."""

import inspect
import os
import subprocess
import sys
from types import ModuleType

import cython_ext.rtp
import sfu.rtp.kernels_py
from sfu.rtp import fastpath

NAMES = ("parse_rtp", "rewrite_rtp", "vp8_descriptor")


def test_fastpath_uses_the_selected_implementation() -> None:
    expected: ModuleType
    if os.environ.get("SFU_NO_EXTENSIONS") == "1":
        assert fastpath.IMPLEMENTATION == "python"
        expected = sfu.rtp.kernels_py
    else:
        assert fastpath.IMPLEMENTATION == "cython"
        expected = cython_ext.rtp
    for name in NAMES:
        assert getattr(fastpath, name) is getattr(expected, name)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SFU_NO_EXTENSIONS"} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=False
    )


def test_compiled_is_the_default_and_the_env_var_selects_python() -> None:
    code = "from sfu.rtp import fastpath; print(fastpath.IMPLEMENTATION)"
    assert _run(code).stdout.strip() == "cython"
    assert _run(code, SFU_NO_EXTENSIONS="1").stdout.strip() == "python"


def test_missing_compiled_module_is_a_loud_import_error() -> None:
    blocked = "import sys; sys.modules['cython_ext.rtp'] = None; import sfu.rtp.fastpath"
    result = _run(blocked)
    assert result.returncode != 0
    assert "ImportError: the compiled RTP kernels (cython_ext.rtp) are not built" in result.stderr
    assert _run(blocked, SFU_NO_EXTENSIONS="1").returncode == 0


def test_both_implementations_take_the_same_parameters() -> None:
    """Callers may pass keywords, so the compiled signatures must not drift from the spec."""
    for name in NAMES:
        compiled = inspect.signature(getattr(cython_ext.rtp, name)).parameters
        assert list(compiled) == list(
            inspect.signature(getattr(sfu.rtp.kernels_py, name)).parameters
        )
