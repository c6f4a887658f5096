"""PostgreSQL really stopped: a gateway and a scheduler as real processes take calls and texts
while it is down, and record each once, in order, at its own time, when it is back.

A private PostgreSQL cluster in a temporary folder (the machine's initdb and pg_ctl, a free
port) so it can be stopped without touching the cluster everyone else uses.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from ivr_gateway.config import DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_AUTH_TOKEN
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import LogEvent, LogKind, Verification
from ivr_gateway.simulator import PhoneSimulator
from ivr_gateway.sms.simulator import send_text
from ivr_gateway.telephony.models import SpoolReplay
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import free_port
from tests.sms.texting import add_token, code_at

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

GATEWAY_NUMBER = "+441134960000"
LANDLINE = "+441134960001"
MOBILE = "+447911123450"


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """A throwaway PostgreSQL cluster: initdb, start, stop (-m fast), start again."""

    def __init__(self, bin_dir: Path, folder: Path, port: int) -> None:
        self.bin_dir, self.folder, self.port = bin_dir, folder, port
        self.data = folder / "data"
        # PostgreSQL refuses to run as root: as root (CI), run it as the postgres user.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin_dir / tool), *args], check=True,  # noqa: S603
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def init(self) -> None:
        """Create the cluster (trust authentication, fsync off: it is thrown away)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.folder / "log"),
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-k {self.folder}", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it (fast: sessions are ended, as in a real restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its postgres database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A private cluster, removed afterwards; skipped when the machine has no PostgreSQL."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    folder = Path(tempfile.mkdtemp(prefix="spool-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PrivateCluster(bin_dir, folder, free_port())
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", "from ivr_gateway.cli import main; main()", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # noqa: S110 - not ready yet (a refused connection, a 503)
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _events(database: Database) -> list[LogEvent]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(LogEvent).order_by(LogEvent.id)))


def test_calls_and_texts_while_postgresql_is_stopped_are_recorded_once_in_order(
        cluster: PrivateCluster, tmp_path: Path) -> None:
    upgrade_database(cluster.url)
    database = Database(cluster.url)
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        joan = make_adult(session, landlines=(LANDLINE,))
        edith = make_adult(session, given_name="Edith", family_name="Brown", landlines=())
        amy = make_care_worker(session, staff_number="1234", pin="5678")
        ben = make_care_worker(session, staff_number="2345", pin="1111", given_name="Ben",
                               mobiles=(MOBILE,))
        make_planned_visit(session, joan, [amy], start=now - timedelta(minutes=5), minutes=30)
        make_planned_visit(session, edith, [ben], start=now - timedelta(minutes=5), minutes=30)
        add_token(session, edith)
    spool_dir = tmp_path / "spool"
    env = {**os.environ, "DATABASE_URL": cluster.url, "IVR_GATEWAY_ENV": "test",
           "SPOOL_DIR": str(spool_dir)}
    env.pop("PUBLIC_BASE_URL", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    phone = PhoneSimulator(base, DEV_TWILIO_AUTH_TOKEN, account_sid=DEV_TWILIO_ACCOUNT_SID,
                           gateway_number=GATEWAY_NUMBER)
    with _process(["web", "--port", str(port)], env, tmp_path / "web.log"), \
            _process(["scheduler"], env, tmp_path / "scheduler.log"):
        _wait_for(lambda: requests.get(f"{base}/healthz", timeout=5).status_code == 200, 60,
                  "the gateway to answer")
        cluster.stop("fast")
        database.dispose()
        times: list[tuple[datetime, datetime]] = []

        def timed(action: Callable[[], list[str]]) -> list[str]:
            before = datetime.now(UTC)
            heard = action()
            times.append((before, datetime.now(UTC)))
            return heard

        heard_in = timed(lambda: phone.call(LANDLINE, ["1234", "5678"]).heard)
        time.sleep(1.1)
        text_reply = timed(lambda: send_text(
            base, DEV_TWILIO_AUTH_TOKEN, account_sid=DEV_TWILIO_ACCOUNT_SID,
            gateway_number=GATEWAY_NUMBER, from_number=MOBILE,
            body=f"IN {code_at(datetime.now(UTC))}"))
        time.sleep(1.1)
        heard_out = timed(lambda: phone.call(LANDLINE, ["1234", "5678"]).heard)
        assert heard_in[:2] == ["Carer number.", "PIN."]
        assert heard_in[-1].startswith("Noted at ") and heard_out[-1].startswith("Noted at ")
        assert text_reply[0].startswith("Noted at ") and "confirm" in text_reply[0]
        health = requests.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["spool"]["depth"] == 3
        time.sleep(3)  # down a while longer: the scheduler's replays find it unreachable

        cluster.start()
        # The scheduler replays on its own within its interval (15 s).
        _wait_for(lambda: len(_events(database)) == 3 and not list(spool_dir.glob("*.json")),
                  90, "the scheduler to replay the spool")
        time.sleep(2)  # and nothing more arrives afterwards
        events = _events(database)
        assert requests.get(f"{base}/healthz", timeout=5).json()["spool"]["depth"] == 0

    assert len(events) == 3
    assert [(e.care_worker_id, e.kind) for e in events] == [
        (amy.id, LogKind.IN), (ben.id, LogKind.IN), (amy.id, LogKind.OUT)]
    assert [e.verification for e in events] == [
        Verification.CALLER_ID, Verification.TOKEN_CODE, Verification.CALLER_ID]
    for event, (before, after) in zip(events, times, strict=True):
        assert "recorded during an outage" in event.raw["outage"]
        if event.verification == Verification.TOKEN_CODE:
            # A token code's time is its 30-second step: when the code was shown.
            assert before - timedelta(seconds=30) <= event.event_time <= after
        else:
            assert before <= event.event_time <= after
    assert events[0].actual_visit_id == events[2].actual_visit_id
    with database.unit_of_work() as session:
        outcomes = list(session.scalars(select(SpoolReplay.outcome).order_by(SpoolReplay.at)))
    assert outcomes == ["logged", "logged", "logged"]
    database.dispose()
