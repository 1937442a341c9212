"""What a node tells operators: Prometheus metrics read from a snapshot of it, and the load its
heartbeat reports (logs are set up by `serving.logs`)."""
