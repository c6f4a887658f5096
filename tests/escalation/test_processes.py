"""Exactly once with real processes on PostgreSQL: SIGKILL mid-tick, and two schedulers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert, AlertNotification
from ivr_gateway.models import ActualVisit, ActualVisitState
from ivr_gateway.outbox.models import OutboxMessage
from tests.escalation.conftest import TUESDAY_9AM, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


def _start(database: Database, sent_log: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own module, with arguments we made
        [sys.executable, "-m", "tests.escalation.scheduler_process",
         database.url, "--sent-log", str(sent_log), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the scheduler never reached the pause"
        time.sleep(0.05)


def _sent(sent_log: Path) -> list[str]:
    if not sent_log.exists():
        return []
    return [json.loads(line)["key"] for line in sent_log.read_text().splitlines()]


def _count(database: Database, model: type) -> int:
    with database.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _late_visits(session: Session, n: int, spacing: timedelta = timedelta(0)) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult = make_adult(session)
    for i in range(n):
        carer = make_care_worker(session, staff_number=f"{4000 + i}")
        make_planned_visit(session, adult, [carer], start=TUESDAY_9AM + spacing * i)
    session.commit()


@pytest.mark.parametrize("pause", ["before_commit", "before_relay"])
def test_scheduler_killed_mid_tick_loses_nothing_and_sends_nothing_twice(
        pause: str, database: Database, session: Session, tmp_path: Path) -> None:
    _late_visits(session, 3)
    sent_log, marker = tmp_path / "sent.jsonl", tmp_path / "paused"
    at = (TUESDAY_9AM + timedelta(minutes=31)).isoformat()
    victim = _start(database, sent_log, "--start", at, "--pause", pause, "--marker", str(marker))
    _wait_for(marker, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert _sent(sent_log) == []
    if pause == "before_commit":
        assert (_count(database, Alert), _count(database, OutboxMessage)) == (0, 0)
    else:
        assert (_count(database, Alert), _count(database, OutboxMessage)) == (3, 3)

    for _restart in range(2):
        survivor = _start(database, sent_log, "--start", at, "--ticks", "2")
        _out, err = survivor.communicate(timeout=60)
        assert survivor.returncode == 0, err
    keys = _sent(sent_log)
    assert len(keys) == 3 and len(set(keys)) == 3
    assert _count(database, Alert) == 3 and _count(database, AlertNotification) == 3


def test_two_schedulers_on_postgresql_raise_and_send_each_alert_exactly_once(
        database: Database, session: Session, tmp_path: Path) -> None:
    # 12 visits, one every 5 fake minutes; two hours of fake time at 300x (24 real seconds),
    # both processes ticking as fast as they can on one shared fake clock.
    _late_visits(session, 12, spacing=timedelta(minutes=5))
    # And a carer still logged in to an unplanned visit: chased at 09:30 (log-in 01:15 + 8 h 15).
    carer = make_care_worker(session, staff_number="4999")
    unplanned = ActualVisit(care_worker_id=carer.id, adult_id=make_adult(session).id,
                            planned_visit_id=None, state=ActualVisitState.OPEN,
                            started_at=TUESDAY_9AM - timedelta(hours=7, minutes=45),
                            created_at=TUESDAY_9AM - timedelta(hours=7, minutes=45))
    session.add(unplanned)
    session.flush()
    unplanned_id = unplanned.id
    # And a double-up one of its two carers came to alone: short of a carer at 09:30.
    amy, ben = (make_care_worker(session, staff_number=n) for n in ("4998", "4997"))
    double_up = make_planned_visit(session, make_adult(session), [amy, ben], start=TUESDAY_9AM,
                                   minutes=60)
    session.add(ActualVisit(care_worker_id=amy.id, adult_id=double_up.adult_id,
                            planned_visit_id=double_up.id, state=ActualVisitState.OPEN,
                            started_at=TUESDAY_9AM + timedelta(minutes=3),
                            created_at=TUESDAY_9AM + timedelta(minutes=3)))
    double_up_id = double_up.id
    session.commit()
    sent_log = tmp_path / "sent.jsonl"
    epoch = time.time() + 1.0
    common = ["--start", TUESDAY_9AM.isoformat(), "--speed", "300", "--epoch", str(epoch),
              "--ticks", "400", "--sleep", "0.05"]
    first = _start(database, sent_log, *common)
    second = _start(database, sent_log, *common)
    outputs = [p.communicate(timeout=180) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    keys = _sent(sent_log)
    assert keys, "nothing was sent"
    assert [k for k, n in Counter(keys).items() if n > 1] == []
    with database.sessionmaker() as check:
        notification_keys = set(check.scalars(select(AlertNotification.outbox_key)))
        alerts = list(check.scalars(select(Alert)))
    assert set(keys) == notification_keys
    assert len({(a.kind, a.subject_key) for a in alerts}) == len(alerts)
    assert len([a for a in alerts if a.kind.value == "late_start"]) == 12
    assert [a.subject_key for a in alerts if a.kind.value == "missing_log_out"
            and a.planned_visit_id is None] == [f"carer-visit:{unplanned_id}"]
    assert [a.subject_key for a in alerts if a.kind.value == "short_of_carer"] == [
        f"visit:{double_up_id}"]
    # Both processes really ticked alongside each other: some ticks found the lock taken.
    assert all("ticks=400" in out for out, _err in outputs)
    skipped = [int(out.strip().rsplit("skipped=", 1)[1]) for out, _err in outputs]
    assert sum(skipped) > 0
