"""The outbox: enqueue once, claim with leases, keep per-key order, back off, dead-letter."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.outbox.relay import Delivery, Relay
from ivr_gateway.outbox.service import (
    backoff,
    claim_due,
    enqueue,
    retry_dead,
    summarise,
)

NOW = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the night the clocks go back


def _enqueue(database: Database, key: str, ordering_key: str | None = None,
             kind: str = "test") -> bool:
    with database.unit_of_work() as session:
        return enqueue(session, kind=kind, idempotency_key=key, payload={"key": key},
                       now=NOW, ordering_key=ordering_key)


def _statuses(database: Database) -> dict[str, str]:
    with database.sessionmaker() as session:
        return {m.idempotency_key: m.status.value for m in session.scalars(select(OutboxMessage))}


class Recorder:
    """A fake adapter that records what it was given and answers as told."""

    def __init__(self, answers: dict[str, list[Delivery]] | None = None) -> None:
        self.received: list[str] = []
        self.answers = answers or {}
        self.lock = threading.Lock()

    def __call__(self, key: str, payload: dict[str, Any]) -> Delivery:
        with self.lock:
            self.received.append(key)
            queue = self.answers.get(key)
            return queue.pop(0) if queue else Delivery.sent()


def test_enqueue_is_idempotent_by_key(database: Database) -> None:
    assert _enqueue(database, "visit-1/in") is True
    assert _enqueue(database, "visit-1/in") is False
    assert list(_statuses(database)) == ["visit-1/in"]


def test_relay_delivers_and_marks_sent(database: Database) -> None:
    for key in ("a", "b", "c"):
        _enqueue(database, key)
    adapter = Recorder()
    result = Relay(database, FixedClock(NOW), {"test": adapter}).run_once()
    assert (result.claimed, result.sent) == (3, 3)
    assert adapter.received == ["a", "b", "c"]
    assert set(_statuses(database).values()) == {"sent"}
    assert Relay(database, FixedClock(NOW), {"test": adapter}).run_once().claimed == 0


def test_same_ordering_key_goes_one_at_a_time_in_order(database: Database) -> None:
    _enqueue(database, "v1/in", "visit-1")
    _enqueue(database, "v1/out", "visit-1")
    _enqueue(database, "v2/in", "visit-2")
    clock = FixedClock(NOW)
    adapter = Recorder({"v1/in": [Delivery.retry("council down")]})
    first = Relay(database, clock, {"test": adapter}).run_once()
    # v1/out waits behind v1/in; visit 2 is not held up.
    assert adapter.received == ["v1/in", "v2/in"]
    assert (first.sent, first.retried) == (1, 1)
    clock.advance(hours=2)
    Relay(database, clock, {"test": adapter}).run_once()
    clock.advance(seconds=1)
    Relay(database, clock, {"test": adapter}).run_once()
    assert adapter.received == ["v1/in", "v2/in", "v1/in", "v1/out"]
    assert set(_statuses(database).values()) == {"sent"}


def test_retry_after_is_honoured(database: Database) -> None:
    _enqueue(database, "a")
    clock = FixedClock(NOW)
    adapter = Recorder({"a": [Delivery.retry("429", retry_after=timedelta(seconds=90))]})
    Relay(database, clock, {"test": adapter}).run_once()
    clock.advance(seconds=89)
    assert Relay(database, clock, {"test": adapter}).run_once().claimed == 0
    clock.advance(seconds=1)
    assert Relay(database, clock, {"test": adapter}).run_once().sent == 1


def test_permanent_refusal_is_dead_lettered_without_blocking_others(database: Database) -> None:
    _enqueue(database, "poison", "visit-1")
    _enqueue(database, "fine", "visit-2")
    dead: list[str] = []
    adapter = Recorder({"poison": [Delivery.refused("422: CallDateTime missing")]})
    result = Relay(database, FixedClock(NOW), {"test": adapter},
                   on_dead=lambda kind, payload, error: dead.append(error)).run_once()
    assert (result.sent, result.dead) == (1, 1)
    assert _statuses(database) == {"poison": "dead", "fine": "sent"}
    assert dead == ["422: CallDateTime missing"]
    with database.unit_of_work() as session:
        summary = summarise(session, NOW)
        assert (summary.pending, summary.dead, summary.sent) == (0, 1, 1)
        assert retry_dead(session, NOW) == 1
    assert _statuses(database)["poison"] == "pending"


def test_an_adapter_that_raises_is_retried_and_others_still_go(database: Database) -> None:
    _enqueue(database, "a")
    _enqueue(database, "b")

    def adapter(key: str, payload: dict[str, Any]) -> Delivery:
        if key == "a":
            raise ConnectionError("connection reset")
        return Delivery.sent()

    result = Relay(database, FixedClock(NOW), {"test": adapter}).run_once()
    assert (result.sent, result.retried) == (1, 1)
    with database.sessionmaker() as session:
        failed = session.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == "a")).one()
        assert failed.last_error == "ConnectionError: connection reset"
        assert failed.next_attempt_at >= NOW


def test_a_relay_killed_mid_send_leaves_a_lease_that_runs_out(database: Database) -> None:
    _enqueue(database, "a")
    with database.unit_of_work() as session:  # a relay claims, then dies before settling
        [claimed] = claim_due(session, kinds=("test",), now=NOW, limit=10,
                              lease=timedelta(minutes=2), worker="dead-relay")
        assert claimed.attempts == 1
    adapter = Recorder()
    clock = FixedClock(NOW + timedelta(minutes=1))
    assert Relay(database, clock, {"test": adapter}, worker="new").run_once().claimed == 0
    clock.advance(minutes=1)
    assert Relay(database, clock, {"test": adapter}, worker="new").run_once().sent == 1
    assert adapter.received == ["a"]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    ceilings = [5, 10, 20, 40]
    for attempts, ceiling in enumerate(ceilings, start=1):
        for _ in range(20):
            assert 0 <= backoff(attempts, rng).total_seconds() <= ceiling
    assert backoff(40, rng) <= timedelta(hours=1)
    assert backoff(50, rng) <= timedelta(hours=1)  # no overflow on the way to the dead letter


@pytest.mark.postgres_only
def test_two_relays_on_postgresql_deliver_each_message_exactly_once(database: Database) -> None:
    for i in range(200):
        _enqueue(database, f"m{i:03d}", ordering_key=f"visit-{i % 20}")
    adapter = Recorder()
    clock = FixedClock(NOW)
    relays = [Relay(Database(database.url), clock, {"test": adapter}, batch_size=7,
                    worker=f"relay-{n}") for n in range(2)]
    barrier = threading.Barrier(2)

    def drain(relay: Relay) -> None:
        barrier.wait()
        for _ in range(200):
            if relay.run_once().claimed == 0 and relay.run_once().claimed == 0:
                return

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(adapter.received) == [f"m{i:03d}" for i in range(200)]  # each once
    for visit in range(20):  # and in order within each visit
        mine = [k for k in adapter.received if int(k[1:]) % 20 == visit]
        assert mine == sorted(mine)
    assert set(_statuses(database).values()) == {"sent"}
    for relay in relays:
        relay.database.dispose()
