"""Real processes for the fault suite: the gateway under gunicorn, a private PostgreSQL cluster,
carers who ring and text it the way Twilio and people do (retrying), and a rota to log into."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy.orm import Session

from ivr_gateway.config import DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_PHONE_NUMBER, Settings
from ivr_gateway.simulator import PhoneSimulator, SimulatorError, Transcript
from ivr_gateway.sms.devices import new_code_sheet
from ivr_gateway.sms.simulator import send_text
from ivr_gateway.telephony.signature import sign
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
TOKEN = "fault-suite-" + secrets.token_hex(8)  # the Twilio auth token the gateway checks
PIN = "5678"  # tests.factories.make_care_worker's default


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until the condition holds; fail the test naming what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the gateway under gunicorn, as the Procfile runs it


class Gateway:
    """`gunicorn ivr_gateway.wsgi:app` (gthread workers) in its own process group."""

    def __init__(self, database_url: str, log: Path, workers: int = 2, threads: int = 4
                 ) -> None:
        port = free_port()  # gunicorn must be told its port; PUBLIC_BASE_URL must name it
        self.base_url = f"http://127.0.0.1:{port}"
        # Its outage spool beside its log (a test's own folder, never the repository's
        # instance/): what it keeps while the database is down, a test replays.
        self.spool_dir = log.parent / "spool"
        env = {**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": self.base_url,
               "TWILIO_AUTH_TOKEN": TOKEN, "IVR_GATEWAY_ENV": "test",
               "PYTHONDONTWRITEBYTECODE": "1", "SPOOL_DIR": str(self.spool_dir)}
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our venv's gunicorn, our arguments
            [str(GUNICORN), "--workers", str(workers), "--threads", str(threads),
             "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--timeout", "30",
             "--graceful-timeout", "3", "ivr_gateway.wsgi:app"],
            cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, timeout: float = 40.0) -> None:
        """Until every worker could answer: a signed status callback answered 204."""
        url, form = f"{self.base_url}/twilio/status", {"CallSid": "CAready",
                                                        "CallStatus": "ringing"}

        def ready() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            with suppress(requests.RequestException):
                return requests.post(url, data=form, timeout=5, headers={
                    "X-Twilio-Signature": sign(TOKEN, url, form)}).status_code == 204
            return False

        wait_for(ready, timeout, "the gateway to answer")

    def workers(self) -> list[int]:
        """The pids of gunicorn's workers now."""
        with suppress(OSError):
            path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(p) for p in path.read_text().split()]
        return []

    def stop(self) -> None:
        """TERM the process group, KILL it if it lingers."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._out.close()


@contextmanager
def gateway(database_url: str, log: Path, **kwargs: Any) -> Iterator[Gateway]:
    """A running gateway for the block; stopped whatever happens."""
    server = Gateway(database_url, log, **kwargs)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# a private PostgreSQL cluster, which a test may restart (never the machine's own)


class PrivatePostgres:
    """A throwaway cluster in a temporary directory on a free port (initdb, pg_ctl)."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb on this machine")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: as root, run the cluster as the postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        # No pipes: the server pg_ctl starts would hold them open (and the call never return).
        subprocess.run([*self._as, *args], check=True, stdout=subprocess.DEVNULL,  # noqa: S603
                       stderr=subprocess.DEVNULL, timeout=60, cwd=self.dir)

    def start(self) -> None:
        """initdb once, then start on the port (sockets in the temporary directory)."""
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "--no-sync", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-w", "-t", "30", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server is back in a second or two."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-m", "fast", "-w", "-t", "30", "restart")

    def stop(self) -> None:
        """Stop immediately and remove the cluster."""
        with suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private cluster for the block, removed afterwards."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------------------------
# carers and the rota


@dataclass(frozen=True)
class RotaCarer:
    """A carer with a planned visit now: the landline they ring from, or the mobile they text
    from and the first code of the sheet in the client's home."""

    care_worker_id: int
    staff_number: str
    landline: str
    mobile: str
    sheet_code: str


