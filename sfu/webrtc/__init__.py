"""The only package that imports aiortc and aioice, and the only one that touches their internals.

aiortc gives ICE, DTLS, SRTP keys and SDP; its media path (decode, encode, routing by SSRC) is
bypassed. Everything private that we use is named in ``tests/sfu/webrtc/test_aiortc_internals.py``,
which fails loudly when a pinned version changes underneath us.

aiortc is imported here, before any module of the package, without its codecs and without PyAV
(``nocodecs``): a process that only forwards never loads them.
"""

from sfu.webrtc.nocodecs import import_aiortc_without_codecs

import_aiortc_without_codecs()
