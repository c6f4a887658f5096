"""Load benchmark: N concurrent simulated carer calls against the gateway and a bare Flask app.

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/ivr_load.py --calls 50

What it does, all on 127.0.0.1:
1. Recreates the schema of its own PostgreSQL database (default ivr_bench, created if missing;
   never the test suite's `test`), migrates it with Alembic and writes a rota with the models:
   one carer, one adult with its own landline and one planned visit starting now per call (plus
   the warm-up calls' own carers). PINs are hashed once and the hash reused.
2. Starts the real gateway (ivr_gateway.wsgi:app) and the bare app (bench/bare_app.py) under
   gunicorn with the same settings (default 2 workers x 4 threads, gthread).
3. For each app in turn (bare first, then gateway, each with the machine to itself): warm-up
   calls, then N concurrent threads, each playing a full log-in then a full log-out with
   ivr_gateway.simulator.PhoneSimulator (signed posts, TwiML followed) over its own
   requests.Session, timing every POST by webhook.
4. Prints p50/p99 per webhook for both apps and the p99 ratio gateway/bare (target <= 3), then
   checks in the database that every carer has exactly one closed actual visit.
5. Stops both gunicorns (also on error or Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr_gateway.config import DEV_PIN_PEPPER as PEPPER  # gunicorn runs without PIN_PEPPER
from ivr_gateway.config import DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_PHONE_NUMBER
from ivr_gateway.config import normalise_database_url as normalise_url
from ivr_gateway.hashing import hash_pin, peppered, verify_pin
from ivr_gateway.ivr.models import Call
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AdultLandline,
    CareWorker,
    LogEvent,
    PlannedVisit,
    Rag,
    VisitException,
)
from ivr_gateway.simulator import PhoneSimulator
from ivr_gateway.telephony.signature import sign

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
HOST = "127.0.0.1"
PIN = "2468"
MAX_CALLS = 2000  # bounded: 4-digit staff numbers, and threads on a small machine
REQUEST_TIMEOUT = 15.0  # Twilio gives a webhook 15 s
TARGET_RATIO = 3.0
# Ofcom's drama ranges (1000 numbers each, never a real line, valid to phonenumbers).
DRAMA_PREFIXES = ["+441134960", "+441144960", "+441164960", "+441174960", "+441184960",
                  "+442079460", "+441214960", "+441314960", "+441414960", "+441514960"]
LABEL_ORDER = ["/twilio/voice", "step/1", "step/2", "step/3", "step/4", "step/5",
               "/twilio/status"]


@dataclass(frozen=True)
class BenchCarer:
    """A carer on the bench rota, with the landline of the one client they visit."""

    staff_number: str
    landline: str
    care_worker_id: int
    planned_visit_id: int


@dataclass(frozen=True)
class Sample:
    """One timed webhook POST."""

    label: str
    phase: str  # "in" or "out"
    seconds: float
    status: int


@dataclass
class AppRun:
    """What one app's measured phase produced."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    calls_done: int = 0
    wall_seconds: float = 0.0
    cpu: Any = None  # CpuMeter of the measured phase
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


# ---------------------------------------------------------------------------------------------
# the database


def _landline(i: int) -> str:
    prefix, rest = divmod(i + 1, 1000)  # skips +441134960000, the gateway's own number
    return f"{DRAMA_PREFIXES[prefix]}{rest:03d}"


