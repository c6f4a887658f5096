"""How every process writes its log: one JSON object a line (LOG_FORMAT=json), or plain text.

JSON is the default outside the demo: a log platform indexes the fields (request_id, call_sid,
message_sid, status, duration_ms) without parsing prose. Only the fields named in
``CONTEXT_FIELDS`` are written besides the message: a stray ``extra=`` holding a form (a PIN, a
code, a name) is never dumped wholesale. Messages themselves carry ids and counts, never PINs,
codes or full names (the call flow masks PINs in its evidence; tests/operations check the lines).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("json", "text")

# The context a request or a job adds to its records (see ivr_gateway/operations/request_log.py).
CONTEXT_FIELDS = ("request_id", "kind", "method", "path", "status", "duration_ms", "call_sid",
                  "message_sid", "remote_addr")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message and the known context."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None and value != "":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The demo's readable lines, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Time, level, logger, message [request id]."""
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of a LOG_FORMAT value."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str, *, level: int = logging.INFO) -> None:
    """Send the root logger's records to stderr in the chosen format (replacing its handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
