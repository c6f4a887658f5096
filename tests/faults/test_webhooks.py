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
    """One visit per carer, begun at her first log-in, and nobody left logged out.

    A carer whose call was cut after her log-in was recorded rings again: the new call is
    read back as a log-out and she presses 9 (or, within the late window, it is a repeat
    log-in). Either way the second call's log-in is kept as evidence on the same visit
    (visits/recording.py `_repeat_log_in`), the visit keeps its first time, and any log-out
    she did not mean is superseded: her log-in is recorded once, as one visit and one time.
    """
    with database.sessionmaker() as session:
        outs = session.scalars(select(LogEvent.care_worker_id)
                               .where(LogEvent.kind == LogKind.OUT,
                                      LogEvent.superseded_by_id.is_(None))).all()
        visits = {v.care_worker_id: v for v in session.scalars(select(ActualVisit))}
        visit_count = Counter(session.scalars(select(ActualVisit.care_worker_id)))
        ins = session.execute(select(LogEvent.care_worker_id, LogEvent.actual_visit_id,
                                     LogEvent.event_time)
                              .where(LogEvent.kind == LogKind.IN,
                                     LogEvent.superseded_by_id.is_(None))).all()
    assert outs == []  # nobody is left logged out by a retry
    assert {c.care_worker_id: visit_count[c.care_worker_id] for c in carers} == {
        c.care_worker_id: 1 for c in carers}
    assert len(visit_count) == len(carers)  # nobody else's visit made by a retry
    first_in: dict[int, datetime] = {}
    for carer_id, visit_id, at in ins:
        assert visit_id == visits[carer_id].id, carer_id  # a repeat is on the same visit
        first_in[carer_id] = min(at, first_in.get(carer_id, at))
    assert {c.care_worker_id: visits[c.care_worker_id].started_at for c in carers} == {
        c.care_worker_id: first_in[c.care_worker_id] for c in carers}  # the first time kept
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
