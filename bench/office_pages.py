"""Benchmark: the office pages at county size (board, live refresh, one visit), on PostgreSQL.

Run on demand (not a test), from the repository root:

    OFFICE_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_office \\
        .venv/bin/python bench/office_pages.py            # 1,000 then 10,000 visits today

For each size (--sizes, default 1000,10000): empties the database's `public` schema and
migrates it (refuses `test` and `postgres`), writes that many planned visits for today with
bench/kpi_report.py's realistic mix (five a client, most delivered, some late, missed,
double-ups, cancellations) and a day either side, by bulk Core inserts, then logs in as an
office coordinator through the form and times, in process (Flask's test client: the server's
work and the bytes it sends, no network), the median of --repeat requests of: the board (first
page), the board's live refresh with nothing changed (If-None-Match: 304), the live refresh
after a visit changed, a search, the board grouped by carer, one visit page, the carers and the
clients pages (the first page, page 20 and a search; 50 a page). Prints ms and KB for each size
and the ratio 10,000 / 1,000, with the load average (the machine is shared).

The KPI page (ecc/kept_reports.py) for today and for the last 7 days (--kpi-days of visits are
written, today's size each): as it was, the report worked out in the request (the baseline); its
first request (no report kept yet: "working out"), the page
once the report is kept, and the page after a visit of the range changed (the old figures shown
"as of" while the next one is worked out, a single request each time, waiting for that worker
before the next). It also prints how long each background report took and the 7-day visits CSV
from the kept report (a file, not a page: no target).

Before timing, the board's day index is built as the scheduler's `board-index` job builds it
(office/board_index.py: the whole day judged, kept in board_day_indexes); the job is not running
while the pages are timed (in production it is its own process). The index's own figures are
printed apart: a whole-day rebuild, a rebuild from what changed (one visit changed, a minute
later: it re-judges that client's visits and those the clock can move), and the job's tick when
nothing changed. "board, first request of a process" is a new app and engine's first board
(templates not compiled, no connection open, nothing parsed) with the stored index, and "... of
a warmed-up worker" the same after ivr_gateway/warm_up.py (what gunicorn_config.post_worker_init
runs before a worker's first request: templates compiled, a connection open, today's index
parsed); "..., no scheduler" is a first board with no stored index (the fallback: the process
judges the day itself).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.kept_reports import INLINE_VISITS
from ivr_gateway.ecc.models import KeptKpiReport
from ivr_gateway.models import ActualVisitState, PlannedVisit
from ivr_gateway.office.auth import hash_password
from ivr_gateway.office.board_index import refresh_day, run_board_index, take_index_lock
from ivr_gateway.office.board_page import forget_indexes, rebuilding
from ivr_gateway.office.escalation_alerts import EscalationAlertSource
from ivr_gateway.office.models import BoardDayIndex, OfficeRole, OfficeUser
from ivr_gateway.visits.changes import record_planned_visit_changed
from ivr_gateway.warm_up import warm_up

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)  # a Sunday afternoon: half the day is done
TODAY = date(2026, 11, 29)
PASSWORD = "bench office password"  # noqa: S105 - a throwaway database of the bench's own
TARGET_MS, TARGET_KB = 300, 200


def _kpi_bench() -> Any:
    path = Path(__file__).with_name("kpi_report.py")
    spec = importlib.util.spec_from_file_location("kpi_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kpi_bench"] = module
    spec.loader.exec_module(module)
    return module


def write_day(url: str, visits: int, days: int = 1) -> tuple[Database, str]:
    """Reset the database and write `visits` planned visits today (and a day either side), and
    each of the `days` - 1 days before too."""
    kpi = _kpi_bench()
    url = kpi.reset_database(url)
    database = Database(url)
    clients = max(1, visits // 5)
    rota = kpi.Rota(clients, clients, random.Random(7))
    for offset in range(min(-1, 1 - days), 2):
        rota.day(TODAY + timedelta(days=offset), 5)
    # The mix was generated as if every window had closed: what starts after NOW is still due.
    rota.actuals = [a for a in rota.actuals if a["started_at"] <= NOW]
    kept = {a["id"] for a in rota.actuals}
    for a in rota.actuals:
        if a["ended_at"] > NOW:
            a["ended_at"], a["state"], a["out_verification"] = None, ActualVisitState.OPEN, None
    rota.events = [e for e in rota.events if e["actual_visit_id"] in kept
                   and e["event_time"] <= NOW]
    with database.unit_of_work() as session:
        rota.write(session)
        # The mix stamps a visit as updated the day before it: none of what is planned after
        # NOW changed after NOW (the board index looks at visits changed since its last build).
        session.execute(update(PlannedVisit).where(PlannedVisit.updated_at > NOW)
                        .values(updated_at=NOW - timedelta(days=1)))
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        session.add(OfficeUser(username="bench", display_name="Bench",
                               password_hash=hash_password(PASSWORD),
                               role=OfficeRole.COORDINATOR, active=True, failed_logins=0,
                               session_epoch=0, created_at=stamp, updated_at=stamp))
    with database.engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ANALYZE"))
    today = [v for v in rota.visits if v["planned_start"].date() == TODAY
             or v["planned_start"].astimezone(kpi.LONDON).date() == TODAY]
    return database, str(today[len(today) // 2]["ref"])


def log_in(client: FlaskClient) -> None:
    """Log in through the form, as a coordinator does."""
    page = client.get("/office/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/office/login", data={"username": "bench", "password": PASSWORD,
                                                 "csrf_token": token})
    assert answer.status_code == 302, answer.status_code


def settled() -> None:
    """Wait for the board's background rebuild, so it is not timed with the next page."""
    while rebuilding():
        time.sleep(0.05)