def setup_database(server_url: str, db_name: str, carers: int, now: datetime,
                   pin_hash_params: tuple[int, int] | None = None
                   ) -> tuple[str, list[BenchCarer]]:
    """Create (if missing) and reset the bench database, migrate it, write the rota."""
    if db_name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to use database {db_name!r}: give the bench its own")
    admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db_name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()

    url = f"{server_url}/{db_name}"
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(normalise_url(url))

    if pin_hash_params is None:
        pin_hash = hash_pin(PIN, PEPPER)  # once, shared by every bench carer
    else:  # what-if: argon2 verifies with the parameters stored in the hash
        memory_kib, passes = pin_hash_params
        pin_hash = PasswordHasher(time_cost=passes, memory_cost=memory_kib,
                                  parallelism=1).hash(peppered(PIN, PEPPER))
    engine = create_engine(normalise_url(url))
    rows: list[tuple[CareWorker, PlannedVisit, str]] = []
    with Session(engine) as session:
        for i in range(carers):
            landline = _landline(i)
            adult = Adult(ref=f"BENCH-A{i:05d}", client_number=f"{200000 + i:06d}",
                          given_name="Bench", family_name=f"Client{i}",
                          address=f"{i + 1} Bench Road, Chelmsford", postcode="CM1 1AA",
                          rag=Rag.GREEN, active=True, created_at=now, updated_at=now)
            adult.landlines = [AdultLandline(number=landline)]
            carer = CareWorker(ref=f"BENCH-C{i:05d}", staff_number=f"{1000 + i:04d}",
                               given_name="Bench", family_name=f"Carer{i}", pin_hash=pin_hash,
                               language="en", branch="Bench", active=True,
                               created_at=now, updated_at=now)
            start = now - timedelta(minutes=1)
            visit = PlannedVisit(ref=f"BENCH-V{i:05d}", adult=adult, planned_start=start,
                                 planned_end=start + timedelta(minutes=30),
                                 created_at=now, updated_at=now)
            visit.care_workers = [carer]
            session.add_all([adult, carer, visit])
            rows.append((carer, visit, landline))
        session.commit()
        bench = [BenchCarer(c.staff_number, landline, c.id, v.id) for c, v, landline in rows]
    engine.dispose()
    return url, bench


def check_database(url: str, carers: list[BenchCarer]) -> bool:
    """Every carer has exactly one actual visit, closed, with both times, matched to its plan."""
    engine = create_engine(normalise_url(url))
    with Session(engine) as session:
        visits = session.execute(select(
            ActualVisit.care_worker_id, ActualVisit.state, ActualVisit.planned_visit_id,
            ActualVisit.started_at, ActualVisit.ended_at)).all()
        events = Counter(k.value for k in session.scalars(select(LogEvent.kind)))
        exceptions = Counter(c.value for c in session.scalars(select(VisitException.code)))
        calls = session.scalar(select(func.count()).select_from(Call)) or 0
        completed = session.scalar(select(func.count()).select_from(Call)
                                   .where(Call.status == "completed")) or 0
    engine.dispose()
    by_carer: dict[int, list[Any]] = defaultdict(list)
    for row in visits:
        by_carer[row.care_worker_id].append(row)
    one_closed = matched = 0
    for carer in carers:
        rows = by_carer.get(carer.care_worker_id, [])
        if (len(rows) == 1 and rows[0].state == ActualVisitState.CLOSED
                and rows[0].started_at is not None and rows[0].ended_at is not None):
            one_closed += 1
            matched += rows[0].planned_visit_id == carer.planned_visit_id
    n = len(carers)
    print("\nCorrectness (database ivr_bench after the run):")
    print(f"  carers with exactly one closed actual visit (in and out times): {one_closed}/{n}")
    print(f"  ... matched to their own planned visit: {matched}/{n}")
    print(f"  actual visits in all: {len(visits)}; log events: in={events.get('in', 0)} "
          f"out={events.get('out', 0)}")
    print(f"  calls: {calls}, with status 'completed': {completed} (expected {2 * n})")
    print(f"  visit exceptions: {dict(exceptions) or 'none'}")
    ok = one_closed == n and matched == n and len(visits) == n and completed == 2 * n
    print(f"  => {'OK' if ok else 'FAILED'}")
    return ok


# ---------------------------------------------------------------------------------------------
# gunicorn


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """One gunicorn master (in its own process group) and its workers."""

    def __init__(self, name: str, app: str, port: int, env: dict[str, str], workers: int,
                 threads: int, log_dir: Path) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self.log_path = log_dir / f"{name}.log"
        command = [str(GUNICORN), "--workers", str(workers), "--threads", str(threads),
                   "--worker-class", "gthread", "--bind", f"{HOST}:{port}",
                   "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning", app]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, token: str, timeout: float = 30.0) -> None:
        """Until a signed status callback is answered 204 (the workers are up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} gunicorn exited {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            with suppress(requests.RequestException):
                url, form = f"{self.base_url}/twilio/status", {"CallSid": "CAready",
                                                                "CallStatus": "ringing"}
                response = requests.post(url, data=form, timeout=5,
                                         headers={"X-Twilio-Signature": sign(token, url, form)})
                if response.status_code == 204:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the gunicorn log."""
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """TERM the process group (master and workers), KILL it if it lingers."""
        stop_process_group(self.process)
        self._log.close()


