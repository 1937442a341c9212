"""Build the Cython kernels of cython_ext/, and the load tool's receive path (load_tests/), with
the package (metadata lives in pyproject.toml).

SFU_CY_DEBUG=1 builds them with bounds checks and line tracing, for debugging and coverage.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("SFU_CY_DEBUG") == "1"

extensions = [
    Extension(
        f"{package}.{pyx.stem}",
        [str(pyx)],
        extra_compile_args=["-O2"] if not DEBUG else ["-O0", "-g"],
        define_macros=[("CYTHON_TRACE_NOGIL", "1")] if DEBUG else [],
    )
    for package in ("cython_ext", "load_tests")
    for pyx in sorted(Path(package).glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": False,
            "cdivision": True,
            "linetrace": DEBUG,
        },
    )
)
