"""gunicorn settings for both web process types (`-c python:ivr_gateway.gunicorn_config`).

- Prometheus' multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (the Procfile sets one
  directory per process type), the directory is emptied when gunicorn starts (figures of a
  previous run would be added to this one's) and a dead worker's live files are let go.
- each worker warmed up (templates compiled, a database connection open) before it takes its
  first request (ivr_gateway/warm_up.py).
- gunicorn's own lines (booting, worker timeouts) in the gateway's LOG_FORMAT, through the root
  logger the app's records use too; no access log (the app logs each request itself, without
  the query string).

Workers, threads, timeouts and the bind address stay on the Procfile's command lines, where they
differ between ``web_twilio`` and ``web``.
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


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the app: warm it up before it accepts a request."""
    from flask import Flask

    from ivr_gateway.warm_up import warm_up

    if isinstance(worker.wsgi, Flask):
        warm_up(worker.wsgi)


logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"gateway": {"()": "ivr_gateway.log_format.formatter_for",
                               "log_format": os.environ.get("LOG_FORMAT") or "json"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "gateway",
                            "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
