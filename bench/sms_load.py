"""Load benchmark: N concurrent carers texting IN and OUT, against the gateway and a bare app.

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/sms_load.py --carers 100

What it does, all on 127.0.0.1:
1. Recreates its own PostgreSQL database (default sms_bench, created if missing; never `test`),
   migrates it and writes a rota: per carer, a registered mobile, a client with a visit-code
   token (6 digits, 30 s) and a printed code sheet, and a planned visit starting now.
2. Starts the gateway (ivr_gateway.wsgi:app) and bench/bare_app.py (signature check, a fixed
   <Message>) under gunicorn with the same settings (default 2 workers x 4 threads, gthread).
3. For each app in turn (bare first): warm-up texts, then N threads released together, each
   texting `IN <token code>` then `OUT <sheet code>` with signed posts exactly as Twilio sends
   them (ivr_gateway.sms.simulator), timing every POST.
4. Prints p50/p99 for IN, OUT and all texts for both apps and the p99 ratio gateway/bare (target
   <= 3), then checks in the database that every carer has one closed visit, logged in by token
   and out by sheet, and that every text was stored once.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from ivr_load import HOST, CpuMeter, gateway_and_bare, percentile, servers
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr_gateway.config import DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_PHONE_NUMBER, Settings
from ivr_gateway.config import normalise_database_url as normalise_url
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    CareWorkerMobile,
    PlannedVisit,
    Rag,
    Verification,
)
from ivr_gateway.sms.codes import encrypt_secret, time_step, totp_at_step
from ivr_gateway.sms.devices import new_code_sheet
from ivr_gateway.sms.models import InboundText, VisitCodeToken
from ivr_gateway.sms.simulator import send_text

TARGET_RATIO = 3.0
MAX_CARERS = 2000
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - a public example seed
REQUEST_TIMEOUT = 15.0


@dataclass(frozen=True)
class BenchCarer:
    """A carer texting from their mobile, with the codes of their client's home."""

    mobile: str
    sheet_code: str
    care_worker_id: int


@dataclass
class AppRun:
    """Timed texts of one app's measured phase."""

    name: str
    samples: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu: CpuMeter | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def setup_database(server_url: str, db_name: str, count: int, now: datetime
                   ) -> tuple[str, list[BenchCarer]]:
    """Create (if missing) and reset the bench database, migrate it, write the rota."""
    if db_name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to use database {db_name!r}: give the bench its own")
    admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db_name}):
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()
    url = f"{server_url}/{db_name}"
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(normalise_url(url))
    settings = Settings()
    encrypted = encrypt_secret(SECRET, settings.token_secret_key)
    engine = create_engine(normalise_url(url))
    carers: list[BenchCarer] = []
    with Session(engine) as session:
        for i in range(count):
            adult = Adult(ref=f"BENCH-A{i:05d}", client_number=f"{300000 + i:06d}",
                          given_name="Bench", family_name=f"Client{i}", address="", postcode="",
                          rag=Rag.GREEN, active=True, created_at=now, updated_at=now)
            carer = CareWorker(ref=f"BENCH-C{i:05d}", staff_number=f"{1000 + i:04d}",
                               given_name="Bench", family_name=f"Carer{i}", pin_hash=None,
                               language="en", branch="Bench", active=True, created_at=now,
                               updated_at=now)
            mobile = f"+4477009{i:05d}"
            carer.mobiles = [CareWorkerMobile(number=mobile)]
            start = now - timedelta(minutes=1)
            visit = PlannedVisit(ref=f"BENCH-V{i:05d}", adult=adult, planned_start=start,
                                 planned_end=start + timedelta(minutes=30), created_at=now,
                                 updated_at=now)
            visit.care_workers = [carer]
            session.add_all([adult, carer, visit])
            session.flush()
            session.add(VisitCodeToken(serial=f"BENCH-T{i:05d}", adult_id=adult.id,
                                       secret_encrypted=encrypted, digits=6, step_seconds=30,
                                       drift_steps=0, active=True, created_at=now,
                                       updated_at=now))
            sheet = new_code_sheet(session, adult.ref, count=1, settings=settings, now=now,
                                   actor="bench")
            carers.append(BenchCarer(mobile, sheet.codes[0], carer.id))
        session.commit()
    engine.dispose()
    return url, carers


