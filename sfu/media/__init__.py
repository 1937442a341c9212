"""The packet path: publisher ingest, per-subscriber forwarding, RTCP. No aiortc, no sockets."""
