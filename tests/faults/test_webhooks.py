"""Carers ringing and texting while a web worker is SIGKILLed, and while PostgreSQL restarts."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import ActualVisit, LogEvent, LogKind
from ivr_gateway.outage.replay import CALL_IN_PROGRESS, replay_spool
from tests.faults.processes import (
    Outcomes,
    RotaCarer,
    all_at_once,
    gateway,
    morning_rota,
    private_postgres,
    ring_to_log_in,
    text_to_log_in,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def _log_ins(database: Database) -> Counter[int]:
    with database.sessionmaker() as session:
        return Counter(session.scalars(select(LogEvent.care_worker_id)
                                       .where(LogEvent.kind == LogKind.IN,
                                              LogEvent.superseded_by_id.is_(None))))


def _assert_each_logged_in_once(database: Database, carers: list[RotaCarer],
                                outcomes: Outcomes) -> None:
    with database.sessionmaker() as session:
        # A call cut after its log-in was recorded, rung again, is read back as a log-out; the
        # carer presses 9 and it becomes the log-in it was: kept as evidence, superseded.
        outs = session.scalars(select(LogEvent.care_worker_id)
                               .where(LogEvent.kind == LogKind.OUT,
                                      LogEvent.superseded_by_id.is_(None))).all()
        visits = Counter(session.scalars(select(ActualVisit.care_worker_id)))
    log_ins = _log_ins(database)
    assert outs == []  # nobody is left logged out by a retry
    assert {c.care_worker_id: log_ins[c.care_worker_id] for c in carers} == {
        c.care_worker_id: 1 for c in carers}
    assert sum(log_ins.values()) == len(carers)
    assert {c.care_worker_id: visits[c.care_worker_id] for c in carers} == {
        c.care_worker_id: 1 for c in carers}
    told = {who: heard for who, heard in outcomes.heard.items()
            if any(h.startswith(("Logged in", "That code has been used", "Changed. Logged in",
                                 "Noted at")) for h in heard)}
    assert len(told) == len(carers), {w: h for w, h in outcomes.heard.items() if w not in told}


def test_web_worker_killed_during_calls_records_each_log_in_once(
        database: Database, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with database.sessionmaker() as session:
        carers = morning_rota(session, 16, now, Settings(database_url=database.url))
    outcomes = Outcomes()
    with gateway(database.url, tmp_path / "gunicorn.log", workers=2, threads=4) as web:
        before = web.workers()
        assert len(before) == 2

        def killer() -> None:
            # Twice, once calls are under way: a worker dies with requests in its threads.
            rng = random.Random(13)
            for _ in range(2):
                wait_for(lambda: sum(_log_ins(database).values()) >= 4, 60,
                         "the first log-ins")
                time.sleep(rng.uniform(0.1, 0.6))
                victims = web.workers()
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                time.sleep(1.0)

        all_at_once([partial(ring_to_log_in, web.base_url, c, outcomes) for c in carers]
                    + [killer])
        after = web.workers()
    assert set(before) - set(after), "gunicorn never replaced a killed worker"
    _assert_each_logged_in_once(database, carers, outcomes)


@pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                    reason="needs PostgreSQL's initdb and pg_ctl for a private cluster")
def test_postgresql_restart_during_calls_and_texts_records_each_log_in_once(
        tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with private_postgres() as cluster:
        upgrade_database(cluster.url)
        database = Database(cluster.url)
        try:
            with database.sessionmaker() as session:
                carers = morning_rota(session, 24, now, Settings(database_url=cluster.url))
            callers, texters = carers[:16], carers[16:]
            outcomes = Outcomes()
            with gateway(cluster.url, tmp_path / "gunicorn.log", workers=2, threads=4) as web:

                def restarter() -> None:
                    wait_for(lambda: sum(_log_ins(database).values()) >= 3, 60,
                             "the first log-ins")
                    database.dispose()
                    cluster.restart()

                all_at_once([partial(ring_to_log_in, web.base_url, c, outcomes)
                             for c in callers]
                            + [partial(text_to_log_in, web.base_url, c, outcomes)
                               for c in texters]
                            + [restarter])
                database.dispose()
            # What the gateway kept while the database was down is recorded by the replay (the
            # scheduler's job), once, with its original time. Run as the job would run it once
            # a call cut mid-way (no PIN keyed) is past CALL_IN_PROGRESS: until then it waits,
            # in case its next step is still coming.
            replay_spool(database, Settings(database_url=cluster.url, spool_dir=web.spool_dir),
                         FixedClock(datetime.now(UTC) + CALL_IN_PROGRESS + timedelta(minutes=1)))
            assert list(web.spool_dir.glob("*.json")) == []
            _assert_each_logged_in_once(database, carers, outcomes)
            # The restart bit: someone heard the apology or found the line dead, and rang again.
            assert max(outcomes.tries.values()) > 1 or outcomes.retried > 0, outcomes.heard
        finally:
            database.dispose()