def check_database(url: str, carers: list[BenchCarer]) -> bool:
    """One closed visit per carer, in by token, out by sheet; every text stored once."""
    engine = create_engine(normalise_url(url))
    with Session(engine) as session:
        visits = session.execute(select(
            ActualVisit.care_worker_id, ActualVisit.state, ActualVisit.in_verification,
            ActualVisit.out_verification)).all()
        texts = session.scalar(select(func.count()).select_from(InboundText)) or 0
    engine.dispose()
    ids = {c.care_worker_id for c in carers}
    good = sum(1 for v in visits if v.care_worker_id in ids and v.state == ActualVisitState.CLOSED
               and v.in_verification == Verification.TOKEN_CODE
               and v.out_verification == Verification.SHEET_CODE)
    mine = sum(1 for v in visits if v.care_worker_id in ids)
    print("\nCorrectness (the bench database after the run):")
    print(f"  carers with one closed visit, in by token and out by sheet: {good}/{len(carers)}"
          f" (visits of these carers: {mine})")
    print(f"  inbound texts stored: {texts} (measured carers sent {2 * len(carers)})")
    ok = good == len(carers) == mine
    print(f"  => {'OK' if ok else 'FAILED'}")
    return ok


def carer_texts(name: str, base_url: str, token: str, carer: BenchCarer, run: AppRun | None,
                start: threading.Barrier) -> None:
    """One carer: IN with the token's current code, then OUT with the sheet's code."""
    http = requests.Session()
    try:
        start.wait(timeout=60)
        for label, body, expect in (
                ("IN", f"IN {totp_at_step(SECRET, time_step(datetime.now(UTC), 30), 6)}",
                 "Logged in"),
                ("OUT", f"OUT {carer.sheet_code}", "Logged out")):
            began = time.perf_counter()
            replies = send_text(base_url, token, account_sid=DEV_TWILIO_ACCOUNT_SID,
                                gateway_number=DEV_TWILIO_PHONE_NUMBER, from_number=carer.mobile,
                                body=body, http=http, timeout=REQUEST_TIMEOUT)
            elapsed = time.perf_counter() - began
            if run is not None:
                with run.lock:
                    run.samples.append((label, elapsed))
            if name == "gateway" and not (replies and replies[0].startswith(expect)):
                raise RuntimeError(f"{label}: {replies!r}")
    except Exception as error:  # counted and reported: the run goes on
        if run is not None:
            with run.lock:
                run.errors.append(f"{carer.mobile}: {type(error).__name__}: {error}")
    finally:
        http.close()


def play(name: str, base_url: str, token: str, carers: list[BenchCarer],
         run: AppRun | None) -> float:
    """All carers at once, one thread each; the wall time in seconds."""
    start = threading.Barrier(len(carers) + 1)
    threads = [threading.Thread(target=carer_texts, args=(name, base_url, token, c, run, start),
                                daemon=True) for c in carers]
    for thread in threads:
        thread.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=120)
    return time.perf_counter() - began