Figure = tuple[float, float, int, float]  # ms, KB, HTTP status, CPU ms of this process


def once(client: FlaskClient, path: str, headers: dict[str, str] | None = None) -> Figure:
    """ms, KB of the body, the status and this process's CPU ms of one GET."""
    began, cpu = time.perf_counter(), time.process_time()
    answer = client.get(path, headers=headers)
    body = answer.get_data()
    return ((time.perf_counter() - began) * 1000, len(body) / 1024, answer.status_code,
            (time.process_time() - cpu) * 1000)


def timed(client: FlaskClient, path: str, repeat: int, headers: dict[str, str] | None = None,
          before: Any = None) -> Figure:
    """Median ms, KB of the body, the status and median CPU ms of `repeat` GETs (after one
    warm-up). The CPU time is the gateway's own work in this process (not PostgreSQL's), which
    the machine's load does not inflate as it does the wall-clock time."""
    client.get(path, headers=headers)
    runs = []
    for _ in range(repeat):
        settled()
        if before is not None:
            before()
        runs.append(once(client, path, headers))
    return (statistics.median(r[0] for r in runs), runs[-1][1], runs[-1][2],
            statistics.median(r[3] for r in runs))


def index_figures(database: Database, settings: Settings, clock: FixedClock, visit_ref: str
                  ) -> dict[str, Figure]:
    """Build the day index as the scheduler does, timing a whole-day rebuild, a rebuild from
    what changed (a visit changed, a minute later), and a tick that finds nothing changed."""
    alerts = EscalationAlertSource(settings)
    figures: dict[str, Figure] = {}

    def rebuild(at: FixedClock, force: bool) -> tuple[float, str | None]:
        began = time.perf_counter()
        with database.unit_of_work() as session:
            assert take_index_lock(session)
            how = refresh_day(session, TODAY, settings, at.now(), alerts, force=force)
        return (time.perf_counter() - began) * 1000, how

    whole, _ = rebuild(clock, True)
    with database.unit_of_work() as session:
        stored = session.get(BoardDayIndex, TODAY)
        assert stored is not None
        size = len(stored.entries) / 1024
    with database.unit_of_work() as session:  # the rota changes one visit of the day
        session.execute(update(PlannedVisit).where(PlannedVisit.ref == visit_ref)
                        .values(updated_at=NOW + timedelta(seconds=30)))
    changes, how = rebuild(FixedClock(NOW + timedelta(seconds=61)), False)
    assert how == "changes", how
    rebuild(clock, True)  # the pages are timed at NOW: the index as of NOW
    run_board_index(database, settings, clock, alerts)  # yesterday too, as the job does
    began = time.perf_counter()
    assert run_board_index(database, settings, clock, alerts) == []
    idle = (time.perf_counter() - began) * 1000
    figures["index rebuild, whole day"] = (whole, size, 0, 0.0)
    figures["index rebuild, what changed"] = (changes, size, 0, 0.0)
    figures["index tick, nothing changed"] = (idle, 0.0, 0, 0.0)
    return figures


