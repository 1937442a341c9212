"""The load tool: synthetic participants that encode and decode with aiortc."""

# Imported whole (with PyAV) before any module here imports sfu.webrtc, which would otherwise
# load aiortc without its codecs (sfu/webrtc/nocodecs.py) and leave the tool unable to encode.
import aiortc  # noqa: F401
