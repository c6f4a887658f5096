"""The morning peak: a county's morning, compressed in time, against every process at once.

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/morning_peak.py --scale 0.05 --office-load     # a few minutes
    .venv/bin/python bench/morning_peak.py --scale 1 --office-load        # the county

What it does, all on 127.0.0.1, on PostgreSQL (--database-url, a database of its own: its
`public` schema is dropped and re-migrated; `test` and `postgres` are refused):
1. Writes the rota: 2,000 carers and 10,000 visits at --scale 1 (five visits a carer, one client
   a visit, each client with a landline and, for the visits logged by text, a code sheet), the
   office ladder (coordinator, on call, manager), an office login and an API token.
2. Starts the processes of the Procfile as the Procfile starts them: `web` (its gunicorn line,
   sync workers, WEB_CONCURRENCY), `scheduler`, `relay`, and the mock council (`mock-ecc`). The
   app has no fake clock, so the morning is compressed by the settings instead: a log-in is late
   after 1 minute (KPI_LATE_AFTER_MINUTES), missed after 2, a log-out chased 3 minutes after
   planned end, the ladder climbs every minute, the tick runs every 5 s; planned times are
   placed around real now (each carer's visits 3 minutes apart, first visits over --spread s).
3. Plays the morning: a thread per carer rings (carer number and PIN, TwiML followed, Twilio's
   status callback at the end) or texts (IN/OUT and a sheet code) for each visit: most on time,
   5% late (after the late window), 2% missed (nobody comes), and 3% of carers log in to
   nothing at all ("nobody logged in by 9 am"); 20% of log-ins and log-outs by text; 5% of
   webhook requests are sent twice, as Twilio retries do (the same signed request again).
   With --office-load, the second half of the morning also has --boards office boards
   refreshing (/office/board/live every 15 s, as the page does) and an API client reading
   /api/v1/visits for the day in a loop.
4. Prints p50/p99 per webhook kind, for the first half (quiet) and the second (office load, when
   asked); the office's own timings; alert lag (the rule's deadline -> the first message that
   told of the alert marked sent by the scheduler's sender: its own text, or the storm summary
   or update it was part of, split into those told at once and those that joined a running
   storm and waited for its update by design); council lag (log-in committed -> the record
   received at the mock); the time of one escalation tick over the morning's alerts; then the
   CHECKS: no visit lost (every log-in and log-out a carer was told of is recorded), none
   duplicated (one actual visit per attended visit, one log-in and one log-out, each council
   record once), and every visit's outcome as planned (from /api/v1/visits).
Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from ivr_load import DRAMA_PREFIXES, free_port, percentile, stop_process_group
from sqlalchemy import create_engine, func, select, text

from ivr_gateway.api.tokens import create_api_token
from ivr_gateway.clock import SystemClock
from ivr_gateway.config import DEV_PIN_PEPPER as PEPPER  # the processes run as a test run
from ivr_gateway.config import (
    DEV_TWILIO_ACCOUNT_SID,
    DEV_TWILIO_PHONE_NUMBER,
    Settings,
    load_settings,
)
from ivr_gateway.config import normalise_database_url as normalise_url
from ivr_gateway.db import Database
from ivr_gateway.escalation.contacts import add_contact, add_on_call
from ivr_gateway.escalation.models import Alert, AlertNotification
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.hashing import hash_pin
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AdultLandline,
    CareWorker,
    CareWorkerMobile,
    LogEvent,
    LogKind,
    PlannedVisit,
    Rag,
)
from ivr_gateway.office.auth import hash_password
from ivr_gateway.office.models import OfficeRole, OfficeUser
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.simulator import PhoneSimulator
from ivr_gateway.sms.devices import new_code_sheet
from ivr_gateway.sms.simulator import message_form, replies_in
from ivr_gateway.telephony.signature import sign

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PIN = "2468"
OFFICE_PASSWORD = "morning peak office password"  # noqa: S105 - the bench's own database
ECC_TOKEN = "morning-peak-ecc-token"  # noqa: S105 - a local mock's token
REQUEST_TIMEOUT = 15.0  # Twilio gives a webhook 15 s, then plays its own error
# At --pace 1 (the default) one minute of the settings is one minute of the run; --pace P
# stretches every time below and every minute of SETTINGS_ENV by P (set_pace), so a county-sized
# morning can be played at a rate the machine under test can serve.
GAP = 180  # seconds between one carer's visits: the longest visit (late, 100 s in + 70 s) fits
VISIT_SECONDS = 60  # planned length (one "minute" of the compressed morning)
STAY = 70  # seconds a carer stays after logging in
PACE = 1.0
# 11,000 drama numbers (Manchester's: 01632 960 is drama too, but no valid UK number)
LANDLINE_PREFIXES = [*DRAMA_PREFIXES, "+441614960"]
KINDS = ["/twilio/voice", "/twilio/voice/step", "/twilio/status", "/twilio/sms"]
SETTINGS_ENV = {
    # The compressed morning: whole minutes are the settings' unit.
    "KPI_LATE_AFTER_MINUTES": "1", "KPI_MISSED_AFTER_MINUTES": "2",
    "KPI_LOG_OUT_CHASE_AFTER_MINUTES": "3", "ESCALATION_TICK_SECONDS": "5",
    "ESCALATION_LEVEL_MINUTES": "1", "ESCALATION_CARER_REMINDER_MINUTES": "1",
    # A storm's updates at twice the rung's time, as production's 30 minutes to 15.
    "ALERT_STORM_UPDATE_MINUTES": "2",
    "OFFICE_HOURS": "00:00-23:59 Mon-Sun", "BANK_HOLIDAYS": "none",
    "ALERT_SENDER": "recording", "IVR_GATEWAY_ENV": "test",
}


def set_pace(pace: float) -> None:
    """Stretch the compressed morning by `pace` (whole minutes in the settings)."""
    global GAP, VISIT_SECONDS, STAY, PACE  # the bench's one knob, set once
    if pace == 1:
        return
    if pace != int(pace) or pace < 1:
        raise SystemExit("--pace is a whole number of minutes per compressed minute (1, 2, 3)")
    PACE = pace
    GAP, VISIT_SECONDS, STAY = GAP * int(pace), VISIT_SECONDS * int(pace), STAY * int(pace)
    for key in ("KPI_LATE_AFTER_MINUTES", "KPI_MISSED_AFTER_MINUTES",
                "KPI_LOG_OUT_CHASE_AFTER_MINUTES", "ESCALATION_LEVEL_MINUTES",
                "ESCALATION_CARER_REMINDER_MINUTES", "ALERT_STORM_UPDATE_MINUTES"):
        SETTINGS_ENV[key] = str(int(SETTINGS_ENV[key]) * int(pace))


@dataclass(frozen=True)
class PlannedCall:
    """One visit as the carer will play it."""

    visit_ref: str
    offset: float  # planned start, seconds after the morning's start
    plan: str  # on_time, late, missed, absent
    channel: str  # ivr or sms
    landline: str
    codes: tuple[str, ...]  # the client's sheet (sms)


@dataclass(frozen=True)
class BenchCarer:
    """A carer of the morning and their visits in order."""

    care_worker_id: int
    staff_number: str
    mobile: str
    visits: tuple[PlannedCall, ...]


@dataclass(frozen=True)
class Sample:
    """One timed request."""

    kind: str
    started: float  # monotonic
    seconds: float
    status: int


@dataclass
class Run:
    """Everything the morning produced, thread-safe."""

    samples: list[Sample] = field(default_factory=list)
    office: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    told: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (visit, in|out)
    retries: int = 0
    retry_mismatch: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample, office: bool = False) -> None:
        """File a timing."""
        with self.lock:
            (self.office if office else self.samples).append(sample)

    def error(self, message: str) -> None:
        """File a failure (the run goes on)."""
        with self.lock:
            self.errors.append(message)


# ---------------------------------------------------------------------------------------------
# the database and the rota


def reset_database(url: str) -> str:
    """Create (if missing), empty and migrate the bench database; its SQLAlchemy URL."""
    name = url.rsplit("/", 1)[1]
    if name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    server = url.rsplit("/", 1)[0]
    admin = create_engine(normalise_url(f"{server}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(normalise_url(url))
    return normalise_url(url)


def landline(i: int) -> str:
    """The i-th client's landline, in Ofcom's drama ranges (never a real line)."""
    prefix, rest = divmod(i + 1, 1000)  # skips +441134960000, the gateway's own number
    return f"{LANDLINE_PREFIXES[prefix]}{rest:03d}"


def plan_morning(carers: int, per_carer: int, spread: float, rng: random.Random
                 ) -> list[list[tuple[float, str, str]]]:
    """For each carer, their visits: (offset s, plan, channel)."""
    morning = []
    for _ in range(carers):
        first = rng.uniform(0, spread)
        absent = rng.random() < 0.03
        visits = []
        for j in range(per_carer):
            roll = rng.random()
            plan = ("absent" if absent else "missed" if roll < 0.02
                    else "late" if roll < 0.07 else "on_time")
            visits.append((first + j * GAP, plan, "sms" if rng.random() < 0.2 else "ivr"))
        morning.append(visits)
    return morning


def write_rota(database: Database, morning: list[list[tuple[float, str, str]]],
               anchor: datetime) -> list[BenchCarer]:
    """Carers, clients, visits (planned from `anchor`), sheets, the ladder, office user."""
    settings = Settings()
    pin_hash = hash_pin(PIN, PEPPER)  # once: every bench carer has the same PIN
    carers: list[BenchCarer] = []
    n = 0
    with database.unit_of_work() as session:
        for c, visits in enumerate(morning):
            carer = CareWorker(ref=f"PEAK-C{c:05d}", staff_number=f"{1000 + c:04d}",
                               given_name="Peak", family_name=f"Carer{c}", pin_hash=pin_hash,
                               language="en", branch="Peak", active=True, created_at=anchor,
                               updated_at=anchor)
            mobile = f"+4477009{c:05d}"
            carer.mobiles = [CareWorkerMobile(number=mobile)]
            session.add(carer)
            calls = []
            for offset, plan, channel in visits:
                adult = Adult(ref=f"PEAK-A{n:05d}", client_number=f"{200000 + n:06d}",
                              given_name="Peak", family_name=f"Client{n}",
                              address=f"{n + 1} Peak Road, Chelmsford", postcode="CM1 1AA",
                              rag=Rag.GREEN, active=True, created_at=anchor, updated_at=anchor)
                adult.landlines = [AdultLandline(number=landline(n))]
                start = anchor + timedelta(seconds=offset)
                visit = PlannedVisit(ref=f"PEAK-V{n:05d}", adult=adult, planned_start=start,
                                     planned_end=start + timedelta(seconds=VISIT_SECONDS),
                                     created_at=anchor, updated_at=anchor)
                visit.care_workers = [carer]
                session.add_all([adult, visit])
                codes: tuple[str, ...] = ()
                if channel == "sms":
                    session.flush()
                    codes = tuple(new_code_sheet(session, adult.ref, count=2, settings=settings,
                                                 now=anchor, actor="bench").codes)
                calls.append(PlannedCall(visit.ref, offset, plan, channel, landline(n), codes))
                n += 1
            session.flush()
            carers.append(BenchCarer(carer.id, carer.staff_number, mobile, tuple(calls)))
        ladder = [("Sam Carter", "coordinator", "+447911123501"),
                  ("Olu Bello", "on_call", "+447911123502"),
                  ("Rita Patel", "manager", "+447911123503")]
        for name, role, mobile in ladder:
            contact = add_contact(session, name=name, role=role, mobile=mobile, now=anchor,
                                  actor="bench")
            if role == "on_call":
                add_on_call(session, contact_id=contact.id, starts_at=anchor - timedelta(hours=1),
                            ends_at=anchor + timedelta(hours=12), now=anchor, actor="bench")
        session.add(OfficeUser(username="peak", display_name="Peak",
                               password_hash=hash_password(OFFICE_PASSWORD),
                               role=OfficeRole.COORDINATOR, active=True, failed_logins=0,
                               session_epoch=0, created_at=anchor, updated_at=anchor))
    return carers


def place_morning(database: Database, anchor: datetime, start: datetime) -> None:
    """Move the whole rota so that the morning starts at `start` (once the processes run)."""
    shift = (start - anchor).total_seconds()
    with database.unit_of_work() as session:
        session.execute(text("UPDATE planned_visits SET "
                             "planned_start = planned_start + :s * interval '1 second', "
                             "planned_end = planned_end + :s * interval '1 second'"), {"s": shift})
    with database.engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ANALYZE"))


# ---------------------------------------------------------------------------------------------
# the processes of the Procfile


class Process:
    """A child in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path
                 ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        """Still running."""
        return self.process.poll() is None

    def stop(self) -> None:
        """TERM the group, KILL it if it lingers."""
        stop_process_group(self.process)
        self._log.close()


