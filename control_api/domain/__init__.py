"""Control-plane domain: plain values and pure decisions, free of FastAPI and Redis."""