def kept_ready(client: FlaskClient, query: str) -> None:
    """Wait, as the page's script does, until the range's report is kept and current."""
    deadline = time.monotonic() + 600
    while not client.get(f"/office/kpi/status?{query}").get_json()["ready"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"the KPI report {query} was not ready within 10 minutes")
        time.sleep(0.2)


def once_with_body(client: FlaskClient, path: str) -> tuple[Figure, bytes]:
    """One GET: its figure and the body."""
    began, cpu = time.perf_counter(), time.process_time()
    answer = client.get(path)
    body = answer.get_data()
    return ((time.perf_counter() - began) * 1000, len(body) / 1024, answer.status_code,
            (time.process_time() - cpu) * 1000), body


def kpi_pages(client: FlaskClient, database: Database, repeat: int,
              figures: dict[str, Figure]) -> None:
    """The KPI page for today and the last 7 days: first request, kept, after a change."""
    ranges = {"1 day": (TODAY, TODAY), "7 days": (TODAY - timedelta(days=6), TODAY)}
    for name, (first, last) in ranges.items():
        query = f"from={first}&to={last}"
        path = f"/office/kpi?{query}"
        # The baseline, as the page was: the report worked out inside the request.
        client.application.config["KPI_INLINE_VISITS"] = 10**9
        figures[f"KPI page {name}, in the request"] = once(client, path)
        client.application.config["KPI_INLINE_VISITS"] = INLINE_VISITS
        figure, body = once_with_body(client, path)
        assert b"Working out the report" in body, "the first request did not start a report"
        figures[f"KPI page {name}, first request"] = figure
        kept_ready(client, query)
        figures[f"KPI page {name}, kept"] = timed(client, path, repeat)
        changed = []
        for n in range(3):  # a visit of the range changes (the rota moves it): stale
            with database.unit_of_work() as session:
                visit = session.scalars(select(PlannedVisit).where(
                    PlannedVisit.planned_start >= NOW - timedelta(hours=1))
                    .order_by(PlannedVisit.planned_start).limit(1)).one()
                visit.updated_at = NOW + timedelta(seconds=n + 1)
                record_planned_visit_changed(session, visit, NOW)
            figure, body = once_with_body(client, path)
            assert b"The visits have changed since" in body, "the change was not seen"
            changed.append(figure)
            kept_ready(client, query)
        figures[f"KPI page {name}, after a change"] = (
            statistics.median(c[0] for c in changed), changed[-1][1], changed[-1][2],
            statistics.median(c[3] for c in changed))
    with database.unit_of_work() as session:
        for first, last, seconds, visits in session.execute(
                select(KeptKpiReport.first_day, KeptKpiReport.last_day,
                       KeptKpiReport.build_seconds, KeptKpiReport.visits)
                .order_by(KeptKpiReport.id)):
            print(f"  KPI report {first} to {last}: {visits} visits worked out in the "
                  f"background in {seconds:.2f} s (the last one)")
    week = ranges["7 days"]
    ms, kb, status, _ = once(client, f"/office/kpi/visits.csv?from={week[0]}&to={week[1]}")
    print(f"  KPI visits CSV, 7 days, from the kept report: {ms:.0f} ms, {kb:.0f} KB "
          f"(HTTP {status}); load average {os.getloadavg()}")