def stop_process_group(process: subprocess.Popen[Any]) -> None:
    """TERM a child started in its own session and its whole group; KILL it if it lingers."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def gateway_and_bare(database_url: str, token: str, bare_env: dict[str, str] | None = None
                     ) -> list[tuple[str, str, dict[str, str]]]:
    """The two gunicorn apps of a run, each on a free port, sharing the Twilio auth token."""
    base_env = {k: v for k, v in os.environ.items()
                if k not in {"DATABASE_URL", "PUBLIC_BASE_URL", "TWILIO_AUTH_TOKEN",
                             "IVR_GATEWAY_ENV", "WEB_CONCURRENCY"}}
    base_env.update(TWILIO_AUTH_TOKEN=token, IVR_GATEWAY_ENV="test",
                    PYTHONDONTWRITEBYTECODE="1")
    gateway_port, bare_port = free_port(), free_port()
    return [
        ("gateway", "ivr_gateway.wsgi:app",
         {**base_env, "DATABASE_URL": database_url,
          "PUBLIC_BASE_URL": f"http://{HOST}:{gateway_port}"}),
        ("bare", "bench.bare_app:app",
         {**base_env, "PUBLIC_BASE_URL": f"http://{HOST}:{bare_port}", **(bare_env or {})}),
    ]


@contextmanager
def servers(specs: list[tuple[str, str, dict[str, str]]], workers: int, threads: int,
            log_dir: Path) -> Iterator[dict[str, Gunicorn]]:
    """Start each gunicorn; always stop them all at the end."""
    started: dict[str, Gunicorn] = {}
    try:
        for name, app, env in specs:
            port = int(env["PUBLIC_BASE_URL"].rsplit(":", 1)[1])
            started[name] = Gunicorn(name, app, port, env, workers, threads, log_dir)
        yield started
    finally:
        for server in started.values():
            server.stop()


# ---------------------------------------------------------------------------------------------
# the load client


def webhook_label(url: str) -> str:
    """'/twilio/voice', 'step/N' or '/twilio/status'."""
    path = urlsplit(url).path
    if path.startswith("/twilio/voice/step/"):
        return "step/" + path.rsplit("/", 1)[1]
    return path


class TimedSession(requests.Session):
    """A requests.Session that times each POST and files it by webhook and call phase."""

    def __init__(self, run: AppRun | None) -> None:
        super().__init__()
        self.run = run
        self.phase = "in"

    def post(self, url: str | bytes, data: Any = None, json: Any = None,
             **kwargs: Any) -> requests.Response:  # type: ignore[override]
        started = time.perf_counter()
        response = super().post(url, data=data, json=json, **kwargs)
        elapsed = time.perf_counter() - started
        if self.run is not None:
            label = webhook_label(str(url))
            self.run.add(Sample(label, self.phase, elapsed, response.status_code))
            if response.status_code >= 300:
                self.run.error(f"{label} answered {response.status_code}")
        return response


def simulator(base_url: str, token: str, http: requests.Session) -> PhoneSimulator:
    """A PhoneSimulator signing with the bench token."""
    return PhoneSimulator(base_url, token, account_sid=DEV_TWILIO_ACCOUNT_SID,
                          gateway_number=DEV_TWILIO_PHONE_NUMBER, http=http,
                          timeout=REQUEST_TIMEOUT)


def carer_visit(name: str, base_url: str, token: str, carer: BenchCarer, run: AppRun | None,
                start: threading.Barrier, deadline: float) -> None:
    """One carer's visit: a full log-in call, then a full log-out call."""
    http = TimedSession(run)
    phone = simulator(base_url, token, http)
    try:
        start.wait(timeout=60)
        for phase, expect in (("in", "Logged in"), ("out", "Logged out")):
            if time.monotonic() > deadline:
                raise TimeoutError("time limit reached before the call")
            http.phase = phase
            transcript = phone.call(carer.landline, [carer.staff_number, PIN])
            if not transcript.hung_up_by_gateway:
                raise RuntimeError(f"log-{phase}: the {name} did not hang up")
            if name == "gateway" and not any(h.startswith(expect) for h in transcript.heard):
                raise RuntimeError(f"log-{phase} by {carer.staff_number}: heard "
                                   f"{transcript.heard!r}")
            if run is not None:
                with run.lock:
                    run.calls_done += 1
    except Exception as error:  # counted and reported: the run goes on
        message = f"{carer.staff_number}: {type(error).__name__}: {error}"
        if run is not None:
            run.error(message)
        else:
            print(f"  warm-up error: {message}", file=sys.stderr)
    finally:
        http.close()


