"""How every process we ship serves HTTP: uvicorn with bounds on what a client may make it
hold, signal handling, and logging."""