def measure(url: str, visits: int, repeat: int, kpi_days: int = 7
            ) -> tuple[dict[str, Figure], dict[str, Figure]]:
    """Write the day, build its index as the scheduler does, then time each page."""
    began = time.perf_counter()
    database, visit_ref = write_day(url, visits, kpi_days)
    print(f"{visits} visits a day for {max(kpi_days, 2) + 1} days written in "
          f"{time.perf_counter() - began:.1f} s; load average {os.getloadavg()}")
    forget_indexes()  # the previous size's index is another database's
    clock = FixedClock(NOW)
    settings = Settings(database_url=database.url)
    app = create_app(settings, database, clock)
    client = app.test_client()
    log_in(client)
    load = os.getloadavg()
    figures: dict[str, Figure] = {}
    # No scheduler yet: the process judges the day itself (the old first request).
    figures["board, first request, no scheduler"] = once(client, "/office/")
    settled()
    indexing = index_figures(database, settings, clock, visit_ref)
    # A new web process: its own app (templates not yet compiled), its own engine (no
    # connection, no statement compiled), no index parsed or judged; logged in, then its
    # first board.
    forget_indexes()
    fresh_database = Database(database.url)
    fresh = create_app(settings, fresh_database, clock).test_client()
    log_in(fresh)
    figures["board, first request of a process"] = once(fresh, "/office/")
    fresh_database.dispose()
    # The same for a gunicorn worker: gunicorn_config.post_worker_init warms it up first.
    forget_indexes()
    fresh_database = Database(database.url)
    worker = create_app(settings, fresh_database, clock)
    warm_up(worker)
    fresh = worker.test_client()
    log_in(fresh)
    figures["board, first request of a warmed-up worker"] = once(fresh, "/office/")
    fresh_database.dispose()
    figures["board"] = timed(client, "/office/", repeat)
    figures["board, page 50"] = timed(client, "/office/?page=50", repeat)
    figures["board, late only"] = timed(client, "/office/?status=late", repeat)
    live = "/office/board/live"
    first = client.get(live)
    etag = first.headers.get("ETag", "")
    figures["live refresh, nothing changed"] = timed(client, live, repeat,
                                                     headers={"If-None-Match": etag})
    target = {"n": 0}

    def touch() -> None:  # the rota moves one visit of the day: the day's version changes
        target["n"] += 1
        with database.unit_of_work() as session:
            session.execute(update(PlannedVisit).where(PlannedVisit.ref == visit_ref)
                            .values(updated_at=NOW + timedelta(seconds=target["n"])))
    figures["live refresh, a visit changed"] = timed(client, live, repeat,
                                                     headers={"If-None-Match": etag},
                                                     before=touch)
    figures["board, search"] = timed(client, "/office/?q=Client1", repeat)
    figures["board, by carer"] = timed(client, "/office/?group=carer", repeat)
    figures["visit page"] = timed(client, f"/office/visits/{visit_ref}", repeat)
    figures["carers page"] = timed(client, "/office/care-workers", repeat)
    figures["carers page, page 20"] = timed(client, "/office/care-workers?page=20", repeat)
    figures["carers page, search"] = timed(client, "/office/care-workers?q=Carer1", repeat)
    figures["clients page"] = timed(client, "/office/adults", repeat)
    figures["clients page, page 20"] = timed(client, "/office/adults?page=20", repeat)
    figures["clients page, search"] = timed(client, "/office/adults?q=Client1", repeat)
    kpi_pages(client, database, repeat, figures)
    print(f"  {visits} visits measured; load average {os.getloadavg()}")
    database.dispose()
    after = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start, "
          f"{after[0]:.1f} {after[1]:.1f} {after[2]:.1f} at the end")
    return figures, indexing


def main() -> None:
    """Parse arguments, run each size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("OFFICE_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (default: $OFFICE_BENCH_DATABASE_URL)")
    parser.add_argument("--sizes", default="1000,10000", help="visits today, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kpi-days", type=int, default=7,
                        help="days of visits written for the KPI page's ranges (default 7)")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set OFFICE_BENCH_DATABASE_URL (or --database-url) to a PostgreSQL "
                         "database of the bench's own")
    sizes = [int(s) for s in args.sizes.split(",")]
    measured = {n: measure(args.database_url, n, args.repeat, args.kpi_days) for n in sizes}
    results = {n: pages for n, (pages, _) in measured.items()}
    small, large = sizes[0], sizes[-1]
    print(f"\n{'page':<38}" + "".join(f"{f'{n} ms':>10}{f'{n} KB':>10}{f'{n} CPU':>10}"
                                        for n in sizes)
          + f"{'ratio ms':>10}  target < {TARGET_MS} ms, < {TARGET_KB} KB")
    for name in results[small]:
        cells = "".join(f"{results[n][name][0]:>10.0f}{results[n][name][1]:>10.1f}"
                        f"{results[n][name][3]:>10.0f}" for n in sizes)
        ms, kb, status, _ = results[large][name]
        ok = "PASS" if ms < TARGET_MS and kb < TARGET_KB else "FAIL"
        print(f"{name:<38}{cells}{ms / results[small][name][0]:>10.2f}  "
              f"{ok} (HTTP {status})")
    print(f"\n{'the day index (scheduler job)':<38}"
          + "".join(f"{f'{n} ms':>10}{f'{n} KB':>10}" for n in sizes))
    for name in measured[small][1]:
        print(f"{name:<38}" + "".join(
            f"{measured[n][1][name][0]:>10.0f}{measured[n][1][name][1]:>10.1f}" for n in sizes))
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")

if __name__ == "__main__":
    main()
