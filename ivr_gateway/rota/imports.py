"""Rota imports from the dashboard: the uploaded file kept aside, checked for rows already in
the past, then imported by a background job that reports its progress.

Why a thread: a 10,000-row file takes about a minute, longer than a web worker may spend on one
request (gunicorn kills it at 30 s). The upload stores the file and a `rota_imports` row and
starts a thread in the same process, which imports the file in its own database session and
records how far it got; the page polls that row. Under gunicorn the thread lives in the worker
process that took the upload: if that worker is restarted mid-import, the import (one
transaction) is rolled back and the row stays 'running' (see `STALLED_AFTER`).

Progress (rows_done) is written every PROGRESS_EVERY rows from a second connection. On SQLite the
import's own transaction holds the database's only write lock, so there only the start and the
end are recorded; PostgreSQL (production) shows the count climb.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.rota.csv_import import ImportReport, import_rota_csv
from ivr_gateway.rota.models import RotaImport, RotaImportState

log = logging.getLogger(__name__)

PROGRESS_EVERY = 250  # rows between progress writes
STALLED_AFTER = timedelta(minutes=10)  # a running import silent this long has lost its worker
KEEP_UPLOADS = 24 * 3600  # seconds an unconfirmed upload is kept
_TOKEN = re.compile(r"[0-9a-f]{32}")


def store_upload(folder: Path, raw: bytes) -> str:
    """Keep an uploaded file under a random token (not guessable; bound to the session by the
    caller); files left unconfirmed for a day are removed on the way."""
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - KEEP_UPLOADS
    for old in folder.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    (folder / f"{token}.csv").write_bytes(raw)
    return token


def upload_path(folder: Path, token: str) -> Path | None:
    """The stored file of a token, or None if the token is malformed or the file is gone."""
    if not _TOKEN.fullmatch(token):
        return None
    path = folder / f"{token}.csv"
    return path if path.exists() else None


def queue_import(session: Session, *, who: str, file_name: str, rows_total: int,
                 skip_bad_rows: bool, dry_run: bool, now: datetime) -> RotaImport:
    """A queued import job for an uploaded file."""
    job = RotaImport(who=who, file_name=file_name[:200], state=RotaImportState.QUEUED,
                     skip_bad_rows=skip_bad_rows, dry_run=dry_run, rows_total=rows_total,
                     rows_done=0, summary=None, created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def report_summary(report: ImportReport) -> dict[str, Any]:
    """An import report as plain JSON: the sentence, counts per kind, refused rows, notes."""
    return {
        "outcome": report.outcome(),
        "stored": report.stored,
        "dry_run": report.dry_run,
        "rows": report.rows,
        "imported": report.imported_rows,
        "refused": len(report.bad_rows),
        "counts": {kind: {change: counter[change]
                          for change in ("created", "updated", "unchanged")}
                   for kind, counter in report.counts.items()},
        "problems": [{"row": p.row, "column": p.column, "message": p.message}
                     for p in report.problems],
        "warnings": list(report.warnings),
    }


def run_import(database: Database, settings: Settings, clock: Clock, import_id: int,
               path: Path) -> None:
    """Import a queued job's file in its own sessions, recording progress and the outcome."""
    with database.unit_of_work() as session:
        job = session.get(RotaImport, import_id)
        if job is None or job.state != RotaImportState.QUEUED:
            return
        job.state, job.updated_at = RotaImportState.RUNNING, clock.now()
        who, file_name = job.who, job.file_name
        skip_bad_rows, dry_run = job.skip_bad_rows, job.dry_run
    try:
        raw = path.read_bytes()
        path.unlink(missing_ok=True)  # read whole: a person's data is not left lying about
        with database.unit_of_work() as session:
            report = import_rota_csv(
                session, raw, settings, clock.now(), f"{who} csv:{file_name}"[:100],
                skip_bad_rows, dry_run=dry_run, progress=_progress_writer(
                    database, clock, import_id))
        with database.unit_of_work() as session:
            job = session.get_one(RotaImport, import_id)
            job.state, job.updated_at = RotaImportState.DONE, clock.now()
            job.rows_total = job.rows_done = report.rows
            job.summary = report_summary(report)
    except Exception as error:  # the page must say it failed, whatever the reason
        log.exception("rota import %s failed", import_id)
        with database.unit_of_work() as session:
            job = session.get_one(RotaImport, import_id)
            job.state, job.updated_at = RotaImportState.FAILED, clock.now()
            job.summary = {"error": f"The import stopped: {type(error).__name__}. Nothing "
                                    "was stored; upload the file again, and if it fails "
                                    "again tell your administrator."}
    finally:
        path.unlink(missing_ok=True)


def _progress_writer(database: Database, clock: Clock, import_id: int
                     ) -> Callable[[int, int], None] | None:
    if database.engine.dialect.name == "sqlite":
        return None  # the import's transaction holds SQLite's one write lock (module docstring)

    def progress(done: int, total: int) -> None:
        if done % PROGRESS_EVERY and done != total:
            return
        with database.unit_of_work() as session:
            job = session.get_one(RotaImport, import_id)
            job.rows_done, job.rows_total, job.updated_at = done, total, clock.now()
    return progress


def start_import(database: Database, settings: Settings, clock: Clock, import_id: int,
                 path: Path) -> threading.Thread:
    """Run a queued import on a background thread of this process (module docstring)."""
    thread = threading.Thread(target=run_import, name=f"rota-import-{import_id}",
                              args=(database, settings, clock, import_id, path), daemon=True)
    thread.start()
    return thread


def import_status(job: RotaImport, now: datetime) -> dict[str, Any]:
    """What the page's poll reads: state, rows done of total, and whether it seems stalled."""
    stalled = (job.state == RotaImportState.RUNNING and now - job.updated_at > STALLED_AFTER)
    return {"id": job.id, "state": job.state.value, "rows_done": job.rows_done,
            "rows_total": job.rows_total, "stalled": stalled,
            "finished": job.state in (RotaImportState.DONE, RotaImportState.FAILED)}


def recent_imports(session: Session, limit: int = 10) -> list[RotaImport]:
    """The latest imports, newest first."""
    return list(session.scalars(select(RotaImport).order_by(RotaImport.id.desc()).limit(limit)))
