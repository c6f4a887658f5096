"""Council forwarding benchmark: (a) commit -> council receipt latency, (b) backlog drain rate,
(c) real time under a flaky council.

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/ecc_relay.py

All on 127.0.0.1, with its own PostgreSQL database (default bench_ecc; never `test`):
1. Recreates and migrates the database; starts the mock council (`ivr-gateway mock-ecc`, its
   store in a temporary SQLite file) and the relay (`ivr-gateway relay`, default interval 1 s),
   each as its own process, as in production.
2. (a) Healthy council: records N log-ins at a steady rate through record_log_event, each in its
   own transaction (the same transaction a log-in webhook commits), noting the wall time just
   after each commit; the mock notes the wall time it stores each record. Prints p50/p95/p99/max
   of receipt - commit. Requirement: p99 under 5 s (set by the relay's wake-up interval).
3. (b) Backlog: stops the relay, queues 10,000 council records (as after an outage), then
   - baseline: a plain loop posting the same records in the same batches of 100 straight to the
     mock over one keep-alive connection (the floor of the HTTP path);
   - relay: resets the mock, starts the relay and times until the outbox is empty.
   Prints both rates and the ratio relay/baseline. Requirement: at least 0.5.
4. (c) Flaky council (`--only flaky` runs just this): a fresh mock failing half its requests
   (`--error-rate 0.5` after `--rate-limit 0.2`: 20% of requests 429 with Retry-After 1 s, 40%
   500, 40% stored) and a fresh relay; 250 carers log in and, 5 s later, out (500 council
   records, two versions per visit) at 10 events a second. Waits until every record is stored
   or `--flaky-wait` seconds (900) have passed, then prints p50/p99/max of receipt - commit,
   records lost (never stored), stored twice, resent (answered duplicate), visits received out
   of order, and the worst wait. Target: p99 under 60 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select, text

from ivr_gateway.config import KpiWindows, normalise_database_url
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import KIND
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    Adult,
    AdultLandline,
    CareWorker,
    Channel,
    LogKind,
    PlannedVisit,
    Rag,
    Verification,
)
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.service import enqueue
from ivr_gateway.visits.recording import LogRequest, record_log_event

HOST = "127.0.0.1"
TOKEN = "bench-ecc-token"  # noqa: S105 - a local mock's token
CLI = [sys.executable, "-c", "from ivr_gateway.cli import main; main()"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def setup_database(server: str, name: str) -> str:
    """Create (if missing) and reset the bench database, migrated to the newest schema."""
    if name in {"test", "postgres", "template0", "template1"} or name.startswith("test"):
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    admin = create_engine(normalise_database_url(f"{server}/postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalise_database_url(f"{server}/{name}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped at the end of the block."""
    with log.open("wb") as out:
        # A benchmark run on PostgreSQL with the local secrets: a test run, said explicitly
        # (ivr_gateway.config.uses_local_defaults).
        child = subprocess.Popen([*CLI, *args], env={"IVR_GATEWAY_ENV": "test", **os.environ,
                                                      **env}, stdout=out,
                                 stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def wait_ready(url: str, timeout: float = 20.0) -> None:
    """Wait until the mock answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/admin/stats", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"mock council did not start at {url}")


def rota(database: Database, count: int, now: datetime, first: int = 0
         ) -> list[tuple[int, int]]:
    """count carers, each with a client and a planned visit now: [(carer id, adult id)]."""
    pairs = []
    with database.unit_of_work() as session:
        for i in range(first, first + count):
            adult = Adult(ref=f"BENCH-A{i:05d}", client_number=f"{300000 + i}",
                          given_name="Bench", family_name=f"Client{i}", address="",
                          postcode="", rag=Rag.GREEN, active=True, created_at=now,
                          updated_at=now)
            adult.landlines = [AdultLandline(number=f"+44113496{i:04d}")]
            carer = CareWorker(ref=f"BENCH-C{i:05d}", staff_number=f"{1000 + i}",
                               given_name="Bench", family_name=f"Carer{i}", pin_hash=None,
                               language="en", branch="", active=True, created_at=now,
                               updated_at=now)
            visit = PlannedVisit(ref=f"BENCH-V{i:05d}", adult=adult, planned_start=now,
                                 planned_end=now + timedelta(minutes=30), created_at=now,
                                 updated_at=now)
            visit.care_workers = [carer]
            session.add_all([adult, carer, visit])
            session.flush()
            pairs.append((carer.id, adult.id))
    return pairs


def received(store: Path) -> dict[str, float]:
    """Idempotency key -> wall time the mock stored it."""
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT idempotency_key, received_at FROM records").fetchall())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latency(database: Database, store: Path, count: int, rate: float) -> list[float]:
    """(a): log-ins at `rate` a second; receipt - commit for each, in seconds."""
    now = datetime.now(UTC)
    pairs = rota(database, count, now)
    committed: dict[str, float] = {}
    start = time.monotonic()
    for i, (carer_id, adult_id) in enumerate(pairs):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        at = datetime.now(UTC)
        with database.unit_of_work() as session:
            result = record_log_event(session, LogRequest(
                channel=Channel.IVR, care_worker_id=carer_id, adult_id=adult_id, event_time=at,
                received_at=at, verification=Verification.CALLER_ID, kind=LogKind.IN),
                KpiWindows())
        committed[f"ecc:actual_visit:AV-{result.actual_visit_id}:1"] = time.time()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = received(store)
        if all(k in got for k in committed):
            return [got[k] - t for k, t in committed.items()]
        time.sleep(0.2)
    raise SystemExit("not every log-in reached the mock council within 60 s")


def backlog(database: Database, count: int) -> list[dict[str, Any]]:
    """Queue `count` council records (valid adult records), as an outage would leave them."""
    now = datetime.now(UTC)
    payloads = []
    with database.unit_of_work() as session:
        for i in range(count):
            key = f"ecc:adult:BACKLOG-{i:05d}:1"
            payload = {"schema_version": "1.0", "idempotency_key": key, "record_type": "adult",
                       "record_id": f"BACKLOG-{i:05d}", "sequence_id": 1,
                       "generated_at": now.isoformat().replace("+00:00", "Z"),
                       "data": {"person_ref": f"BACKLOG-{i:05d}", "client_number": str(i),
                                "given_name": "Back", "family_name": f"Log{i}",
                                "address": f"{i} Queue Street", "postcode": "CM1 1AA",
                                "landlines": ["+441134960001"], "rag": "green",
                                "active": True}}
            enqueue(session, kind=KIND, idempotency_key=key, payload=payload, now=now,
                    ordering_key=f"ecc:adult:BACKLOG-{i:05d}")
            payloads.append(payload)
    return payloads


def deliveries(store: Path) -> dict[str, int]:
    """How the mock answered each record it saw: outcome -> count."""
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT outcome, COUNT(*) FROM deliveries GROUP BY outcome")
                    .fetchall())


def received_order(store: Path) -> list[str]:
    """Idempotency keys in the order the mock stored them."""
    with sqlite3.connect(store) as db:
        return [key for (key,) in db.execute("SELECT idempotency_key FROM records ORDER BY rowid")]


def flaky(database: Database, store: Path, visits: int, rate: float, gap: float,
          wait: float) -> None:
    """(c): log-ins and log-outs against a council failing half its requests; print the figures."""
    now = datetime.now(UTC)
    pairs = rota(database, visits, now, first=5000)  # after (a)'s carers
    # Visit n logs in at 2n/rate s and out `gap` s later: `rate` events a second in all.
    events = sorted([(n * 2 / rate, "in", n) for n in range(visits)]
                    + [(n * 2 / rate + gap, "out", n) for n in range(visits)])
    commits: dict[tuple[int, str], float] = {}  # (carer index, in|out) -> wall time of commit
    visit_of: dict[int, int] = {}  # carer index -> actual visit id
    start = time.monotonic()
    for offset, kind, n in events:
        time.sleep(max(0.0, start + offset - time.monotonic()))
        carer_id, adult_id = pairs[n]
        at = datetime.now(UTC)
        with database.unit_of_work() as session:
            result = record_log_event(session, LogRequest(
                channel=Channel.IVR, care_worker_id=carer_id, adult_id=adult_id, event_time=at,
                received_at=at, verification=Verification.CALLER_ID,
                kind=LogKind.IN if kind == "in" else LogKind.OUT), KpiWindows())
        commits[(n, kind)] = time.time()
        if kind == "in":
            visit_of[n] = int(result.actual_visit_id or 0)
    loaded = time.monotonic()
    print(f"    {len(events)} log events committed in {loaded - start:.1f} s")

    def records() -> dict[str, float]:
        """Every council record of the bench's visits -> the wall time its change committed."""
        expected: dict[str, float] = {}
        with database.unit_of_work() as session:
            rows = session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.payload)
                                   .where(OutboxMessage.kind == KIND)).all()
        by_visit = {f"AV-{v}": n for n, v in visit_of.items()}
        for key, payload in rows:
            n = by_visit.get(str(payload.get("record_id")))
            if n is None:
                continue
            # Version 1 carries the log-in; a later version the log-out (if the relay rendered
            # both events at once there is one version, timed from the log-in: the earlier).
            expected[key] = commits[(n, "in" if int(payload["sequence_id"]) == 1 else "out")]
        return expected

    deadline = start + wait
    expected = records()
    while time.monotonic() < deadline:
        expected = records()
        got = received(store)
        if len(expected) == 2 * visits and all(k in got for k in expected):
            break
        time.sleep(1.0)
    waited = time.monotonic() - start
    got = received(store)
    lags = [got[k] - t for k, t in expected.items() if k in got]
    missing = [k for k in expected if k not in got]
    order = received_order(store)
    position = {k: i for i, k in enumerate(order)}
    out_of_order = 0
    for v in visit_of.values():
        mine = sorted((k for k in got if k.startswith(f"ecc:actual_visit:AV-{v}:")),
                      key=lambda k: int(k.rsplit(":", 1)[1]))
        if [position[k] for k in mine] != sorted(position[k] for k in mine):
            out_of_order += 1
    answers = deliveries(store)
    now_wall = time.time()
    worst_waiting = max((now_wall - expected[k] for k in missing), default=0.0)
    worst = max([*lags, worst_waiting])
    # A record still waiting counts at its wait so far: the percentiles are then lower bounds.
    waits = [*lags, *(now_wall - expected[k] for k in missing)]
    p99 = percentile(waits, 99)
    print(f"(c) flaky council (40% stored, 40% 500, 20% 429 Retry-After 1 s), {len(expected)} "
          f"records of {visits} visits: {len(lags)} arrived, {len(missing)} lost "
          f"(still waiting after {waited:.0f} s)")
    bound = " (at least: records still waiting count at their wait so far)" if missing else ""
    print(f"    commit -> council receipt p50 {percentile(waits, 50):.2f} s, "
          f"p95 {percentile(waits, 95):.2f} s, p99 {p99:.2f} s, max {max(waits):.2f} s{bound}")
    if lags and missing:
        print(f"    of the {len(lags)} that arrived: p50 {percentile(lags, 50):.2f} s, "
              f"p99 {percentile(lags, 99):.2f} s, max {max(lags):.2f} s")
    print(f"    stored twice {len(order) - len(set(order))}, resent (answered duplicate) "
          f"{answers.get('duplicate', 0)}, visits out of order {out_of_order}; worst wait "
          f"{worst:.1f} s{' (still waiting)' if worst_waiting >= worst and missing else ''}; "
          f"records the mock answered, by outcome: {answers}")
    print(f"    target p99 < 60 s: {'met' if p99 < 60 and not missing else 'NOT MET'}")


