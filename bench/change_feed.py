"""Following the change feed against re-reading the whole day (issue 14), on PostgreSQL.

1. Recreates its own database (default bench_feed; never `test`), migrates it.
2. Writes a day of --visits planned visits (one client per 5 visits, one carer per 8), each
   announced to the feed as the rota's upserts do; the reader takes its cursor there.
3. --log-ins carers log in to their visits (record_log_event, one transaction each).
4. Times, each the median of --repeat runs: the day re-read as a poller does today
   (visits_for_day, what GET /api/v1/visits serves: the baseline) and the new entries read from
   the cursor (read_changes, pages of 500, what GET /api/v1/changes serves); and a reader away
   since the start catching up on the whole feed in pages of 500. Prints the figures and the
   ratio baseline / feed.

    .venv/bin/python bench/change_feed.py --visits 10000 --log-ins 100
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, select, text

from ivr_gateway import schema  # noqa: F401 - every table
from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.config import normalise_database_url as normalise_url
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    Adult,
    CareWorker,
    Channel,
    LogKind,
    PlannedVisit,
    PlannedVisitCareWorker,
    Rag,
    Verification,
    VisitStatus,
)
from ivr_gateway.visits.changes import record_planned_visit_changed
from ivr_gateway.visits.feed import MAX_LIMIT, Position, last_position, read_changes
from ivr_gateway.visits.queries import visits_for_day
from ivr_gateway.visits.recording import LogRequest, record_log_event

DAY_START = datetime(2026, 6, 16, 5, 0, tzinfo=UTC)  # 06:00 BST
NOW = datetime(2026, 6, 16, 20, 0, tzinfo=UTC)


def reset_database(server_url: str, name: str) -> str:
    """Create (if missing) and empty the bench database; migrate it; return its URL."""
    if name in {"test", "postgres", "template0", "template1"} or name.startswith("test"):
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalise_url(f"{server_url}/{name}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


def write_day(database: Database, visits: int) -> list[tuple[int, int, datetime]]:
    """The day's rota, announced to the feed; (carer id, adult id, start) of each visit."""
    adults, carers = max(1, visits // 5), max(1, visits // 8)
    with database.unit_of_work() as session:
        session.execute(insert(Adult), [
            {"ref": f"A{i}", "client_number": f"{300000 + i}", "given_name": "Bench",
             "family_name": f"Client{i}", "address": "", "postcode": "", "rag": Rag.GREEN,
             "active": True, "created_at": NOW, "updated_at": NOW} for i in range(adults)])
        session.execute(insert(CareWorker), [
            {"ref": f"C{i}", "staff_number": f"{10000 + i}", "given_name": "Bench",
             "family_name": f"Carer{i}", "pin_hash": None, "language": "en", "branch": "",
             "active": True, "created_at": NOW, "updated_at": NOW} for i in range(carers)])
        adult_ids = list(session.scalars(select(Adult.id).order_by(Adult.id)))
        carer_ids = list(session.scalars(select(CareWorker.id).order_by(CareWorker.id)))
        rows, plan = [], []
        for i in range(visits):
            start = DAY_START + timedelta(minutes=(i * 7) % (14 * 60))
            rows.append({"ref": f"V{i}", "adult_id": adult_ids[i % adults],
                         "planned_start": start, "planned_end": start + timedelta(minutes=30),
                         "status": VisitStatus.PLANNED, "time_critical": False,
                         "created_at": NOW, "updated_at": NOW})
            plan.append((carer_ids[i % carers], adult_ids[i % adults], start))
        session.execute(insert(PlannedVisit), rows)
        ids = list(session.scalars(select(PlannedVisit.id).order_by(PlannedVisit.id)))
        session.execute(insert(PlannedVisitCareWorker), [
            {"planned_visit_id": pv, "care_worker_id": plan[n][0]} for n, pv in enumerate(ids)])
    with database.unit_of_work() as session:
        for visit in session.scalars(select(PlannedVisit).order_by(PlannedVisit.id)):
            record_planned_visit_changed(session, visit, NOW)
    return plan


def timed(repeat: int, work: Callable[[], int]) -> tuple[float, int]:
    """Median seconds of `repeat` runs, and what the last run counted."""
    times, counted = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        counted = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), counted


def main() -> None:
    """Run the benchmark; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_feed")
    parser.add_argument("--visits", type=int, default=2000)
    parser.add_argument("--log-ins", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = reset_database(args.server, args.database)
    database = Database(url)
    settings = Settings(database_url=url)
    started = time.perf_counter()
    plan = write_day(database, args.visits)
    print(f"day written: {args.visits} visits announced in {time.perf_counter() - started:.1f} s")
    with database.unit_of_work() as session:
        cursor = last_position(session)
    for carer_id, adult_id, start in plan[:args.log_ins]:
        with database.unit_of_work() as session:
            record_log_event(session, LogRequest(
                channel=Channel.IVR, care_worker_id=carer_id, adult_id=adult_id,
                event_time=start + timedelta(minutes=3), received_at=start + timedelta(minutes=3),
                verification=Verification.CALLER_ID, kind=LogKind.IN), KpiWindows())

    def whole_day() -> int:
        with database.unit_of_work() as session:
            return len(visits_for_day(session, DAY_START.date(), settings, NOW))

    def follow(after: Position) -> Callable[[], int]:
        def read() -> int:
            seen, position = 0, after
            while True:
                with database.unit_of_work() as session:
                    page = read_changes(session, position, MAX_LIMIT, settings, NOW)
                seen += len(page.entries)
                position = page.next_position
                if not page.more:
                    return seen
        return read

    day_s, day_n = timed(args.repeat, whole_day)
    new_s, new_n = timed(args.repeat, follow(cursor))
    all_s, all_n = timed(args.repeat, follow(Position()))
    print(f"baseline: the whole day re-read (visits_for_day): {day_n} visits in {day_s:.3f} s")
    print(f"feed: the {new_n} new entries from the cursor: {new_s:.3f} s "
          f"(ratio baseline/feed {day_s / new_s:.1f}x)")
    print(f"feed: a reader away since the start catches up on {all_n} entries in pages of "
          f"{MAX_LIMIT}: {all_s:.3f} s ({all_n / all_s:.0f} entries/s)")
    database.dispose()


if __name__ == "__main__":
    main()
