"""Back-off on the receiver's health: the policy, the shared gate, and the relay waiting on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.outbox.health import (
    BackoffPolicy,
    Gate,
    note_failure,
    note_success,
    pass_gate,
    receiver_health,
)
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.relay import Delivery, Relay
from ivr_gateway.outbox.service import enqueue

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night the clocks go forward
POLICY = BackoffPolicy()
LEASE = timedelta(minutes=1)


def test_the_wait_is_a_tenth_of_the_failing_time_from_a_second_to_a_minute() -> None:
    assert POLICY.wait(timedelta(0)) == timedelta(seconds=1)
    assert POLICY.wait(timedelta(seconds=5)) == timedelta(seconds=1)
    assert POLICY.wait(timedelta(seconds=100)) == timedelta(seconds=10)
    assert POLICY.wait(timedelta(minutes=10)) == timedelta(minutes=1)
    assert POLICY.wait(timedelta(hours=5)) == timedelta(minutes=1)


def test_retry_after_is_a_floor_capped_at_ten_minutes() -> None:
    assert POLICY.wait(timedelta(0), timedelta(seconds=30)) == timedelta(seconds=30)
    # Our own wait is longer than the council asked: still honoured (not sooner than asked).
    assert POLICY.wait(timedelta(minutes=5), timedelta(seconds=2)) == timedelta(seconds=30)
    assert POLICY.wait(timedelta(0), timedelta(minutes=9)) == timedelta(minutes=9)
    assert POLICY.wait(timedelta(0), timedelta(hours=3)) == timedelta(minutes=10)


def _fail(database: Database, at: datetime, retry_after: timedelta | None = None) -> timedelta:
    with database.unit_of_work() as session:
        return note_failure(session, "ecc", at, "council answered 500", POLICY, retry_after)


def _gate(database: Database, at: datetime) -> Gate:
    with database.unit_of_work() as session:
        return pass_gate(session, "ecc", at, LEASE)


def test_a_healthy_receiver_is_open_to_every_relay(database: Database) -> None:
    assert _gate(database, NOW) is Gate.OPEN
    assert _gate(database, NOW) is Gate.OPEN
    with database.unit_of_work() as session:
        assert note_success(session, "ecc", NOW) is False  # nothing to write when healthy
        assert receiver_health(session, "ecc") is None


def test_a_failure_closes_the_gate_then_one_relay_probes_and_a_success_opens_it(
        database: Database) -> None:
    assert _fail(database, NOW) == timedelta(seconds=1)
    assert _gate(database, NOW + timedelta(milliseconds=500)) is Gate.CLOSED
    assert _gate(database, NOW + timedelta(seconds=1)) is Gate.PROBE
    # The probe is in flight: every other relay waits for its answer (or its lease).
    assert _gate(database, NOW + timedelta(seconds=2)) is Gate.CLOSED
    assert _gate(database, NOW + timedelta(seconds=1) + LEASE) is Gate.PROBE
    with database.unit_of_work() as session:
        assert note_success(session, "ecc", NOW + timedelta(seconds=70)) is True
    assert _gate(database, NOW + timedelta(seconds=70)) is Gate.OPEN
    with database.unit_of_work() as session:
        health = receiver_health(session, "ecc")
        assert health is not None
        assert (health.consecutive_failures, health.failing_since, health.not_before) == (
            0, None, None)
        assert health.recovered_at == NOW + timedelta(seconds=70)


def test_a_success_resets_the_wait_however_long_the_council_had_failed(
        database: Database) -> None:
    at = NOW
    for _ in range(80):  # failing for ever longer: the wait grows to the minute
        wait = _fail(database, at)
        at += wait
    assert wait == timedelta(minutes=1)
    with database.unit_of_work() as session:
        note_success(session, "ecc", at)
    assert _fail(database, at + timedelta(seconds=3)) == timedelta(seconds=1)


def test_while_successes_come_the_wait_stays_short_and_never_passes_a_minute(
        database: Database) -> None:
    # A flaky council: five failures, one success, over and over for an hour. The wait follows
    # the council (short streaks, short waits), not how many times anything has failed.
    at, waits = NOW, []
    while at < NOW + timedelta(hours=1):
        for _ in range(5):
            waits.append(_fail(database, at))
            at += waits[-1]
        with database.unit_of_work() as session:
            note_success(session, "ecc", at)
        at += timedelta(seconds=1)
    assert max(waits) <= timedelta(seconds=1)
    assert len(waits) > 1000


def test_the_councils_retry_after_holds_every_relay(database: Database) -> None:
    assert _fail(database, NOW, retry_after=timedelta(seconds=30)) == timedelta(seconds=30)
    assert _gate(database, NOW + timedelta(seconds=29)) is Gate.CLOSED
    assert _gate(database, NOW + timedelta(seconds=30)) is Gate.PROBE


class Council:
    """A fake batch receiver: answers each request from a script, records what it was sent."""

    def __init__(self, script: list[str]) -> None:
        self.script = script  # "ok", "down", "refuse", "lost" per request; then "ok"
        self.requests: list[list[str]] = []

    def __call__(self, items: list[tuple[str, dict[str, Any]]]) -> list[Delivery]:
        self.requests.append([key for key, _payload in items])
        answer = self.script.pop(0) if self.script else "ok"
        if answer == "down":
            return [Delivery.receiver_unavailable("council answered 503")] * len(items)
        if answer == "refuse":
            return [Delivery.refused("council refused it: validation_error")] * len(items)
        if answer == "lost":  # answered, but not about these records
            return [Delivery.retry("the council's answer did not mention this record")] \
                * len(items)
        return [Delivery.sent()] * len(items)


def _relay(database: Database, clock: FixedClock, council: Council, worker: str = "r1"
           ) -> Relay:
    return Relay(database, clock, {}, batch_adapters={"ecc": council}, worker=worker,
                 lease=LEASE, health={"ecc": POLICY})


def _message(database: Database, key: str) -> OutboxMessage:
    with database.sessionmaker() as session:
        return session.scalars(select(OutboxMessage)
                               .where(OutboxMessage.idempotency_key == key)).one()


def _queue(database: Database, *keys: str) -> None:
    with database.unit_of_work() as session:
        for key in keys:
            enqueue(session, kind="ecc", idempotency_key=key, payload={}, now=NOW,
                    ordering_key=key)


def test_an_outage_of_any_length_never_dead_letters_a_record(database: Database) -> None:
    _queue(database, "a")
    clock = FixedClock(NOW)
    council = Council(["down"] * 80)
    relay = _relay(database, clock, council)
    for _ in range(80):
        assert relay.run_once().retried == 1
        with database.sessionmaker() as session:
            health = receiver_health(session, "ecc")
            assert health is not None and health.not_before is not None
            clock.set(health.not_before)
    a = _message(database, "a")
    assert (a.status, a.attempts) == (OutboxStatus.PENDING, 80)  # 50 used to dead-letter it
    assert relay.run_once().sent == 1


def test_a_records_own_failures_still_dead_letter_it(database: Database) -> None:
    _queue(database, "refused", "lost")
    clock = FixedClock(NOW)
    council = Council(["refuse"] + ["lost"] * 60)
    relay = Relay(database, clock, {}, batch_adapters={"ecc": council}, worker="r1",
                  batch_size=1, lease=LEASE, health={"ecc": POLICY})
    assert relay.run_once().dead == 1  # refused by the council: at once
    for _ in range(60):
        clock.advance(hours=2)  # past the per-record back-off of an unmentioned record
        relay.run_once()
    lost = _message(database, "lost")
    assert (lost.status, lost.attempts) == (OutboxStatus.DEAD, 50)
    with database.sessionmaker() as session:
        assert receiver_health(session, "ecc") is None  # the council was answering throughout


def _wait_out_the_gate(database: Database, clock: FixedClock) -> None:
    with database.sessionmaker() as session:
        health = receiver_health(session, "ecc")
        assert health is not None and health.not_before is not None
        clock.set(health.not_before)


def test_the_gate_holds_every_relay_and_one_success_lets_every_record_go(
        database: Database) -> None:
    _queue(database, "a", "b")
    clock = FixedClock(NOW)
    council = Council(["down", "down"])
    first, second = (_relay(database, clock, council, worker=w) for w in ("r1", "r2"))
    assert first.run_once().retried == 2
    assert second.run_once().claimed == 0  # the council is failing: the other relay waits too
    _wait_out_the_gate(database, clock)
    assert second.run_once().retried == 2  # its probe fails
    assert first.run_once().claimed == 0
    _wait_out_the_gate(database, clock)
    assert first.run_once().sent == 2  # the council answers: both records go at once
    assert council.requests == [["a", "b"]] * 3
    assert {_message(database, k).status for k in "ab"} == {OutboxStatus.SENT}
    with database.sessionmaker() as session:
        health = receiver_health(session, "ecc")
        assert health is not None and health.failing_since is None
