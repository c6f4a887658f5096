"""gunicorn settings for both web process types (`-c python:ivr_gateway.gunicorn_config`).

Only what Prometheus' multiprocess mode needs: with PROMETHEUS_MULTIPROC_DIR set (the Procfile
sets one directory per process type), the directory is emptied when gunicorn starts (figures of
a previous run would be added to this one's) and a dead worker's live files are let go. Workers,
threads, timeouts and the bind address stay on the Procfile's command lines, where they differ
between ``web_twilio`` and ``web``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    """Before the first worker: an empty metrics directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was recycled: its counters stay summed, its live gauges go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
