"""The feed and the webhooks with real processes: concurrent writers, a relay killed mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import LogKind
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.visits.feed import Position, read_changes
from ivr_gateway.visits.models import VisitChange
from ivr_gateway.webhooks.mock_receiver import ReceivedStore, create_receiver_app
from ivr_gateway.webhooks.signing import new_secret
from ivr_gateway.webhooks.subscriptions import create_subscription
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.webhooks.conftest import log

pytestmark = pytest.mark.slow  # real processes

T0 = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.postgres_only
def test_two_writers_and_a_reader_on_postgresql_nothing_skipped_nothing_twice(
        database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        refs = [make_planned_visit(session, adult, [carer], start=T0, ref=f"V{i}").ref
                for i in range(40)]
    writers = [subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.webhooks.feed_writer", database.url, str(seed), "150",
         *refs[seed::2]], env=os.environ.copy()) for seed in (0, 1)]
    settings = Settings(database_url=database.url)
    now = T0 + timedelta(hours=1)
    seen: list[Position] = []
    after = Position()
    inversions = 0  # entries read after an entry of a higher id: where id order would skip

    def read_page() -> bool:
        nonlocal after, inversions
        with database.unit_of_work() as session:
            page = read_changes(session, after, 50, settings, now)
        for entry in page.entries:
            if seen and entry.position.id < max(p.id for p in seen[-200:]):
                inversions += 1
            seen.append(entry.position)
        after = page.next_position
        return page.more

    try:
        while any(w.poll() is None for w in writers):
            read_page()
    finally:
        for writer in writers:
            writer.wait(timeout=60)
    assert [w.returncode for w in writers] == [0, 0]
    deadline = time.monotonic() + 30
    with database.unit_of_work() as session:
        written = session.scalar(select(func.count()).select_from(VisitChange)) or 0
    while len(seen) < written and time.monotonic() < deadline:
        if not read_page():
            time.sleep(0.05)

    with database.unit_of_work() as session:
        every_id = sorted(session.scalars(select(VisitChange.id)))
    assert len(seen) == len(set(seen)), "an entry was read twice"
    assert sorted(p.id for p in seen) == every_id, "an entry was skipped"
    assert seen == sorted(seen), "the feed went backwards"
    assert written >= 300
    # The writers did commit out of id order (else this test could not catch a skip).
    assert inversions > 0


@contextmanager
def webhooks_relay(database: Database) -> Iterator[subprocess.Popen[bytes]]:
    """`ivr-gateway webhooks relay` in its own process."""
    env = {**os.environ, "DATABASE_URL": database.url}
    process = subprocess.Popen(
        [sys.executable, "-c", "from ivr_gateway.cli import main; main()", "webhooks", "relay",
         "--interval", "0.2", "--lease", "3", "--timeout", "5"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _slow(app: Flask, seconds: float) -> Flask:
    @app.before_request
    def wait() -> None:
        time.sleep(seconds)
    return app


def test_a_relay_killed_mid_delivery_loses_nothing_and_each_visit_stays_in_order(
        database: Database) -> None:
    secret = new_secret()
    store = ReceivedStore()
    with serving(_slow(create_receiver_app(secret, store), 0.15)) as base:
        with database.unit_of_work() as session:
            create_subscription(session, url=base + "/webhooks", event_types=None,
                                description="test", actor="test", now=T0, from_start=True,
                                key_setting=Settings().token_secret_key, secret=secret)
            adult = make_adult(session)
            pairs = []
            for i in range(10):
                carer = make_care_worker(session, staff_number=f"{7000 + i}")
                make_planned_visit(session, adult, [carer], start=T0, ref=f"V{i}")
                pairs.append((carer.id, adult.id))
        for minutes, kind in ((0, LogKind.IN), (30, LogKind.OUT)):
            for carer_id, adult_id in pairs:
                with database.unit_of_work() as session:
                    log(session, carer_id, adult_id, T0 + timedelta(minutes=minutes), kind)

        with webhooks_relay(database) as relay:
            _wait_for(lambda: len(store.ids()) >= 6)
            relay.send_signal(signal.SIGKILL)  # a POST is in flight or about to be
            relay.wait(timeout=10)
        assert len(store.ids()) < 20
        with webhooks_relay(database):
            _wait_for(lambda: len(store.ids()) >= 20 and _unsent(database) == 0)

    bodies = store.bodies()
    assert len(store.ids()) == len(set(store.ids())) == 20
    for i in range(10):
        kinds = [b["data"]["log_event"]["kind"] for b in bodies
                 if b["data"]["planned_visit_ref"] == f"V{i}"]
        assert kinds == ["in", "out"], f"V{i}: {kinds}"
    assert store.refused == 0
    # At most the delivery in flight at the kill was sent again, with the same webhook-id.
    assert sum(n - 1 for n in store.attempts.values()) <= 1


def _unsent(database: Database) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "webhook", OutboxMessage.status != OutboxStatus.SENT)) or 0
