"""What a node tells operators: Prometheus metrics (and structured logs, set up in __main__)."""
