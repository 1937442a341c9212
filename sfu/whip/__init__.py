"""WHIP ingest (RFC 9725) and WHEP egress: media sessions set up by one HTTP request each, for
publishers and players that speak no signaling protocol (OBS, FFmpeg, GStreamer, browsers with a
WHIP library) (docs/whip.md).

``resource`` is what both share: the HTTP side (bearer tokens, SDP bodies, the resource URL and
its PATCH/DELETE, CORS); ``ingest`` is the WHIP publisher as a room member.
"""
