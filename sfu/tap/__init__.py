"""The audio tap: a room's audio, decoded, streamed to a bot over a WebSocket (docs/tap.md).

Only a room with a tap decodes anything: the tap subscribes to the room's audio tracks as a
subscriber would (a down track whose sink is the tap), so the forwarding path is unchanged.
PyAV and numpy are imported by ``sfu.tap.audio`` only, when the first tap starts.
"""
