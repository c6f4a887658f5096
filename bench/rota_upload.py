"""A 10,000-row rota file through the dashboard's import job: rows per second on each engine.

    .venv/bin/python bench/rota_upload.py [DATABASE_URL]   (default: a fresh SQLite file)

Builds a file of 10,000 visits (1,000 clients with details on their first row, 300 carers),
queues it as the upload does and runs the job (ivr_gateway/rota/imports.py), timing it whole.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.rota import imports
from ivr_gateway.rota.csv_import import COLUMNS
from ivr_gateway.rota.models import RotaImport

ROWS, ADULTS, CARERS = 10_000, 1_000, 300
NOW = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def rota_file() -> bytes:
    """The header and 10,000 rows over the week from tomorrow."""
    header = [c.name for c in COLUMNS]
    lines = [",".join(header)]
    seen_adults: set[int] = set()
    seen_carers: set[int] = set()
    for n in range(ROWS):
        adult, carer = n % ADULTS, n % CARERS
        day = date(2026, 1, 13) + timedelta(days=n // (ROWS // 7 + 1))
        minute = 7 * 60 + (n // ADULTS) * 50
        row = dict.fromkeys(header, "")
        row.update(visit_ref=f"V{n:05d}", adult_ref=f"A{adult:04d}", date=day.isoformat(),
                   start=f"{minute // 60:02d}:{minute % 60:02d}",
                   end=f"{(minute + 30) // 60:02d}:{(minute + 30) % 60:02d}",
                   care_worker_refs=f"C{carer:03d}")
        if adult not in seen_adults:
            seen_adults.add(adult)
            row.update(adult_given_name="Joan", adult_family_name=f"Smith{adult}",
                       adult_landlines=f"0113 496 {adult:04d}", adult_rag="green")
        if carer not in seen_carers:
            seen_carers.add(carer)
            row.update(care_worker_staff_numbers=f"{1000 + carer}",
                       care_worker_given_names="Amy", care_worker_family_names=f"Jones{carer}")
        lines.append(",".join(row[c] for c in header))
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    """Run the job once and print the rate."""
    folder = Path(tempfile.mkdtemp())
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder / 'bench.sqlite3'}"
    upgrade_database(url)
    database, settings, clock = Database(url), Settings(database_url=url), FixedClock(NOW)
    path = folder / "rota.csv"
    path.write_bytes(rota_file())
    with database.unit_of_work() as session:
        job_id = imports.queue_import(session, who="bench", file_name="rota.csv",
                                      rows_total=ROWS, skip_bad_rows=False, dry_run=False,
                                      now=NOW).id
    started = time.perf_counter()
    imports.run_import(database, settings, clock, job_id, path)
    seconds = time.perf_counter() - started
    with database.unit_of_work() as session:
        job = session.get_one(RotaImport, job_id)
        print(f"{database.engine.dialect.name}: {job.state.value}, {job.rows_done} rows in "
              f"{seconds:.1f} s = {job.rows_done / seconds:.0f} rows/s; "
              f"{(job.summary or {}).get('outcome')}")


if __name__ == "__main__":
    main()
