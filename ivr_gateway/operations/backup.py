"""Backups of the gateway's database: SQLite's online backup API, or pg_dump for PostgreSQL.

SQLite: ``sqlite3.Connection.backup`` copies a consistent snapshot page by page while the
gateway keeps running (a file copy of a live database can catch a half-written page).
PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot; restored with pg_restore into
an empty database). The connection's password goes to pg_dump in its environment, never on its
command line. Restoring is described, and tested, in SECURITY.md ("Backup and restore").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup could not be made; the message says why."""


def libpq_environment(database_url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for pg_dump, pg_restore and psql."""
    url = make_url(database_url)
    values = {"PGHOST": url.host, "PGPORT": str(url.port) if url.port else None,
              "PGUSER": url.username, "PGPASSWORD": url.password, "PGDATABASE": url.database}
    return {**os.environ, **{key: value for key, value in values.items() if value}}


def back_up(database_url: str, destination: Path) -> None:
    """Write a backup of the database to `destination` (a new file)."""
    if destination.exists():
        raise BackupError(f"{destination} exists; name a new file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source_path = url.database
        if not source_path or not Path(source_path).exists():
            raise BackupError(f"no SQLite database at {source_path!r}")
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(destination)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"cannot back up a {url.get_backend_name()} database")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (the PostgreSQL client tools)")
    result = subprocess.run(  # noqa: S603 - pg_dump with arguments we made
        [pg_dump, "--format=custom", "--no-owner", "--file", str(destination)],
        env=libpq_environment(database_url), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        destination.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
