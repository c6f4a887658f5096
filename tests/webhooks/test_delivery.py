"""Webhook deliveries through the outbox: signed, in order per visit, once, across an outage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.api.openapi import openapi_document
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import LogKind
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.webhooks.mock_receiver import ReceivedStore, create_receiver_app
from ivr_gateway.webhooks.relay import build_webhook_relay, run_pass
from ivr_gateway.webhooks.signing import new_secret
from ivr_gateway.webhooks.subscriptions import create_subscription
from tests.api.conftest import schema_errors
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.webhooks.conftest import log

T0 = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """The mock receiver on a local port, with its secret and what it kept."""

    url: str
    secret: str
    store: ReceivedStore


@pytest.fixture
def receiver(clock: FixedClock) -> Iterator[Receiver]:
    """The mock receiver, checking signatures against the test's clock."""
    secret = new_secret()
    store = ReceivedStore()
    app = create_receiver_app(secret, store, now=lambda: clock.now().timestamp())
    with serving(app) as base:
        yield Receiver(base + "/webhooks", secret, store)


def subscribe(database: Database, receiver: Receiver, clock: FixedClock,
              event_types: list[str] | None = None) -> int:
    """A subscription of the receiver, from the beginning of the feed."""
    with database.unit_of_work() as session:
        return create_subscription(session, url=receiver.url, event_types=event_types,
                                   description="test", actor="test", now=clock.now(),
                                   key_setting=Settings().token_secret_key, from_start=True,
                                   secret=receiver.secret).id


def carers_log_in_and_out(database: Database, carers: int) -> list[str]:
    """Each of `carers` carers logs in and out of their own visit; their visits' refs."""
    refs = []
    with database.unit_of_work() as session:
        adult = make_adult(session)
        pairs = []
        for i in range(carers):
            carer = make_care_worker(session, staff_number=f"{7000 + i}")
            visit = make_planned_visit(session, adult, [carer], start=T0, ref=f"V{i}")
            refs.append(visit.ref)
            pairs.append((carer.id, adult.id))
    for minutes, kind in ((0, LogKind.IN), (30, LogKind.OUT)):
        for carer_id, adult_id in pairs:
            with database.unit_of_work() as session:
                log(session, carer_id, adult_id, T0 + timedelta(minutes=minutes), kind)
    return refs


def drain(settings: Settings, database: Database, clock: FixedClock, passes: int = 30,
          step: timedelta = timedelta(0)) -> None:
    """Relay passes (the clock moved on by `step` after each) until nothing is left to do."""
    relay = build_webhook_relay(settings, database, clock, worker="test-relay", timeout=5)
    for _ in range(passes):
        queued, result = run_pass(relay, settings, database, clock)
        clock.advance(seconds=step.total_seconds())
        if not queued and not result.claimed and not _pending(database):
            return


def _pending(database: Database) -> int:
    with database.unit_of_work() as session:
        return len(list(session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.kind == "webhook", OutboxMessage.status == OutboxStatus.PENDING))))


def wait_for_feed(settings: Settings, database: Database, clock: FixedClock, count: int) -> None:
    """PostgreSQL shows an entry once older transactions of the cluster ended: wait for all."""
    from ivr_gateway.visits.feed import Position, read_changes
    for _ in range(300):
        with database.unit_of_work() as session:
            if len(read_changes(session, Position(), 500, settings, clock.now()).entries) >= count:
                return
        __import__("time").sleep(0.05)


