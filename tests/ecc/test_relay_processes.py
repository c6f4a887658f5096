"""Relays as real processes: killed mid-batch, and two at once on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ivr_gateway.db import Database
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from tests.ecc.conftest import MOCK_TOKEN, MockCouncil, visits_with_log_in_and_out

pytestmark = pytest.mark.slow  # real relay processes, killed and restarted

START = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # the night the clocks go back


@contextmanager
def relay_process(database: Database, council: MockCouncil, *args: str
                  ) -> Iterator[subprocess.Popen[bytes]]:
    """`ivr-gateway relay` in its own process, pointed at the mock council."""
    env = {**os.environ, "DATABASE_URL": database.url, "ECC_API_URL": council.url,
           "ECC_API_TOKEN": MOCK_TOKEN}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", "from ivr_gateway.cli import main; main()", "relay",
         "--interval", "0.2", *args], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _pending(database: Database) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status != OutboxStatus.SENT)) or 0


def test_relay_killed_mid_batch_loses_nothing_and_the_council_stores_nothing_twice(
        database: Database, mock_council: MockCouncil) -> None:
    pairs = visits_with_log_in_and_out(database, 20, START)
    mock_council.set_faults(latency_ms=300)  # each batch of 5 is in flight for 0.3 s
    with relay_process(database, mock_council, "--batch-size", "5", "--lease", "5") as relay:
        _wait_for(lambda: len(mock_council.keys()) >= 10)
        relay.send_signal(signal.SIGKILL)  # mid-batch: a POST is in flight or about to be
        relay.wait(timeout=10)
    held_at_kill = len(mock_council.keys())
    assert held_at_kill < 40
    with relay_process(database, mock_council, "--batch-size", "5", "--lease", "5"):
        _wait_for(lambda: _pending(database) == 0, timeout=60)
    received = mock_council.keys()
    assert sorted(received) == sorted(k for pair in pairs for k in pair)
    assert len(received) == len(set(received)) == 40
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)


@pytest.mark.postgres_only
def test_two_relays_on_postgresql_share_the_work_and_deliver_each_record_once(
        database: Database, mock_council: MockCouncil) -> None:
    pairs = visits_with_log_in_and_out(database, 100, START)
    mock_council.set_faults(latency_ms=20)
    with relay_process(database, mock_council, "--batch-size", "10"), \
            relay_process(database, mock_council, "--batch-size", "10"):
        _wait_for(lambda: _pending(database) == 0, timeout=60)
    received = mock_council.keys()
    assert sorted(received) == sorted(k for pair in pairs for k in pair)
    deliveries = mock_council.store.stats()["deliveries"]
    assert deliveries == {"accepted": 200}  # not one duplicate POST of a record
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)
    with database.unit_of_work() as session:
        workers = Counter(str(w).split("/")[0]
                          for w in session.scalars(select(OutboxMessage.claimed_by)
                                                   .where(OutboxMessage.kind == "ecc")))
    assert len(workers) == 2, workers  # both relay processes delivered


@pytest.mark.postgres_only
def test_two_relays_on_postgresql_wait_out_a_flaky_council_together_and_deliver_each_once(
        database: Database, mock_council: MockCouncil) -> None:
    # Half the requests fail (a fifth of them 429s): the relays share the council's health in
    # the database, one probes at a time, and order and once-only still hold.
    pairs = visits_with_log_in_and_out(database, 50, START)
    mock_council.set_faults(error_rate=0.5, rate_limit=0.2, retry_after=1)
    began = time.monotonic()
    with relay_process(database, mock_council, "--batch-size", "10"), \
            relay_process(database, mock_council, "--batch-size", "10"):
        _wait_for(lambda: _pending(database) == 0, timeout=120)
    took = time.monotonic() - began
    received = mock_council.keys()
    assert sorted(received) == sorted(k for pair in pairs for k in pair)
    assert mock_council.store.stats()["deliveries"] == {"accepted": 100}  # none sent twice
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)
    with database.unit_of_work() as session:
        failures = session.scalar(select(func.max(OutboxMessage.attempts)))
    assert failures is not None and failures >= 3  # the faults bit
    assert took < 90, took
