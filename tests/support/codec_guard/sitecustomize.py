"""Loaded by a node under test (via PYTHONPATH): records every codec aiortc creates in it.

aiortc creates a decoder or encoder only through these two functions; a node that forwards
packets untouched must never call them. Each call appends a line to $SFU_CODEC_GUARD_LOG.
"""

import os
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender

_LOG = os.environ["SFU_CODEC_GUARD_LOG"]


def _recording(what: str, create: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapper(codec: Any) -> Any:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{what} {codec.mimeType}\n")
        return create(codec)

    return wrapper


aiortc.rtcrtpreceiver.get_decoder = _recording("decoder", aiortc.rtcrtpreceiver.get_decoder)
aiortc.rtcrtpsender.get_encoder = _recording("encoder", aiortc.rtcrtpsender.get_encoder)