def test_each_change_is_delivered_signed_once_in_the_feeds_order(
        settings: Settings, database: Database, clock: FixedClock, receiver: Receiver) -> None:
    subscribe(database, receiver, clock)
    refs = carers_log_in_and_out(database, 3)
    wait_for_feed(settings, database, clock, 6)

    drain(settings, database, clock)

    bodies = receiver.store.bodies()
    assert [(b["type"], b["data"]["planned_visit_ref"], b["data"]["log_event"]["kind"])
            for b in bodies] == [("log_event.recorded", ref, kind) for kind in ("in", "out")
                                 for ref in refs]
    assert receiver.store.refused == 0  # every signature checked out
    assert all(n == 1 for n in receiver.store.attempts.values())
    assert bodies[-1]["data"]["visit"]["outcome"] == "completed"
    document = openapi_document()  # each body is what the OpenAPI document's webhook says
    schema = document["webhooks"]["change"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert [schema_errors(document, schema, body) for body in bodies] == [[]] * len(bodies)


def test_a_subscription_is_sent_only_the_event_types_it_asked_for(
        settings: Settings, database: Database, clock: FixedClock, receiver: Receiver,
        session: Session) -> None:
    subscribe(database, receiver, clock, ["planned_visit.cancelled"])
    carers_log_in_and_out(database, 1)
    wait_for_feed(settings, database, clock, 2)
    drain(settings, database, clock)
    assert receiver.store.bodies() == []


def test_a_receiver_outage_delays_deliveries_and_then_each_arrives_once_in_order(
        settings: Settings, database: Database, clock: FixedClock, receiver: Receiver) -> None:
    subscribe(database, receiver, clock)
    receiver.store.down = True
    refs = carers_log_in_and_out(database, 3)
    wait_for_feed(settings, database, clock, 6)

    drain(settings, database, clock, passes=5, step=timedelta(minutes=2))
    assert receiver.store.bodies() == []
    with database.unit_of_work() as session:
        waiting = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "webhook").order_by(OutboxMessage.id)))
    assert [m.status for m in waiting] == [OutboxStatus.PENDING] * 6
    assert "503" in (waiting[0].last_error or "")

    receiver.store.down = False
    drain(settings, database, clock, passes=60, step=timedelta(hours=1))

    bodies = receiver.store.bodies()
    by_visit = {ref: [b["data"]["log_event"]["kind"] for b in bodies
                      if b["data"]["planned_visit_ref"] == ref] for ref in refs}
    assert by_visit == {ref: ["in", "out"] for ref in refs}  # once each, in order per visit
    assert all(n == 1 for n in receiver.store.attempts.values())
    assert _pending(database) == 0


def test_a_receiver_that_refuses_a_delivery_gets_it_dead_lettered_for_a_person(
        settings: Settings, database: Database, clock: FixedClock, receiver: Receiver) -> None:
    refusing = Receiver(receiver.url.removesuffix("/webhooks") + "/nowhere", receiver.secret,
                        receiver.store)  # answers 404: a refusal, not an outage
    subscribe(database, refusing, clock)
    carers_log_in_and_out(database, 1)
    wait_for_feed(settings, database, clock, 2)
    drain(settings, database, clock, passes=5)
    with database.unit_of_work() as session:
        messages = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "webhook").order_by(OutboxMessage.id)))
        states = [(m.status, m.last_error) for m in messages]
    # Each is refused at once and kept for a person (`outbox retry` sends it again).
    assert [s for s, _ in states] == [OutboxStatus.DEAD, OutboxStatus.DEAD]
    assert all("refused the delivery (404)" in (error or "") for _, error in states)
    assert receiver.store.bodies() == []


def test_deliveries_of_a_removed_subscription_are_dropped_not_sent(
        settings: Settings, database: Database, clock: FixedClock, receiver: Receiver) -> None:
    from ivr_gateway.webhooks.dispatch import dispatch_feed
    from ivr_gateway.webhooks.subscriptions import remove_subscription

    subscription_id = subscribe(database, receiver, clock)
    carers_log_in_and_out(database, 1)
    wait_for_feed(settings, database, clock, 2)
    with database.unit_of_work() as session:
        assert dispatch_feed(session, settings, clock.now()) == 2
    with database.unit_of_work() as session:
        remove_subscription(session, subscription_id)
    drain(settings, database, clock)
    assert receiver.store.bodies() == []
    assert _pending(database) == 0
