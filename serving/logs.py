"""Logging for node and control-API processes: text for people, JSON lines for log pipelines.

``SFU_LOG_FORMAT=json`` makes every record one JSON object (time, level, logger, message, and the
exception if any), which Loki/ELK/Cloud Logging ingest without parsing rules.
"""

from __future__ import annotations

import json
import logging
import os
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(*, level: str | None = None, fmt: str | None = None) -> None:
    """Set up the root logger from arguments or SFU_LOG_LEVEL / SFU_LOG_FORMAT (text|json)."""
    handler = logging.StreamHandler()
    chosen = fmt or os.environ.get("SFU_LOG_FORMAT", "text")
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(
        level=(level or os.environ.get("SFU_LOG_LEVEL", "INFO")).upper(),
        handlers=[handler],
        force=True,
    )