def play_calls(name: str, base_url: str, token: str, carers: list[BenchCarer],
               run: AppRun | None, time_limit: float) -> float:
    """All carers' visits at once, one thread each; returns the wall time in seconds."""
    deadline = time.monotonic() + time_limit
    start = threading.Barrier(len(carers) + 1)
    threads = [threading.Thread(target=carer_visit, daemon=True,
                                args=(name, base_url, token, c, run, start, deadline))
               for c in carers]
    for thread in threads:
        thread.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    for thread in threads:
        # short joins so Ctrl-C gets through; abandon stragglers after the time limit
        while thread.is_alive() and time.monotonic() < deadline + 2 * REQUEST_TIMEOUT:
            thread.join(timeout=0.5)
    if any(t.is_alive() for t in threads) and run is not None:
        run.error("some calls were still running at the time limit")
    return time.perf_counter() - began


# ---------------------------------------------------------------------------------------------
# where the CPU goes


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    with suppress(OSError):
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _postgres_pids() -> list[int]:
    """PostgreSQL's processes on this machine (the server is local: 127.0.0.1 only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _machine_busy() -> float:
    """CPU seconds the whole machine spent not idle, since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU used during a phase by the app's gunicorn processes, this client, and the rest."""

    master: int
    app: float = 0.0
    client: float = 0.0
    postgres: float = 0.0
    machine: float = 0.0

    def _read(self) -> tuple[float, float, float, float]:
        app = sum(_proc_cpu(p) for p in [self.master, *_children(self.master)])
        postgres = sum(_proc_cpu(p) for p in _postgres_pids())  # ends of exited backends lost
        return app, time.process_time(), postgres, _machine_busy()

    def __enter__(self) -> CpuMeter:
        self._start = self._read()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._read()
        self.app, self.client, self.postgres, self.machine = (
            b - a for a, b in zip(self._start, end, strict=True))


class PySpy:
    """py-spy sampling the gunicorn master and its workers (on-CPU stacks, raw format)."""

    def __init__(self, pid: int, output: Path, rate: int) -> None:
        executable = Path(sys.executable).with_name("py-spy")
        if not executable.exists():
            raise SystemExit("--py-spy needs py-spy: .venv/bin/pip install py-spy")
        self.output = output
        self._log = output.with_suffix(".log").open("w")
        self.process = subprocess.Popen(
            [str(executable), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
             "--rate", str(rate), "--format", "raw", "--output", str(output)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.5)  # attached before the calls start

    def stop(self) -> None:
        """SIGINT makes py-spy write its file; KILL it if it will not stop."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()


# innermost frame from one of these decides where a sample's time goes
PACKAGES = [("argon2", "argon2id PIN hashing"), ("psycopg", "psycopg (PostgreSQL driver, I/O)"),
            ("sqlalchemy", "SQLAlchemy (ORM, core)"), ("twilio", "twilio (signature, TwiML)"),
            ("phonenumbers", "phonenumbers"), ("ivr_gateway", "ivr_gateway's own code"),
            ("jinja2", "Flask/Werkzeug"), ("werkzeug", "Flask/Werkzeug"),
            ("flask", "Flask/Werkzeug"), ("gunicorn", "gunicorn (HTTP, accept loop)")]


def _package(frame: str) -> str | None:
    where = "/" + frame.rsplit("(", 1)[-1]  # py-spy prints paths from site-packages
    for key, title in PACKAGES:
        if f"/{key}/" in where:
            return title
    return None


def summarise_profile(path: Path, top: int = 15) -> None:
    """Where the gateway workers' CPU went: by package, and by the gateway's own functions."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    total = sum(n for _, n in stacks)
    if not total:
        print(f"py-spy: no samples in {path}")
        return
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        owner = next((p for f in reversed(frames) if (p := _package(f))), "other (stdlib, ...)")
        by_package[owner] += n
        for name in {f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1].split(":")[0] + ")"
                     for f in frames if "ivr_gateway/" in f}:
            inclusive[name] += n
    print(f"\npy-spy, gateway workers on CPU ({total} samples, innermost known package):")
    for title, n in by_package.most_common():
        print(f"  {100 * n / total:5.1f}%  {title}")
    print("Inclusive share of the gateway's own functions:")
    for name, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")