def procfile_command(name: str, variables: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A Procfile process type's command, its variables filled in as a platform would; and the
    environment assignments that lead its line (PROMETHEUS_MULTIPROC_DIR=...)."""
    line = next(raw.split(":", 1)[1] for raw in (ROOT / "Procfile").read_text().splitlines()
                if raw.startswith(f"{name}:"))
    expanded = subprocess.run(["/bin/sh", "-c", f"echo {line}"], check=True,
                              capture_output=True, text=True,
                              env={**variables, "PATH": os.environ.get("PATH", "")})
    words = shlex.split(expanded.stdout.strip())
    assignments: dict[str, str] = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        key, value = words.pop(0).split("=", 1)
        assignments[key] = value
    words[0] = str(Path(sys.executable).with_name(words[0]))  # the venv's gunicorn
    return words, assignments


def start_processes(url: str, token: str, log_dir: Path, *, split: bool
                    ) -> tuple[list[Process], str, str, str, Path]:
    """The web process types, scheduler, relay and the mock council; the URL Twilio's webhooks
    go to, the office's and the API's URL, the mock's URL and its store.

    split: as the Procfile runs it, `web_twilio` serves the webhooks and `web` the office and the
    API (a reverse proxy routes by path; here each is called at its own port). Without it,
    everything goes to `web`, as before the Procfile had two web process types.
    """
    web_port, twilio_port, mock_port = free_port(), free_port(), free_port()
    office_url, mock_url = f"http://{HOST}:{web_port}", f"http://{HOST}:{mock_port}"
    twilio_url = f"http://{HOST}:{twilio_port}" if split else office_url
    store = log_dir / "council.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if k not in {"WEB_CONCURRENCY", "PORT", "TWILIO_WEB_CONCURRENCY", "TWILIO_PORT"}}
    env.update(SETTINGS_ENV, DATABASE_URL=url, PUBLIC_BASE_URL=office_url,
               TWILIO_AUTH_TOKEN=token, ECC_API_URL=mock_url + "/api/v1",
               ECC_API_TOKEN=ECC_TOKEN, PYTHONDONTWRITEBYTECODE="1",
               PROMETHEUS_MULTIPROC_ROOT=str(log_dir / "metrics"))
    cli = [sys.executable, "-c", "from ivr_gateway.cli import main; main()"]
    variables = {"PORT": str(web_port), "TWILIO_PORT": str(twilio_port),
                 "PROMETHEUS_MULTIPROC_ROOT": str(log_dir / "metrics")}
    web, web_env = procfile_command("web", variables)
    twilio, twilio_env = procfile_command("web_twilio", variables)
    for path in (*web_env.values(), *(twilio_env.values() if split else ())):
        Path(path).mkdir(parents=True, exist_ok=True)  # each process type's metrics folder
    processes = [
        Process("mock-council", [*cli, "mock-ecc", "--port", str(mock_port), "--db", str(store),
                                 "--token", ECC_TOKEN], env, log_dir),
        Process("web", web, {**env, **web_env}, log_dir),
        Process("scheduler", [*cli, "scheduler"], env, log_dir),
        Process("relay", [*cli, "relay"], env, log_dir),
    ]
    if split:
        # Twilio signs the URL it calls: the webhooks' process knows itself by that URL.
        processes.append(Process("web_twilio", twilio,
                                 {**env, **twilio_env, "PUBLIC_BASE_URL": twilio_url}, log_dir))
    deadline = time.monotonic() + 60
    form = {"CallSid": "CAready", "CallStatus": "ringing"}
    while time.monotonic() < deadline:
        dead = [p.name for p in processes if not p.alive()]
        if dead:
            raise SystemExit(f"{dead} exited at start: see {log_dir}")
        with suppress(requests.RequestException):
            ok = all(requests.post(f"{base}/twilio/status", data=form, timeout=5, headers={
                "X-Twilio-Signature": sign(token, f"{base}/twilio/status", form)}
            ).status_code == 204 for base in {twilio_url, office_url})
            council = requests.get(f"{mock_url}/admin/stats", timeout=5,
                                   headers={"Authorization": f"Bearer {ECC_TOKEN}"})
            if ok and council.status_code == 200:
                return processes, twilio_url, office_url, mock_url, store
        time.sleep(0.3)
    raise SystemExit(f"the processes did not come up: see {log_dir}")


# ---------------------------------------------------------------------------------------------
# the carers


def kind_of(url: str) -> str:
    """The webhook kind of a URL."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return "/twilio/voice/step" if path.startswith("twilio/voice/step") else "/" + path


class TwilioSession(requests.Session):
    """Times each webhook POST; repeats a share of them exactly, as Twilio's retries do."""

    def __init__(self, run: Run, rng: random.Random, retry_share: float) -> None:
        super().__init__()
        self.run, self.rng, self.retry_share = run, rng, retry_share

    def post(self, url: str | bytes, data: Any = None, json: Any = None,
             **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kind = kind_of(str(url))
        began = time.monotonic()
        response = super().post(url, data=data, json=json, **kwargs)
        self.run.add(Sample(kind, began, time.monotonic() - began, response.status_code))
        if response.status_code >= 300:
            self.run.error(f"{kind} answered {response.status_code}")
        if self.rng.random() < self.retry_share:
            again_began = time.monotonic()
            again = super().post(url, data=data, json=json, **kwargs)
            self.run.add(Sample(kind, again_began, time.monotonic() - again_began,
                                again.status_code))
            with self.run.lock:
                self.run.retries += 1
                self.run.retry_mismatch += again.content != response.content
        return response


def play_carer(carer: BenchCarer, base_url: str, token: str, run: Run, t0: float,
               retry_share: float, seed: int) -> None:
    """One carer's morning: each visit as planned."""
    rng = random.Random(seed)
    http = TwilioSession(run, rng, retry_share)
    phone = PhoneSimulator(base_url, token, account_sid=DEV_TWILIO_ACCOUNT_SID,
                           gateway_number=DEV_TWILIO_PHONE_NUMBER, http=http,
                           timeout=REQUEST_TIMEOUT)
    for visit in carer.visits:
        if visit.plan in {"missed", "absent"}:
            continue
        arrive = visit.offset + PACE * (rng.uniform(80, 100) if visit.plan == "late"
                                        else rng.uniform(0, 25))
        for direction, at in (("in", arrive), ("out", arrive + STAY)):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            try:
                if visit.channel == "ivr":
                    heard = phone.call(visit.landline, [carer.staff_number, PIN]).heard
                else:
                    code = visit.codes[0 if direction == "in" else 1]
                    heard = text_in(http, base_url, token, carer.mobile,
                                 f"{direction.upper()} {code}")
            except Exception as error:
                heard = [f"({type(error).__name__}: {error})"]
            with run.lock:
                run.told[(visit.visit_ref, direction)] = heard
            expect = "Logged in" if direction == "in" else "Logged out"
            if not any(h.startswith(expect) for h in heard):
                run.error(f"{visit.visit_ref} log-{direction} by {visit.channel}: {heard!r}")
    http.close()


def text_in(http: requests.Session, base_url: str, token: str, mobile: str, body: str
         ) -> list[str]:
    """A text as Twilio posts it; the replies."""
    url = f"{base_url}/twilio/sms"
    form = message_form("SM" + secrets.token_hex(16), DEV_TWILIO_ACCOUNT_SID, mobile,
                        DEV_TWILIO_PHONE_NUMBER, body)
    response = http.post(url, data=form, timeout=REQUEST_TIMEOUT,
                         headers={"X-Twilio-Signature": sign(token, url, form)})
    return replies_in(response.content)


# ---------------------------------------------------------------------------------------------
# the office


def office_board(base_url: str, run: Run, stop: threading.Event, delay: float) -> None:
    """A coordinator's board: log in, open it, then the live refresh every 15 s."""
    stop.wait(delay)
    http = requests.Session()
    try:
        page = http.get(f"{base_url}/office/login", timeout=60).text
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        http.post(f"{base_url}/office/login", data={"username": "peak",
                                                    "password": OFFICE_PASSWORD,
                                                    "csrf_token": csrf}, timeout=60)
        timed_get(http, run, "office: board", f"{base_url}/office/")
        etag = ""
        while not stop.is_set():
            response = timed_get(http, run, "office: live refresh",
                                 f"{base_url}/office/board/live",
                                 headers={"If-None-Match": etag} if etag else {})
            if response is not None:
                etag = response.headers.get("ETag", etag)
            stop.wait(15)
    except Exception as error:
        run.error(f"office board: {type(error).__name__}: {error}")


def api_reader(base_url: str, api_token: str, run: Run, stop: threading.Event) -> None:
    """A rostering system reading the day's visits, again and again."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {api_token}"
    day = datetime.now(UTC).astimezone(Settings().tz).date().isoformat()
    while not stop.is_set():
        if timed_get(http, run, "api: /api/v1/visits", f"{base_url}/api/v1/visits?date={day}"
                     ) is None:
            stop.wait(1)


def timed_get(http: requests.Session, run: Run, kind: str, url: str,
              headers: dict[str, str] | None = None) -> requests.Response | None:
    """GET, timed and filed under the office; None on a failure (counted)."""
    began = time.monotonic()
    try:
        response = http.get(url, headers=headers or {}, timeout=60)
    except requests.RequestException as error:
        run.add(Sample(kind, began, time.monotonic() - began, 0), office=True)
        run.error(f"{kind}: {type(error).__name__}")
        return None
    run.add(Sample(kind, began, time.monotonic() - began, response.status_code), office=True)
    return response


# ---------------------------------------------------------------------------------------------
# the report


def table(title: str, samples: list[Sample], kinds: list[str]) -> None:
    """p50/p99/max per kind."""
    print(f"\n{title}")
    print(f"  {'kind':<24}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'>=15 s':>8}"
          f"{'non-2xx':>9}")
    for kind in kinds:
        values = [s.seconds for s in samples if s.kind == kind]
        if not values:
            continue
        bad = sum(1 for s in samples if s.kind == kind and not 200 <= s.status < 300
                  and s.status != 304)
        print(f"  {kind:<24}{len(values):>7}{percentile(values, 50) * 1000:>9.0f}"
              f"{percentile(values, 99) * 1000:>9.0f}{max(values) * 1000:>9.0f}"
              f"{sum(v >= REQUEST_TIMEOUT for v in values):>8}{bad:>9}")


def lags(label: str, values: list[float]) -> None:
    """p50/p99/max of a list of seconds."""
    if not values:
        print(f"  {label}: none")
        return
    print(f"  {label}: n={len(values)} p50 {percentile(values, 50):.1f} s, "
          f"p99 {percentile(values, 99):.1f} s, max {max(values):.1f} s")


@dataclass
class AlertLags:
    """Deadline -> the first message that told someone of each alert, split by how it went."""

    at_once: list[float] = field(default_factory=list)  # its own text, or a storm's summary
    in_update: list[float] = field(default_factory=list)  # joined a running storm: its update
    messages: int = 0  # alert texts and calls sent (a storm's summary is one)
    phones: int = 0
    alerts: int = 0  # raised; those not in either list were not texted yet (held for an update)


def alert_lag(database: Database) -> AlertLags:
    """Seconds from each alert's deadline to the first message sent that told of it: its own
    text, or the storm summary or update its notification is part of (both are linked to
    their outbox message by `outbox_message_id`). The run before this fix joined on each
    notification's own idempotency key, so a summarised alert counted only from the next
    rung's text, a ladder rung (1 minute here) late."""
    with database.sessionmaker() as session:
        rows = session.execute(
            select(Alert.id, Alert.deadline_at, OutboxMessage.sent_at, OutboxMessage.payload)
            .join(AlertNotification, AlertNotification.alert_id == Alert.id)
            .join(OutboxMessage, OutboxMessage.id == AlertNotification.outbox_message_id)
            .where(OutboxMessage.status == OutboxStatus.SENT)).all()
        result = AlertLags()
        result.messages = session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.kind.in_(["sms", "voice"]),
                   OutboxMessage.status == OutboxStatus.SENT)) or 0
        result.phones = session.scalar(
            select(func.count(func.distinct(AlertNotification.to_number)))) or 0
        result.alerts = session.scalar(select(func.count()).select_from(Alert)) or 0
    first: dict[int, tuple[float, bool]] = {}
    for alert_id, deadline, sent_at, payload in rows:
        lag = (sent_at - deadline).total_seconds()
        if alert_id not in first or lag < first[alert_id][0]:
            first[alert_id] = (lag, payload.get("storm") == "update")
    for lag, in_update in first.values():
        (result.in_update if in_update else result.at_once).append(lag)
    return result


