"""Benchmark: the KPI report (`report kpi`) over a county-sized day and week, on PostgreSQL.

Run on demand (not a test), from the repository root:

    KPI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_kpi \\
        .venv/bin/python bench/kpi_report.py
    ... bench/kpi_report.py --before 26e78db   # also time that commit's builder on the day

1. Empties the database's `public` schema and migrates it (refuses `test` and `postgres`).
2. Writes --visits planned visits a day (default 10,000) for the week and a day either side:
   --clients clients (default 2,000) with five visits a day each, --carers carers (2,000), a
   realistic mix (most delivered on time; some late, missed, merged into the visit before,
   started after 11 pm; double-ups, some short of a carer; time-critical visits; cancellations
   with their audit entries), each carer's actual visit with its log-in and log-out events.
   Bulk Core inserts, then ANALYZE.
3. Times build_kpi_report (as `report kpi` calls it, with the office's reason codes) and the
   files (write_kpi_files: two CSVs and the HTML page) over one day and over seven days,
   --repeat times each (the builds in turn, day then week), and prints the medians (wall and
   this process's CPU time) and the ratio week/day (target <= 8), and the
   day's build against the target of 2 s. With --before COMMIT, also times that commit's
   build_kpi_report on the same day, as the baseline of the change.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings, normalise_database_url
from ivr_gateway.db import Database
from ivr_gateway.ecc.kpi import KpiReport, build_kpi_report
from ivr_gateway.ecc.kpi_report import write_kpi_files
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AuditEntry,
    CareWorker,
    Channel,
    LogEvent,
    LogKind,
    PlannedVisit,
    PlannedVisitCareWorker,
    Rag,
    Verification,
    VisitStatus,
)

LONDON = ZoneInfo("Europe/London")
WEEK = [date(2026, 3, 23) + timedelta(days=i) for i in range(7)]  # Mon..Sun, spring change
DAY = WEEK[1]  # Tuesday
NOW = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # every window closed, some reasons overdue
SLOTS = [(7, 30, 45), (11, 30, 30), (13, 30, 30), (17, 0, 30), (20, 30, 30)]  # local, minutes
TARGET_DAY_SECONDS = 2.0
TARGET_WEEK_RATIO = 8.0
CHUNK = 5000


def reset_database(url: str) -> str:
    """Empty the bench database's public schema and migrate it; return the driver URL."""
    name = make_url(url).database or ""
    if name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    url = normalise_database_url(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


def _bulk(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(table), rows[i:i + CHUNK])


class Rota:
    """The generated rota and evidence, as rows for bulk inserts."""

    def __init__(self, clients: int, carers: int, rng: random.Random) -> None:
        self.clients, self.carers, self.rng = clients, carers, rng
        self.visits: list[dict[str, Any]] = []
        self.booked: list[dict[str, Any]] = []
        self.actuals: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.mix: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.mix[kind] = self.mix.get(kind, 0) + 1

    def _actual(self, carer: int, client: int, visit: int | None, start: datetime,
                minutes: float) -> None:
        end = start + timedelta(minutes=minutes)
        n = len(self.actuals) + 1
        roll = self.rng.random()
        verification = (Verification.CALLER_ID if roll < 0.7 else Verification.TOKEN_CODE
                        if roll < 0.85 else Verification.SHEET_CODE if roll < 0.95
                        else Verification.UNVERIFIED)
        self.actuals.append({
            "id": n, "care_worker_id": carer, "adult_id": client, "planned_visit_id": visit,
            "state": ActualVisitState.CLOSED, "started_at": start, "ended_at": end,
            "in_verification": verification, "out_verification": verification,
            "match_reason": "", "created_at": start})
        for kind, at in ((LogKind.IN, start), (LogKind.OUT, end)):
            self.events.append({
                "channel": Channel.SMS if verification in (Verification.TOKEN_CODE,
                                                           Verification.SHEET_CODE)
                else Channel.IVR,
                "kind": kind, "care_worker_id": carer, "adult_id": client,
                "planned_visit_id": visit, "actual_visit_id": n, "event_time": at,
                "received_at": at, "verification": verification,
                "source_sid": f"S{n}{kind.value}", "seq": 1, "from_number": None, "raw": {}})

    def day(self, local_day: date, per_client: int) -> None:
        """One day's visits: `per_client` slots for each client, and what happened at each."""
        rng = self.rng
        for client in range(1, self.clients + 1):
            for slot, (hour, minute, minutes) in enumerate(SLOTS[:per_client]):
                n = len(self.visits) + 1
                start = datetime(local_day.year, local_day.month, local_day.day, hour, minute,
                                 tzinfo=LONDON).astimezone(UTC)
                start += timedelta(minutes=rng.choice((-15, 0, 0, 0, 15)))
                double = rng.random() < 0.08
                critical = rng.random() < 0.10
                carer = (client * 7 + slot * 401) % self.carers + 1
                carers = [carer, carer % self.carers + 1] if double else [carer]
                cancelled = rng.random() < 0.03
                ref = f"V{n}"
                self.visits.append({
                    "id": n, "ref": ref, "adult_id": client, "planned_start": start,
                    "planned_end": start + timedelta(minutes=minutes),
                    "status": VisitStatus.CANCELLED if cancelled else VisitStatus.PLANNED,
                    "cancel_reason": "CLIENT_IN_HOSPITAL" if cancelled else None,
                    "time_critical": critical, "created_at": start - timedelta(days=7),
                    "updated_at": start - timedelta(days=1)})
                self.booked.extend({"planned_visit_id": n, "care_worker_id": c} for c in carers)
                if cancelled:
                    self._count("cancelled")
                    self.audit.append({"at": start - timedelta(days=1), "actor": "api:rota",
                                       "action": "cancel", "entity": "planned_visit",
                                       "entity_ref": ref, "detail": {}})
                    continue
                roll = rng.random()
                if roll < 0.03:
                    self._count("missed (nobody came)")
                    continue
                if roll < 0.04:
                    # Merged: the previous visit's carer stayed on through this one's time.
                    self._count("merged into the visit before")
                    self._actual(carer, client, None, start - timedelta(minutes=20), minutes + 30)
                    continue
                if roll < 0.045 and slot == len(SLOTS) - 1:
                    offset = 160.0  # 20:30 + 2 h 40: after 11 pm
                    self._count("started after 11 pm")
                elif roll < 0.12:
                    offset = rng.uniform(31, 100)
                    self._count("late")
                else:
                    offset = rng.uniform(-10, 25)
                    self._count("on time")
                length = minutes * (rng.uniform(0.5, 0.95) if rng.random() < 0.1 else 1.05)
                self._actual(carers[0], client, n, start + timedelta(minutes=offset), length)
                if double:
                    self._count("double-up")
                    if rng.random() < 0.9:
                        self._actual(carers[1], client, n,
                                     start + timedelta(minutes=offset + rng.uniform(0, 10)),
                                     length)
                    else:
                        self._count("double-up, second carer never came")

    def write(self, session: Session) -> None:
        """Everything, in bulk."""
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        _bulk(session, Adult, [
            {"id": i, "ref": f"A{i}", "client_number": f"{300000 + i}", "given_name": "Bench",
             "family_name": f"Client{i}", "address": "", "postcode": "", "rag": Rag.GREEN,
             "active": True, "created_at": stamp, "updated_at": stamp}
            for i in range(1, self.clients + 1)])
        _bulk(session, CareWorker, [
            {"id": i, "ref": f"C{i}", "staff_number": f"{10000 + i}", "given_name": "Bench",
             "family_name": f"Carer{i}", "pin_hash": None, "language": "en", "branch": "",
             "active": True, "created_at": stamp, "updated_at": stamp}
            for i in range(1, self.carers + 1)])
        _bulk(session, PlannedVisit, self.visits)
        _bulk(session, PlannedVisitCareWorker, self.booked)
        _bulk(session, ActualVisit, self.actuals)
        _bulk(session, LogEvent, self.events)
        _bulk(session, AuditEntry, self.audit)


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def build(database: Database, settings: Settings, first: date, last: date,
          builder: Callable[..., Any] = build_kpi_report) -> KpiReport:
    """The report as `report kpi` builds it."""
    with database.unit_of_work() as session:
        return builder(session, first, last, settings, NOW)  # type: ignore[no-any-return]


def load_builder(commit: str) -> ModuleType:
    """ivr_gateway/ecc/kpi.py as it was at `commit`, as a module of its own."""
    source = subprocess.run(["git", "show", f"{commit}:ivr_gateway/ecc/kpi.py"],  # noqa: S607
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "kpi_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("kpi_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kpi_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Parse arguments, write the data, time the report, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("KPI_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (default: $KPI_BENCH_DATABASE_URL)")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--carers", type=int, default=2000)
    parser.add_argument("--visits", type=int, default=10_000, help="visits a day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", metavar="COMMIT",
                        help="also time build_kpi_report as it was at COMMIT, on the day")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set KPI_BENCH_DATABASE_URL (or --database-url) to a PostgreSQL "
                         "database of the bench's own")
    per_client = max(1, min(len(SLOTS), round(args.visits / args.clients)))

    url = reset_database(args.database_url)
    database = Database(url)
    settings = Settings(database_url=url)
    rng = random.Random(11)
    rota = Rota(args.clients, args.carers, rng)
    began = time.perf_counter()
    for offset in range(-1, 8):  # a day either side: next visits, and actuals the day before
        rota.day(WEEK[0] + timedelta(days=offset), per_client)
    with database.unit_of_work() as session:
        rota.write(session)
    with database.engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ANALYZE"))
    print(f"wrote {len(rota.visits)} planned visits ({len(rota.visits) // 9} a day, "
          f"{args.clients} clients, {args.carers} carers), {len(rota.actuals)} actual visits, "
          f"{len(rota.events)} log events in {time.perf_counter() - began:.1f} s")
    print("mix of the days: " + ", ".join(f"{k} {v}" for k, v in sorted(rota.mix.items())))

    build(database, settings, DAY, DAY)  # warm-up: imports, templates, connections
    # The day and the week are timed in turn (day, week, day, week...), so that a machine whose
    # load changes during the run weighs on both alike and the ratio stays a ratio; each build's
    # CPU time in this process is printed beside its wall time (the load moves wall time by 2-3x,
    # CPU time much less; the database's own time is in the wall time only).
    ranges = (("1 day", DAY, DAY), ("7 days", WEEK[0], WEEK[-1]))
    walls: dict[str, list[float]] = {label: [] for label, _f, _l in ranges}
    cpus: dict[str, list[float]] = {label: [] for label, _f, _l in ranges}
    reports: dict[str, KpiReport] = {}
    for _ in range(args.repeat):
        for label, first, last in ranges:
            began, cpu = time.perf_counter(), time.process_time()
            reports[label] = build(database, settings, first, last)
            walls[label].append(time.perf_counter() - began)
            cpus[label].append(time.process_time() - cpu)
    figures: dict[str, tuple[float, float, int]] = {}
    for label, _first, _last in ranges:
        report = reports[label]
        seconds = statistics.median(walls[label])
        with tempfile.TemporaryDirectory() as folder:
            files, _ = timed(lambda r=report, d=folder: write_kpi_files(r, Path(d)),
                             args.repeat)
        figures[label] = (seconds, files, len(report.visits))
        t = report.total
        print(f"{label:>7}: {len(report.visits):>6} visits (on time {t.on_time}, late {t.late}, "
              f"short of a carer {t.short_of_carer}, missed {t.missed}, cancelled "
              f"{t.cancelled}); build {seconds:.2f} s (CPU {statistics.median(cpus[label]):.2f} "
              f"s), files {files:.2f} s, together {seconds + files:.2f} s "
              f"(median of {args.repeat})")
    cpu_ratio = statistics.median(cpus["7 days"]) / statistics.median(cpus["1 day"])
    print(f"CPU time ratio 7 days / 1 day: {cpu_ratio:.2f}")
    day, week = figures["1 day"], figures["7 days"]
    build_ratio, all_ratio = week[0] / day[0], (week[0] + week[1]) / (day[0] + day[1])
    print(f"ratio 7 days / 1 day: build {build_ratio:.2f}, build and files {all_ratio:.2f} "
          f"(target <= {TARGET_WEEK_RATIO:.0f}) "
          f"{'PASS' if max(build_ratio, all_ratio) <= TARGET_WEEK_RATIO else 'FAIL'}")
    print(f"a {day[2]}-visit day: build {day[0]:.2f} s (target < {TARGET_DAY_SECONDS:.0f} s) "
          f"{'PASS' if day[0] < TARGET_DAY_SECONDS else 'FAIL'}; with its files "
          f"{day[0] + day[1]:.2f} s")
    if args.before:
        old = load_builder(args.before)
        seconds, _ = timed(lambda: build(database, settings, DAY, DAY, old.build_kpi_report), 1)
        print(f"before ({args.before}), 1 day, build once: {seconds:.2f} s; now {day[0]:.2f} s: "
              f"{seconds / day[0]:.1f}x faster")
    database.dispose()


if __name__ == "__main__":
    main()
