"""The council relay SIGKILLed during delivery, and the council down for a day then back."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ivr_gateway.db import Database
from ivr_gateway.outbox.models import OutboxMessage
from tests.ecc.conftest import MOCK_TOKEN, MockCouncil, visits_with_log_in_and_out
from tests.faults.processes import ROOT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

MONDAY = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
DAY = 24 * 3600.0


@contextmanager
def running(command: list[str], env: dict[str, str] | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A child process for the block, terminated at the end if it still runs."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _status(database: Database) -> Counter[str]:
    with database.unit_of_work() as session:
        return Counter(s.value for s in session.scalars(
            select(OutboxMessage.status).where(OutboxMessage.kind == "ecc")))


def _assert_each_once_in_order(council: MockCouncil, pairs: list[tuple[str, str]]) -> None:
    received = council.keys()
    assert sorted(received) == sorted(k for pair in pairs for k in pair)  # none lost, none twice
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)


def test_relay_killed_at_random_points_of_delivery_delivers_every_record_once_in_order(
        database: Database, mock_council: MockCouncil) -> None:
    pairs = visits_with_log_in_and_out(database, 30, MONDAY)
    mock_council.set_faults(latency_ms=150)  # every batch is on the wire for a while
    relay = [sys.executable, "-c", "from ivr_gateway.cli import main; main()", "relay",
             "--interval", "0.1", "--batch-size", "4", "--lease", "5", "--workers", "2"]
    env = {"DATABASE_URL": database.url, "ECC_API_URL": mock_council.url,
           "ECC_API_TOKEN": MOCK_TOKEN, "IVR_GATEWAY_ENV": "test"}
    rng = random.Random(11)
    for kill in range(3):
        with running(relay, env) as victim:
            wait_for(lambda k=kill: len(mock_council.keys()) >= 6 + 8 * k, 60,
                     "the relay to deliver")
            time.sleep(rng.uniform(0.0, 0.3))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
    assert len(mock_council.keys()) < 60  # killed before it had finished
    with running(relay, env):
        wait_for(lambda: _status(database) == Counter(sent=60), 90, "every record sent")
    _assert_each_once_in_order(mock_council, pairs)
    deliveries = mock_council.store.stats()["deliveries"]
    assert deliveries["accepted"] == 60  # the council stored each once; a re-sent batch is
    assert set(deliveries) <= {"accepted", "duplicate"}  # answered "duplicate", nothing else


def test_council_down_for_a_day_then_back_gets_every_record_once_in_order(
        database: Database, mock_council: MockCouncil) -> None:
    pairs = visits_with_log_in_and_out(database, 30, MONDAY)
    mock_council.set_faults(down=True)
    speed = 4000.0  # a fake day in about 22 real seconds
    epoch = time.time() + 1.0
    relay = [sys.executable, "-m", "tests.faults.relay_process", database.url, mock_council.url,
             MOCK_TOKEN, "--start", MONDAY.isoformat(), "--epoch", str(epoch),
             "--speed", str(speed)]
    with running(relay) as process:
        time.sleep(max(0.0, epoch + DAY / speed - time.time()))
        assert process.poll() is None
        # A day of 503s: nothing arrived, nothing was given up on, the relay kept asking.
        assert mock_council.keys() == []
        assert _status(database) == Counter(pending=60)
        with database.unit_of_work() as session:
            errors = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.last_error.is_not(None)))
        assert errors, "the relay never tried the council"
        mock_council.set_faults(down=False)
        back = time.monotonic()
        wait_for(lambda: _status(database) == Counter(sent=60), 60, "every record sent")
        took = time.monotonic() - back
    _assert_each_once_in_order(mock_council, pairs)
    assert mock_council.store.stats()["deliveries"] == {"accepted": 60}
    # Delivered promptly once back (the back-off follows the council's health, capped at a
    # fake minute, which is 15 ms here): the real seconds are the relay's own work.
    assert took < 15, took