def pending(database: Database) -> int:
    """Council records not yet sent."""
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == KIND, OutboxMessage.status != OutboxStatus.SENT)) or 0


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=f"postgresql://postgres@{HOST}:5432")
    parser.add_argument("--database", default="bench_ecc")
    parser.add_argument("--log-ins", type=int, default=300, help="(a) log-ins (300)")
    parser.add_argument("--rate", type=float, default=10.0, help="(a) log-ins a second (10)")
    parser.add_argument("--interval", type=float, default=1.0, help="relay wake-up (1 s)")
    parser.add_argument("--backlog", type=int, default=10_000, help="(b) records (10000)")
    parser.add_argument("--only", choices=("all", "latency", "backlog", "flaky"), default="all",
                        help="run one part (default all)")
    parser.add_argument("--flaky-visits", type=int, default=250,
                        help="(c) visits, each a log-in and a log-out record (250)")
    parser.add_argument("--flaky-wait", type=float, default=900.0,
                        help="(c) seconds to wait for every record (900)")
    parser.add_argument("--seed", type=int, default=13, help="(c) the mock's fault seed (13)")
    args = parser.parse_args()

    url = setup_database(args.server, args.database)
    database = Database(url)
    work = Path(tempfile.mkdtemp(prefix="ecc-bench-"))
    store = work / "council.sqlite3"
    port = free_port()
    mock_url = f"http://{HOST}:{port}"
    env = {"DATABASE_URL": url, "ECC_API_URL": mock_url + "/api/v1", "ECC_API_TOKEN": TOKEN}
    relay_args = ["relay", "--interval", str(args.interval), "--batch-size", "100"]
    print(f"# ecc_relay on {platform.platform()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; PostgreSQL {args.database}; logs in {work}")
    if args.only in ("all", "latency", "backlog"):
        run_healthy(args, database, store, mock_url, port, env, relay_args, work)
    if args.only in ("all", "flaky"):
        flaky_store = work / "council-flaky.sqlite3"
        flaky_port = free_port()
        flaky_url = f"http://{HOST}:{flaky_port}"
        flaky_env = {**env, "ECC_API_URL": flaky_url + "/api/v1"}
        with process(["mock-ecc", "--port", str(flaky_port), "--db", str(flaky_store),
                      "--token", TOKEN, "--error-rate", "0.5", "--rate-limit", "0.2",
                      "--retry-after", "1", "--seed", str(args.seed)], flaky_env,
                     work / "mock-flaky.log"):
            wait_ready(flaky_url)
            with process(relay_args, flaky_env, work / "relay-c.log"):
                flaky(database, flaky_store, args.flaky_visits, args.rate, 5.0,
                      args.flaky_wait)
    database.dispose()