# ---------------------------------------------------------------------------------------------
# the report


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def _labels(runs: list[AppRun]) -> list[str]:
    seen = {s.label for r in runs for s in r.samples}
    return [x for x in LABEL_ORDER if x in seen] + sorted(seen - set(LABEL_ORDER))


def report(gateway: AppRun, bare: AppRun, by_phase: bool) -> float:
    """Print the latency table; return the overall p99 ratio."""
    def pick(run: AppRun, label: str | None, phase: str | None) -> list[float]:
        return [s.seconds for s in run.samples
                if (label is None or s.label == label) and (phase is None or s.phase == phase)]

    rows: list[tuple[str, str | None, str | None]] = [(x, x, None) for x in _labels([gateway,
                                                                                     bare])]
    if by_phase:
        rows += [(f"{x} ({p})", x, p) for p in ("in", "out") for x in _labels([gateway, bare])]
    rows.append(("all webhooks", None, None))
    header = (f"{'webhook':<22}{'n':>5} | {'gateway p50':>11}{'p99':>9} | "
              f"{'bare p50':>9}{'p99':>9} | {'p99 ratio':>9}")
    print("\nLatency per webhook, milliseconds (client-side, whole POST):")
    print(header)
    print("-" * len(header))
    overall = float("nan")
    for title, label, phase in rows:
        g, b = pick(gateway, label, phase), pick(bare, label, phase)
        if not g or not b:
            continue
        ratio = percentile(g, 99) / percentile(b, 99)
        if label is None:
            print("-" * len(header))
            overall = ratio
        print(f"{title:<22}{len(g):>5} | {_ms(percentile(g, 50)):>11}{_ms(percentile(g, 99)):>9}"
              f" | {_ms(percentile(b, 50)):>9}{_ms(percentile(b, 99)):>9} | {ratio:>9.2f}")
    for run in (bare, gateway):
        print(f"{run.name}: {run.calls_done} calls in {run.wall_seconds:.1f} s "
              f"({run.calls_done / max(run.wall_seconds, 1e-9):.1f} calls/s, "
              f"{len(run.samples) / max(run.wall_seconds, 1e-9):.0f} requests/s), "
              f"errors: {len(run.errors)}")
        if run.cpu is not None and run.samples:
            per = 1000 / len(run.samples)
            cpu = run.cpu
            rest = max(0.0, cpu.machine - cpu.app - cpu.client - cpu.postgres)
            print(f"  CPU in the phase, ms per request: {run.name} workers {cpu.app * per:.1f}, "
                  f"load client {cpu.client * per:.1f}, PostgreSQL {cpu.postgres * per:.1f}, "
                  f"unattributed (kernel: loopback TCP, softirq; profiler) {rest * per:.1f}; busy "
                  f"{cpu.machine:.1f} of {(os.cpu_count() or 1) * run.wall_seconds:.1f} "
                  "CPU-seconds")
        for message in run.errors[:10]:
            print(f"  {message}")
    verdict = "meets" if overall <= TARGET_RATIO else "MISSES"
    print(f"\nOverall p99 ratio gateway/bare: {overall:.2f} ({verdict} the target <= "
          f"{TARGET_RATIO:g})")
    return overall


def argon2_cost(rounds: int = 10) -> float:
    """Seconds for one verify_pin (argon2id, the package's parameters), in this process."""
    pin_hash = hash_pin(PIN, PEPPER)
    started = time.perf_counter()
    for _ in range(rounds):
        verify_pin(pin_hash, PIN, PEPPER)
    return (time.perf_counter() - started) / rounds