def council_lag(database: Database, store: Path) -> tuple[list[float], Counter[str], int]:
    """Seconds from each log-in's commit to its record at the council; deliveries; records."""
    with sqlite3.connect(store) as db:
        received = dict(db.execute("SELECT idempotency_key, received_at FROM records"))
        deliveries = Counter(dict(db.execute(
            "SELECT outcome, COUNT(*) FROM deliveries GROUP BY outcome").fetchall()))
    with database.sessionmaker() as session:
        log_ins = session.execute(select(LogEvent.actual_visit_id, LogEvent.received_at)
                                  .where(LogEvent.kind == LogKind.IN)).all()
    values = []
    for actual_visit_id, committed in log_ins:
        key = f"ecc:actual_visit:AV-{actual_visit_id}:1"
        if key in received:
            values.append(received[key] - committed.timestamp())
    return values, deliveries, len(received)


def checks(database: Database, carers: list[BenchCarer], run: Run, base_url: str,
           api_token: str, store: Path) -> bool:
    """Nothing lost, nothing duplicated, every outcome as planned."""
    plans = {v.visit_ref: v for c in carers for v in c.visits}
    with database.sessionmaker() as session:
        ref_of = dict(session.execute(select(PlannedVisit.id, PlannedVisit.ref)).all())
        events = session.execute(select(LogEvent.planned_visit_id, LogEvent.kind)).all()
        actuals = Counter(ref_of.get(p) for p in session.scalars(
            select(ActualVisit.planned_visit_id)))
        actual_ids = list(session.scalars(select(ActualVisit.id)))
    per_visit: dict[str, Counter[str]] = defaultdict(Counter)
    for planned_visit_id, kind in events:
        per_visit[ref_of.get(planned_visit_id, "unplanned")][kind.value] += 1
    attended = [r for r, v in plans.items() if v.plan in {"on_time", "late"}]
    # Told what they did: a log-out call whose log-in was never recorded is heard as a log-in.
    expect = {"in": "Logged in", "out": "Logged out"}
    told = {(r, d): any(h.startswith(expect[d]) for h in run.told.get((r, d), []))
            for r in attended for d in ("in", "out")}
    lost = [f"{r} {d}" for (r, d), was_told in told.items() if was_told and not per_visit[r][d]]
    doubled = [r for r, n in per_visit.items() if n["in"] > 1 or n["out"] > 1]
    doubled += [r for r, n in actuals.items() if n > 1]
    unplanned = actuals.get(None, 0)
    with sqlite3.connect(store) as db:
        council = Counter(key.rsplit(":", 1)[0] for (key,) in
                          db.execute("SELECT idempotency_key FROM records"))
        council_keys = [k for (k,) in db.execute("SELECT idempotency_key FROM records")]
    missing_at_council = [a for a in actual_ids if f"ecc:actual_visit:AV-{a}" not in council]
    council_twice = len(council_keys) - len(set(council_keys))
    day = datetime.now(UTC).astimezone(Settings().tz).date().isoformat()
    outcomes: dict[str, Any] = {}
    cursor: str | None = ""
    while cursor is not None:  # every page of the day (1,000 visits a page)
        response = requests.get(f"{base_url}/api/v1/visits", timeout=120,
                                params={"date": day, **({"cursor": cursor} if cursor else {})},
                                headers={"Authorization": f"Bearer {api_token}"})
        response.raise_for_status()
        body = response.json()
        outcomes.update((v["ref"], v) for v in body["visits"] if v["ref"])
        cursor = body.get("next_cursor")
    wrong: list[str] = []
    for ref, plan in plans.items():
        got = outcomes.get(ref)
        if got is None:
            wrong.append(f"{ref}: not in /api/v1/visits")
            continue
        if plan.plan in {"missed", "absent"}:
            ok = got["outcome"] == "missed"
        elif plan.plan == "late":
            ok = got["outcome"] == "completed" and (got["minutes_late"] or 0) >= 1
        else:
            ok = got["outcome"] == "completed" and not got["minutes_late"]
        if not ok:
            wrong.append(f"{ref} planned {plan.plan} by {plan.channel}: outcome "
                         f"{got['outcome']}, minutes_late {got['minutes_late']}")
    not_told = [key for key, was_told in told.items() if not was_told]
    print("\nCHECKS")
    print(f"  visits: {len(plans)} ({Counter(v.plan for v in plans.values())}), by text "
          f"{sum(v.channel == 'sms' for v in plans.values() if v.plan in {'on_time', 'late'})}"
          f" of {len(attended)} attended")
    print(f"  log-ins and log-outs not confirmed to the carer (a webhook timed out or failed, "
          f"or a log-out taken for a log-in): {len(not_told)} of {len(told)}")
    print(f"  lost (told, not recorded): {len(lost)}")
    print(f"  duplicated (two log-ins, log-outs or actual visits for one visit): "
          f"{len(doubled)}; unplanned actual visits: {unplanned}")
    print(f"  repeated webhooks (Twilio-style retries): {run.retries}, answered differently: "
          f"{run.retry_mismatch}")
    print(f"  council: actual visits never forwarded: {len(missing_at_council)}, "
          f"records held twice: {council_twice}")
    print(f"  outcome not as planned: {len(wrong)}")
    for line in wrong[:10]:
        print(f"    {line}")
    ok = not (not_told or lost or doubled or unplanned or wrong or missing_at_council
              or council_twice or run.retry_mismatch)
    print(f"  => {'OK' if ok else 'FAILED'}")
    return ok


