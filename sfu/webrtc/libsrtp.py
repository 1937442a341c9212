"""pylibsrtp's private handles, for the compiled datapath to call libsrtp directly.

The datapath uses pylibsrtp's own copy of libsrtp (no second one linked), through the function
pointers of its cffi binding and the ``srtp_t`` inside each ``Session``. Both are private to
pylibsrtp 1.0.0: ``tests/sfu/webrtc/test_aiortc_internals.py`` pins them.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

_FUNCTIONS = ("srtp_protect", "srtp_protect_rtcp", "srtp_unprotect", "srtp_unprotect_rtcp")


def functions() -> tuple[int, int, int, int]:
    """Addresses of protect, protect_rtcp, unprotect and unprotect_rtcp:
    ``srtp_err_status_t f(srtp_t, void *packet, int *length)``."""
    protect, protect_rtcp, unprotect, unprotect_rtcp = (
        int(ffi.cast("uintptr_t", ffi.addressof(lib, name))) for name in _FUNCTIONS
    )
    return protect, protect_rtcp, unprotect, unprotect_rtcp


def session_pointer(session: pylibsrtp.Session) -> int:
    """The ``srtp_t`` of a session; valid while the session object lives."""
    handle: Any = session._srtp
    return int(ffi.cast("uintptr_t", handle[0]))