def report(gateway: AppRun, bare: AppRun) -> float:
    """Print p50/p99 per command; return the overall p99 ratio."""
    def pick(run: AppRun, label: str | None) -> list[float]:
        return [s for lab, s in run.samples if label is None or lab == label]

    header = (f"{'text':<14}{'n':>5} | {'gateway p50':>11}{'p99':>9} | {'bare p50':>9}"
              f"{'p99':>9} | {'p99 ratio':>9}")
    print("\nLatency per text, milliseconds (client-side, whole POST):")
    print(header)
    print("-" * len(header))
    overall = float("nan")
    for title, label in (("IN <token>", "IN"), ("OUT <sheet>", "OUT"), ("all texts", None)):
        g, b = pick(gateway, label), pick(bare, label)
        if not g or not b:
            continue
        ratio = percentile(g, 99) / percentile(b, 99)
        overall = ratio if label is None else overall
        print(f"{title:<14}{len(g):>5} | {percentile(g, 50) * 1000:>11.1f}"
              f"{percentile(g, 99) * 1000:>9.1f} | {percentile(b, 50) * 1000:>9.1f}"
              f"{percentile(b, 99) * 1000:>9.1f} | {ratio:>9.2f}")
    for run in (bare, gateway):
        print(f"{run.name}: {len(run.samples)} texts in {run.wall_seconds:.1f} s "
              f"({len(run.samples) / max(run.wall_seconds, 1e-9):.0f} texts/s), "
              f"errors: {len(run.errors)}")
        if run.cpu is not None and run.samples:
            per = 1000 / len(run.samples)
            print(f"  CPU ms per text: {run.name} workers {run.cpu.app * per:.1f}, "
                  f"load client {run.cpu.client * per:.1f}, "
                  f"PostgreSQL {run.cpu.postgres * per:.1f}")
        for message in run.errors[:10]:
            print(f"  {message}")
    verdict = "meets" if overall <= TARGET_RATIO else "MISSES"
    print(f"\nOverall p99 ratio gateway/bare: {overall:.2f} ({verdict} the target <= "
          f"{TARGET_RATIO:g})")
    return overall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carers", type=int, default=100, help="concurrent carers (100)")
    parser.add_argument("--warmup", type=int, default=8, help="warm-up carers per app (8)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--server", default=f"postgresql://postgres@{HOST}:5432")
    parser.add_argument("--database", default="sms_bench")
    args = parser.parse_args(argv)
    if not 1 <= args.carers <= MAX_CARERS:
        parser.error(f"--carers 1..{MAX_CARERS}")
    if make_url(args.server).host not in {HOST, "localhost"}:
        parser.error("the bench talks to 127.0.0.1 only")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    now = datetime.now(UTC)
    print(f"Setting up database {args.database} ...", flush=True)
    url, carers = setup_database(args.server.rstrip("/"), args.database,
                                 args.warmup + args.carers, now)
    warm_up, measured = carers[:args.warmup], carers[args.warmup:]
    print(f"{now:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
          f"{platform.python_version()}; gunicorn {args.workers} workers x {args.threads} "
          f"threads (gthread); {args.carers} concurrent carers (+{args.warmup} warm-up)")
    token = "bench-" + secrets.token_hex(16)
    specs = gateway_and_bare(url, token)
    log_dir = Path(tempfile.mkdtemp(prefix="sms_bench_"))
    runs = {"gateway": AppRun("gateway"), "bare": AppRun("bare")}
    try:
        with servers(specs, args.workers, args.threads, log_dir) as started:
            for server in started.values():
                server.wait_ready(token)
            for name in ("bare", "gateway"):
                server = started[name]
                if warm_up:
                    play(name, server.base_url, token, warm_up, None)
                print(f"{name}: {len(measured)} concurrent carers (IN, then OUT) ...",
                      flush=True)
                with CpuMeter(server.process.pid) as meter:
                    runs[name].wall_seconds = play(name, server.base_url, token, measured,
                                                   runs[name])
                runs[name].cpu = meter
    except KeyboardInterrupt:
        print("\ninterrupted: gunicorns stopped", file=sys.stderr)
        return 130
    ratio = report(runs["gateway"], runs["bare"])
    ok = check_database(url, measured)
    errors = len(runs["gateway"].errors) + len(runs["bare"].errors)
    print(f"gunicorn logs: {log_dir}")
    return 0 if ok and errors == 0 and ratio == ratio else 1


if __name__ == "__main__":
    sys.exit(main())
