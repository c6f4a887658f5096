"""The relay against a misbehaving council: outage, 429 storm, a poison record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.models import EccForwardingFailure
from ivr_gateway.ecc.operations import outbox_figures, retry_dead_letters
from ivr_gateway.ecc.relay import run_pass
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.relay import Relay
from tests.ecc.conftest import MockCouncil, relay_for, visits_with_log_in_and_out

START = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night the clocks go forward


def _drain(relay: Relay, database: Database, clock: FixedClock, passes: int = 50) -> None:
    for _ in range(passes):
        result = run_pass(relay, database, clock)
        if not result.claimed:
            with database.unit_of_work() as session:
                if outbox_figures(session, clock.now())["pending"] == 0:
                    return
            clock.advance(minutes=5)  # past any backoff
    raise AssertionError("the outbox did not drain")


def _statuses(database: Database) -> dict[str, OutboxStatus]:
    with database.unit_of_work() as session:
        return {m.idempotency_key: m.status for m in session.scalars(select(OutboxMessage))}


def test_outage_then_recovery_delivers_everything_once_with_log_in_before_log_out(
        database: Database, settings: Settings, mock_council: MockCouncil) -> None:
    clock = FixedClock(START + timedelta(hours=2))
    pairs = visits_with_log_in_and_out(database, 12, START)
    relay = relay_for(settings, database, clock, mock_council, batch_size=5)
    mock_council.set_faults(down=True, retry_after=60)
    for _ in range(3):
        result = run_pass(relay, database, clock)
        assert result.sent == 0
        clock.advance(seconds=61)
    assert mock_council.keys() == []
    with database.unit_of_work() as session:
        figures = outbox_figures(session, clock.now())
    assert figures["pending"] == 24 and figures["dead"] == 0
    assert figures["oldest_pending_age_seconds"] > 180
    mock_council.set_faults(down=False)
    _drain(relay, database, clock)
    received = mock_council.keys()
    assert sorted(received) == sorted(k for pair in pairs for k in pair)  # all, once each
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)
    assert set(_statuses(database).values()) == {OutboxStatus.SENT}


def test_a_429_storm_is_waited_out_as_the_council_asks_and_nothing_is_lost(
        database: Database, settings: Settings, mock_council: MockCouncil) -> None:
    clock = FixedClock(START + timedelta(hours=2))
    pairs = visits_with_log_in_and_out(database, 5, START)
    relay = relay_for(settings, database, clock, mock_council)
    mock_council.set_faults(rate_limit=1.0, retry_after=30)
    assert run_pass(relay, database, clock).retried == 5  # the log-ins; log-outs wait behind
    clock.advance(seconds=29)
    assert run_pass(relay, database, clock).claimed == 0  # Retry-After honoured, not backoff
    clock.advance(seconds=1)
    assert run_pass(relay, database, clock).retried == 5
    mock_council.set_faults(rate_limit=0.0)
    clock.advance(seconds=30)
    _drain(relay, database, clock)
    assert sorted(mock_council.keys()) == sorted(k for pair in pairs for k in pair)
    with database.unit_of_work() as session:
        attempts = {m.idempotency_key: m.attempts for m in session.scalars(select(OutboxMessage))}
    assert all(attempts[log_in] == 3 for log_in, _out in pairs)


def test_a_poison_record_is_dead_lettered_without_blocking_the_others(
        database: Database, settings: Settings, mock_council: MockCouncil) -> None:
    clock = FixedClock(START + timedelta(hours=2))
    pairs = visits_with_log_in_and_out(database, 6, START)
    poison_in, poison_out = pairs[2]
    poison_id = poison_in.split(":")[2]
    mock_council.set_faults(reject=[poison_id])
    relay = relay_for(settings, database, clock, mock_council, batch_size=4)
    _drain(relay, database, clock)
    statuses = _statuses(database)
    assert statuses[poison_in] == statuses[poison_out] == OutboxStatus.DEAD
    others = [k for pair in pairs if pair != pairs[2] for k in pair]
    assert sorted(mock_council.keys()) == sorted(others)
    with database.unit_of_work() as session:
        failures = session.scalars(select(EccForwardingFailure)
                                   .order_by(EccForwardingFailure.id)).all()
        assert [(f.record_id, f.sequence_id) for f in failures] == [(poison_id, 1),
                                                                    (poison_id, 2)]
        assert "refused by the council" in failures[0].error
        assert outbox_figures(session, clock.now())["forwarding_failures_open"] == 2

    # The council fixes its side; the office retries every dead letter.
    mock_council.set_faults(reject=[])
    with database.unit_of_work() as session:
        assert retry_dead_letters(session, clock.now()) == 2
        assert outbox_figures(session, clock.now())["forwarding_failures_open"] == 0
    _drain(relay, database, clock)
    received = mock_council.keys()
    assert received.index(poison_in) < received.index(poison_out)
    assert set(_statuses(database).values()) == {OutboxStatus.SENT}


def test_a_record_refused_again_after_a_retry_reopens_its_forwarding_failure(
        database: Database, settings: Settings, mock_council: MockCouncil) -> None:
    clock = FixedClock(START + timedelta(hours=2))
    (pair,) = visits_with_log_in_and_out(database, 1, START)
    mock_council.set_faults(reject=[pair[0].split(":")[2]])
    relay = relay_for(settings, database, clock, mock_council)
    _drain(relay, database, clock)
    with database.unit_of_work() as session:
        assert retry_dead_letters(session, clock.now()) == 2
    _drain(relay, database, clock)
    with database.unit_of_work() as session:
        assert outbox_figures(session, clock.now())["forwarding_failures_open"] == 2
        assert session.scalar(select(EccForwardingFailure.failed_at).limit(1)) == clock.now()


def test_a_flaky_council_gets_every_record_within_a_minute_not_behind_its_own_growing_backoff(
        database: Database, settings: Settings, mock_council: MockCouncil) -> None:
    # The council of issue 13: half its requests fail (a fifth of them 429 with Retry-After 1 s),
    # so 40% get through. The relay wakes every second (fake time); records wait for the
    # council's next success, not for a back-off that doubled with each of their own failures.
    clock = FixedClock(START + timedelta(hours=2))
    pairs = visits_with_log_in_and_out(database, 30, START)
    relay = relay_for(settings, database, clock, mock_council, batch_size=10)
    mock_council.set_faults(error_rate=0.5, rate_limit=0.2, retry_after=1)
    began, arrived, longest_wait = clock.now(), {}, timedelta(0)
    for _ in range(600):
        run_pass(relay, database, clock)
        held = mock_council.keys()  # (a list, in arrival order; not a dict)
        for key in held:
            arrived.setdefault(key, clock.now() - began)
        with database.unit_of_work() as session:
            waiting = session.scalars(select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING)).all()
            longest_wait = max([longest_wait, *(m.next_attempt_at - clock.now()
                                                for m in waiting)])
        if not waiting:
            break
        clock.advance(seconds=1)
    with database.unit_of_work() as session:
        attempts = {m.idempotency_key: m.attempts for m in session.scalars(select(OutboxMessage))}
    assert max(attempts.values()) >= 5  # the faults bit: some records failed four times or more
    assert longest_wait <= timedelta(0)  # no record had a back-off of its own: the gate held it
    assert sorted(arrived) == sorted(k for pair in pairs for k in pair)  # every record, once
    assert max(arrived.values()) <= timedelta(seconds=60)
    received = mock_council.keys()
    for log_in, log_out in pairs:
        assert received.index(log_in) < received.index(log_out)
    assert set(_statuses(database).values()) == {OutboxStatus.SENT}