def describe_machine(args: argparse.Namespace, url: str) -> None:
    """What the figures were measured on."""
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        pg = conn.scalar(text("SHOW server_version"))
    engine.dispose()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
          f"{platform.python_version()}; PostgreSQL {pg}; gunicorn {args.workers} workers x "
          f"{args.threads} threads (gthread); {args.calls} concurrent calls "
          f"(+{args.warmup} warm-up)")


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50,
                        help="concurrent simulated carers, each a log-in then a log-out (50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (4)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="warm-up visits per app before measuring (workers x threads)")
    parser.add_argument("--server", default=f"postgresql://postgres@{HOST}:5432",
                        help="PostgreSQL server URL, without the database")
    parser.add_argument("--database", default="ivr_bench", help="the bench's own database")
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="seconds allowed for each app's measured phase (300)")
    parser.add_argument("--by-phase", action="store_true",
                        help="also split each webhook into log-in and log-out calls")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="profile the gateway workers with py-spy during the measured phase, "
                             "raw stacks to FILE, and print where their CPU went (perturbs the "
                             "latencies: compare ratios from runs without it)")
    parser.add_argument("--py-spy-rate", type=int, default=100, help="samples a second (100)")
    parser.add_argument("--what-if-pin-hash", default=None, metavar="MEMORY_KIB,PASSES",
                        help="what-if only: store the rota's PIN hashes with these argon2id "
                             "parameters instead of the package's (verify_pin follows the "
                             "parameters in the hash), e.g. 1024,1")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="keep the gunicorn logs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls must be between 1 and {MAX_CALLS}")
    if not (1 <= args.workers <= 16 and 1 <= args.threads <= 64):
        parser.error("--workers 1..16 and --threads 1..64")
    if args.what_if_pin_hash is not None:
        try:
            memory_kib, passes = (int(x) for x in args.what_if_pin_hash.split(","))
        except ValueError:
            parser.error("--what-if-pin-hash is MEMORY_KIB,PASSES, e.g. 1024,1")
        if not (8 <= memory_kib <= 256 * 1024 and 1 <= passes <= 10):
            parser.error("--what-if-pin-hash: memory 8..262144 KiB, passes 1..10")
        args.what_if_pin_hash = (memory_kib, passes)
    if args.warmup is None:
        args.warmup = args.workers * args.threads
    args.warmup = max(0, min(args.warmup, 200))
    if make_url(args.server).host not in {HOST, "localhost"}:
        parser.error("the bench talks to 127.0.0.1 only")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the gunicorns are stopped
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored

    now = datetime.now(UTC)
    print(f"Setting up database {args.database} ...", flush=True)
    url, carers = setup_database(args.server.rstrip("/"), args.database,
                                 args.warmup + args.calls, now, args.what_if_pin_hash)
    describe_machine(args, url)
    if args.what_if_pin_hash:
        print("WHAT-IF RUN: PIN hashes use argon2id m={} KiB t={}, not the package's "
              "parameters".format(*args.what_if_pin_hash))
    print(f"argon2id verify_pin, one thread, idle machine: {argon2_cost() * 1000:.1f} ms")
    # The warm-up carers visit first (the bare app is warmed by the same calls), then the rest.
    warm_up, measured = carers[:args.warmup], carers[args.warmup:]

    token = "bench-" + secrets.token_hex(16)
    specs = gateway_and_bare(url, token, {"BARE_TWIML_REQUESTS": "4"})
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="ivr_bench_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = {"gateway": AppRun("gateway"), "bare": AppRun("bare")}
    try:
        with servers(specs, args.workers, args.threads, log_dir) as started:
            for server in started.values():
                server.wait_ready(token)
            for name in ("bare", "gateway"):
                server = started[name]
                if args.warmup:
                    print(f"{name}: {args.warmup} warm-up visits ...", flush=True)
                    play_calls(name, server.base_url, token, warm_up, None, args.time_limit)
                print(f"{name}: {len(measured)} concurrent visits (log-in + log-out) ...",
                      flush=True)
                spy = (PySpy(server.process.pid, args.py_spy, args.py_spy_rate)
                       if args.py_spy and name == "gateway" else None)
                try:
                    with CpuMeter(server.process.pid) as runs[name].cpu:
                        runs[name].wall_seconds = play_calls(name, server.base_url, token,
                                                             measured, runs[name],
                                                             args.time_limit)
                finally:
                    if spy is not None:
                        spy.stop()
            if started["gateway"].process.poll() is not None:
                print(started["gateway"].log_tail(), file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted: gunicorns stopped", file=sys.stderr)
        return 130
    ratio = report(runs["gateway"], runs["bare"], args.by_phase)
    if args.py_spy:
        summarise_profile(args.py_spy)
    ok = check_database(url, carers)
    errors = len(runs["gateway"].errors) + len(runs["bare"].errors)
    passed = ok and errors == 0 and ratio == ratio  # (NaN when nothing was measured)
    if passed and args.log_dir is None:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"gunicorn logs: {log_dir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