def morning_rota(session: Session, count: int, now: datetime, settings: Settings,
                 first: int = 0) -> list[RotaCarer]:
    """`count` carers, each with their own client, a visit planned a minute ago, a landline, a
    mobile and a one-code sheet; committed."""
    carers = []
    for i in range(first, first + count):
        landline = f"+44113496{1000 + i:04d}"
        adult = make_adult(session, given_name="Fault", family_name=f"Client{i}",
                           landlines=(landline,), ref=f"FAULT-A{i:04d}",
                           client_number=f"{500000 + i}")
        mobile = f"+4477009{70000 + i:05d}"
        carer = make_care_worker(session, staff_number=f"{6000 + i}", mobiles=(mobile,),
                                 family_name=f"Carer{i}", ref=f"FAULT-C{i:04d}")
        make_planned_visit(session, adult, [carer], start=now - timedelta(minutes=1),
                           ref=f"FAULT-V{i:04d}")
        session.flush()
        sheet = new_code_sheet(session, adult.ref, count=1, settings=settings, now=now,
                               actor="fault suite")
        carers.append(RotaCarer(carer.id, carer.staff_number, landline, mobile, sheet.codes[0]))
    session.commit()
    return carers


# ---------------------------------------------------------------------------------------------
# Twilio and the carers, retrying


class TwilioRetries(requests.Session):
    """Posts as Twilio does when a webhook's connection fails or it answers 5xx: the very same
    request (same CallSid and step, same signature) again, a moment later."""

    def __init__(self, attempts: int = 8, pause: float = 0.3) -> None:
        super().__init__()
        self.attempts, self.pause = attempts, pause
        self.retried = 0

    def post(self, url: str | bytes, data: Any = None, json: Any = None,
             **kwargs: Any) -> requests.Response:  # type: ignore[override]
        for attempt in range(self.attempts):
            try:
                response = super().post(url, data=data, json=json, **kwargs)
            except requests.ConnectionError:
                if attempt == self.attempts - 1:
                    raise
            else:
                if response.status_code < 500 or attempt == self.attempts - 1:
                    return response
            self.retried += 1
            time.sleep(self.pause)
        raise AssertionError("unreachable")


@dataclass
class Outcomes:
    """What the carers heard, by carer, and what went wrong on the way; thread-safe."""

    heard: dict[str, list[str]] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, who: str, heard: list[str], tries: int, retried: int) -> None:
        """One carer's result."""
        with self.lock:
            self.heard[who], self.tries[who] = heard, tries
            self.retried += retried


def ring_to_log_in(base_url: str, carer: RotaCarer, outcomes: Outcomes, tries: int = 10
                   ) -> None:
    """Ring, key the carer number and PIN; ring again (a new call) until told "Logged in"
    (a carer who hears the apology or nothing at all rings again). A carer whose first call
    was cut after it was recorded hears "Logged out" on the next: she presses 9 ("if wrong"),
    as the read-back tells her, and hears it changed to a log-in."""

    def nine_if_wrong(transcript: Transcript) -> str | None:
        return "9" if any(h.startswith("Logged out") for h in transcript.heard) else None

    http = TwilioRetries()
    phone = PhoneSimulator(base_url, TOKEN, account_sid=DEV_TWILIO_ACCOUNT_SID,
                           gateway_number=DEV_TWILIO_PHONE_NUMBER, http=http, timeout=15)
    heard: list[str] = []
    made = 0
    for _ in range(tries):
        made += 1
        try:
            heard = phone.call(carer.landline, [carer.staff_number, PIN, nine_if_wrong]).heard
        except (requests.RequestException, SimulatorError) as error:
            heard = [f"({type(error).__name__})"]
        # "Noted at 07:02. The office will confirm.": kept in the outage spool; she is done.
        if any(h.startswith(("Logged in", "Logged out", "Changed.", "Noted at")) for h in heard):
            break
        time.sleep(0.5)
    outcomes.note(carer.staff_number, heard, made, http.retried)
    http.close()


def text_to_log_in(base_url: str, carer: RotaCarer, outcomes: Outcomes, tries: int = 10
                   ) -> None:
    """Text IN and the sheet code; text again (a new message) until told "Logged in"."""
    http = TwilioRetries()
    replies: list[str] = []
    made = 0
    for _ in range(tries):
        made += 1
        try:
            replies = send_text(base_url, TOKEN, account_sid=DEV_TWILIO_ACCOUNT_SID,
                                gateway_number=DEV_TWILIO_PHONE_NUMBER, from_number=carer.mobile,
                                body=f"IN {carer.sheet_code}", http=http)
        except (requests.RequestException, SimulatorError) as error:
            replies = [f"({type(error).__name__})"]
        if any(r.startswith(("Logged in", "That code has been used", "Noted at"))
               for r in replies):
            break
        time.sleep(0.5)
    outcomes.note(carer.mobile, replies, made, http.retried)
    http.close()


def all_at_once(jobs: list[Callable[[], None]], timeout: float = 120.0) -> None:
    """Run each job in its own thread, together; wait for them all."""
    failures: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # handed to the test below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "some carers were still on the phone"
    if failures:
        raise failures[0]