def wait_for_council(database: Database, timeout: float) -> None:
    """Until the relay has nothing council-bound left to send (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.sessionmaker() as session:
            pending = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == "ecc", OutboxMessage.status == OutboxStatus.PENDING))
        if not pending:
            return
        time.sleep(1)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Parse arguments, write the rota, start the processes, play the morning, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        default=os.environ.get("PEAK_BENCH_DATABASE_URL",
                                               "postgresql://postgres@127.0.0.1:5432/bench_peak"))
    parser.add_argument("--scale", type=float, default=1.0,
                        help="share of the county: 1 = 2,000 carers, 10,000 visits")
    parser.add_argument("--spread", type=float, default=None,
                        help="seconds over which the carers' first visits start "
                             "(default 120 x --pace)")
    parser.add_argument("--one-web", action="store_true",
                        help="serve the webhooks from `web` too (no `web_twilio`), as before "
                             "the Procfile split them: the baseline of finding 8")
    parser.add_argument("--office-load", action="store_true",
                        help="office boards and an API reader in the second half")
    parser.add_argument("--boards", type=int, default=10)
    parser.add_argument("--retry-share", type=float, default=0.05)
    parser.add_argument("--per-carer", type=int, default=5,
                        help="visits a carer (5: the county's 10,000; fewer for a short run)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--pace", type=float, default=1,
                        help="stretch the compressed morning P times (whole number): the same "
                             "visits at 1/P of the rate (a county at --pace 3: about 7 log-ins "
                             "and log-outs a second)")
    args = parser.parse_args()
    set_pace(args.pace)
    args.spread = 120 * PACE if args.spread is None else args.spread
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # A TERM (a CI runner, `timeout`) stops the processes as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    carers_n = max(2, round(2000 * args.scale))
    per_carer = args.per_carer
    rng = random.Random(args.seed)
    log_dir = Path(tempfile.mkdtemp(prefix="morning-peak-"))
    print(f"Morning peak: {carers_n} carers, {carers_n * per_carer} visits (scale "
          f"{args.scale}, pace {PACE:g}: a carer's visits {GAP // 60} min apart), office "
          f"load {'on in the second half' if args.office_load else 'off'};"
          f" logs in {log_dir}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    began = time.monotonic()
    url = reset_database(args.database_url)
    database = Database(url)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    carers = write_rota(database, plan_morning(carers_n, per_carer, args.spread, rng), anchor)
    with database.unit_of_work() as session:
        _row, api_token = create_api_token(session, "peak", now=anchor, actor="bench")
    print(f"rota written in {time.monotonic() - began:.0f} s")

    token = secrets.token_hex(16)
    processes, base_url, office_url, _mock_url, store = start_processes(
        url, token, log_dir, split=not args.one_web)
    run = Run()
    stop_office = threading.Event()
    office_threads: list[threading.Thread] = []
    try:
        lead = 10.0
        start = datetime.now(UTC) + timedelta(seconds=lead)
        place_morning(database, anchor, start)
        t0 = time.monotonic() + (start - datetime.now(UTC)).total_seconds()
        last = max(v.offset for c in carers for v in c.visits)
        half = t0 + (args.spread + GAP * (per_carer - 1)) / 2
        threads = [threading.Thread(target=play_carer, daemon=True, args=(
            c, base_url, token, run, t0, args.retry_share, args.seed * 100_000 + i))
            for i, c in enumerate(carers)]
        for thread in threads:
            thread.start()
        if args.office_load:
            time.sleep(max(0.0, half - time.monotonic()))
            print("second half: office boards and the API reader start")
            office_threads = [threading.Thread(target=office_board, daemon=True,
                                               args=(office_url, run, stop_office, i * 1.5))
                              for i in range(args.boards)]
            office_threads.append(threading.Thread(target=api_reader, daemon=True,
                                                   args=(office_url, api_token, run,
                                                         stop_office)))
            for thread in office_threads:
                thread.start()
        end = t0 + last + 100 * PACE + STAY + 2 * REQUEST_TIMEOUT
        for thread in threads:
            while thread.is_alive() and time.monotonic() < end + 60:
                thread.join(timeout=1)
        stop_office.set()
        for thread in office_threads:
            thread.join(timeout=70)
        # Every window closed (missed at 2 min), the ladder has had its ticks, the relay its go.
        time.sleep(max(0.0, t0 + last + 150 * PACE - time.monotonic()))
        wait_for_council(database, 120)
        dead = [p.name for p in processes if not p.alive()]
        if dead:
            run.error(f"processes died during the morning: {dead}")
        tick_began = time.perf_counter()
        settings = load_settings({**os.environ, **SETTINGS_ENV, "DATABASE_URL": url})
        tick = run_escalation_tick(database, settings, SystemClock())
        tick_seconds = time.perf_counter() - tick_began

        def in_half(second: bool) -> Callable[[Sample], bool]:
            return lambda s: (s.started >= half) == second

        if args.office_load:
            table("Webhooks, first half (no office load)",
                  list(filter(in_half(False), run.samples)), KINDS)
            table(f"Webhooks, second half ({args.boards} office boards refreshing, an API "
                  "client reading)", list(filter(in_half(True), run.samples)), KINDS)
            table("Office and API (second half)", run.office,
                  ["office: board", "office: live refresh", "api: /api/v1/visits"])
        else:
            table("Webhooks (no office load)", run.samples, KINDS)
        print(f"\nload average at the end of the morning: {os.getloadavg()[0]:.1f} (1 min), "
              f"{os.getloadavg()[1]:.1f} (5 min)")
        print("\nLAGS")
        alerts = alert_lag(database)
        lags("alert lag (deadline -> first message sent: its own text or a storm's text)",
             alerts.at_once + alerts.in_update)
        lags("  told at once (its own text, or the summary that opened a storm)",
             alerts.at_once)
        lags("  joined a running storm (on the board at once; texted in the next update)",
             alerts.in_update)
        print(f"  alert texts and calls sent: {alerts.messages} to {alerts.phones} phones; "
              f"{alerts.alerts} alerts raised, "
              f"{alerts.alerts - len(alerts.at_once) - len(alerts.in_update)} not texted yet "
              "(held for a storm's next update when the bench stopped)")
        council_values, deliveries, records = council_lag(database, store)
        lags("council lag (log-in committed -> received at the council)", council_values)
        print(f"  council records held: {records}; deliveries by answer: {dict(deliveries)}")
        print(f"  one escalation tick after the morning ({len(tick.raised)} raised): "
              f"{tick_seconds:.2f} s")
        ok = checks(database, carers, run, office_url, api_token, store)
        if run.errors:
            print(f"\n{len(run.errors)} errors, e.g.:")
            for line in run.errors[:10]:
                print(f"  {line}")
        return 0 if ok and not run.errors else 1
    finally:
        stop_office.set()
        for process in reversed(processes):  # the mock council last: the relay never misses it
            process.stop()
        database.dispose()


if __name__ == "__main__":
    sys.exit(main())
