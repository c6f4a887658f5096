"""The scheduler SIGKILLed during ticks, as a real process on PostgreSQL in shared fake time."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert, AlertNotification
from ivr_gateway.escalation.notifications import HELD, UNREACHABLE
from ivr_gateway.outbox.models import OutboxMessage
from tests.escalation.conftest import TUESDAY_9AM, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.faults.processes import ROOT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

SPEED = 300.0  # five fake minutes a real second: the 2-minute lease passes in 0.4 s
START = TUESDAY_9AM + timedelta(minutes=29)  # a minute before the first visits are late


def _late_morning(session: Session, count: int = 10) -> None:
    """`count` visits nobody comes to, one every 2 minutes from 09:00, and the office ladder."""
    make_ladder(session, TUESDAY_9AM)
    for i in range(count):
        adult = make_adult(session, family_name=f"Client{i}", landlines=(f"+4411349620{i:02d}",))
        carer = make_care_worker(session, staff_number=f"{5100 + i}")
        make_planned_visit(session, adult, [carer], start=TUESDAY_9AM + timedelta(minutes=2 * i))
    session.commit()


def _fake_now(epoch: float) -> datetime:
    return START + timedelta(seconds=(time.time() - epoch) * SPEED)


def _scheduler(database: Database, sent_log: Path, epoch: float, until: datetime,
               *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own module, with arguments we made
        [sys.executable, "-m", "tests.faults.scheduler_process", database.url,
         "--start", START.isoformat(), "--epoch", str(epoch), "--speed", str(SPEED),
         "--until", until.isoformat(), "--sent-log", str(sent_log), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _sent_keys(sent_log: Path) -> list[str]:
    if not sent_log.exists():
        return []
    return [json.loads(line)["key"] for line in sent_log.read_text().splitlines()]


def _notification_keys(database: Database) -> set[str]:
    """The outbox key of the message that tells each notification: its own text or call, or
    the storm summary or update it was put in. Not those held for a storm's next update (they
    wait for it, on the board) or to a phone that texted STOP (never sent)."""
    with database.sessionmaker() as session:
        rows = session.execute(
            select(AlertNotification.status, OutboxMessage.idempotency_key)
            .outerjoin(OutboxMessage, OutboxMessage.id == AlertNotification.outbox_message_id))
        return {key for status, key in rows if status not in (HELD, UNREACHABLE)}


def _finish(database: Database, sent_log: Path, epoch: float, until: datetime) -> None:
    """A scheduler that lives: until `until`, and at least 15 fake minutes (3 real seconds)
    after it was started, however slow the machine was to get here."""
    until = max(until, _fake_now(epoch) + timedelta(minutes=15))
    survivor = _scheduler(database, sent_log, epoch, until)
    _out, err = survivor.communicate(timeout=90)
    assert survivor.returncode == 0, err


def test_scheduler_killed_at_random_points_of_its_ticks_loses_no_alert_text(
        database: Database, session: Session, tmp_path: Path) -> None:
    _late_morning(session)
    sent_log = tmp_path / "sent.jsonl"
    epoch = time.time() + 1.0
    rng = random.Random(7)
    for _kill in range(3):  # three schedulers in turn, each killed mid-morning
        victim = _scheduler(database, sent_log, epoch, START + timedelta(days=1))
        time.sleep(rng.uniform(1.0, 2.5))
        assert victim.poll() is None, victim.communicate()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    _finish(database, sent_log, epoch, START + timedelta(hours=1))  # lives until 10:29 at least
    with database.sessionmaker() as check:
        late = check.scalars(select(Alert).where(Alert.kind == "late_start")).all()
    assert len(late) == 10
    notifications = _notification_keys(database)
    assert len(notifications) >= 2  # a storm's summary, or the texts one by one
    # Every text the ladder wrote down went out at least once: nothing was lost by a kill.
    assert notifications - set(_sent_keys(sent_log)) == set()
    assert set(_sent_keys(sent_log)) <= notifications


def test_scheduler_killed_after_a_text_left_and_before_it_was_marked_sends_it_once(
        database: Database, session: Session, tmp_path: Path) -> None:
    _late_morning(session, count=3)
    sent_log, marker = tmp_path / "sent.jsonl", tmp_path / "paused"
    epoch = time.time() + 0.5
    victim = _scheduler(database, sent_log, epoch, START + timedelta(days=1),
                        "--pause-after-send", "1", "--marker", str(marker))
    wait_for(lambda: marker.exists() or victim.poll() is not None, 60,
             "the scheduler to send its first text")
    assert victim.poll() is None, victim.communicate()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert len(_sent_keys(sent_log)) == 1  # the text left the building, then the kill
    _finish(database, sent_log, epoch, START + timedelta(minutes=40))
    keys = _sent_keys(sent_log)
    assert _notification_keys(database) == set(keys)  # nothing lost...
    assert [k for k, n in Counter(keys).items() if n > 1] == []  # ...and nothing twice