def run_healthy(args: argparse.Namespace, database: Database, store: Path, mock_url: str,
                port: int, env: dict[str, str], relay_args: list[str], work: Path) -> None:
    """(a) and (b): a healthy council."""
    with process(["mock-ecc", "--port", str(port), "--db", str(store), "--token", TOKEN], env,
                 work / "mock.log"):
        wait_ready(mock_url)
        if args.only in ("all", "latency"):
            with process(relay_args, env, work / "relay-a.log"):
                lags = latency(database, store, args.log_ins, args.rate)
            print(f"(a) {len(lags)} log-ins at {args.rate:g}/s, relay interval "
                  f"{args.interval:g} s: commit -> council receipt p50 "
                  f"{percentile(lags, 50):.2f} s, p95 {percentile(lags, 95):.2f} s, "
                  f"p99 {percentile(lags, 99):.2f} s, max {max(lags):.2f} s  (requirement "
                  f"p99 < 5 s: {'met' if percentile(lags, 99) < 5 else 'NOT MET'})")
        if args.only in ("all", "backlog"):
            drain_backlog(args, database, store, mock_url, env, relay_args, work)


def drain_backlog(args: argparse.Namespace, database: Database, store: Path, mock_url: str,
                  env: dict[str, str], relay_args: list[str], work: Path) -> None:
    """(b): the relay drains a backlog, against a plain loop posting the same batches."""
    payloads = backlog(database, args.backlog)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"

    def plain_loop() -> float:
        http.post(mock_url + "/admin/reset", timeout=10)
        began = time.perf_counter()
        for i in range(0, len(payloads), 100):
            response = http.post(mock_url + "/api/v1/records",
                                 json={"records": payloads[i:i + 100]}, timeout=30)
            response.raise_for_status()
        took = time.perf_counter() - began
        assert len(received(store)) == len(payloads)
        return took

    before = plain_loop()
    http.post(mock_url + "/admin/reset", timeout=10)
    began = time.perf_counter()
    with process(relay_args, env, work / "relay-b.log"):
        while pending(database):
            time.sleep(0.05)
    drained = time.perf_counter() - began
    assert len(received(store)) == len(payloads), "the relay lost records"
    after = plain_loop()
    # The faster of the two plain loops (before and after the relay) is the baseline: the
    # machine's noise then counts against the relay, never for it.
    baseline = min(before, after)
    print(f"    plain loop before the relay {before:.2f} s, after {after:.2f} s")
    base_rate, relay_rate = len(payloads) / baseline, len(payloads) / drained
    print(f"(b) backlog of {len(payloads)}: plain loop {baseline:.2f} s "
          f"({base_rate:.0f} records/s), relay {drained:.2f} s ({relay_rate:.0f} records/s,"
          f" including its start-up); ratio relay/plain {relay_rate / base_rate:.2f} "
          f"(requirement >= 0.5: {'met' if relay_rate / base_rate >= 0.5 else 'NOT MET'})")


if __name__ == "__main__":
    main()
