"""The relay process (`ivr-gateway relay`): delivers queued council records to the council's API.

Its own process (Procfile `relay`), not a job in the scheduler: it wakes every second or two to
keep "real time" (a record reaches the council within seconds of the webhook's commit), spends
most of its life waiting on the council's HTTP answers (up to the client's timeout when the
council is slow), and must be restartable and killable on its own; none of that should delay
the scheduler's escalation jobs, whose timing is a carer's safety. Several relays may run: they
share work through the outbox's leased claims (SKIP LOCKED on PostgreSQL), and wait on the
council's health together: one row in the database, not per process, because the council fails
and rate-limits the gateway as a whole (ivr_gateway/outbox/health.py says why and how).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.client import EccClient
from ivr_gateway.ecc.events import KIND, render_visit_records
from ivr_gateway.ecc.models import EccForwardingFailure
from ivr_gateway.outbox.health import BackoffPolicy
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.relay import Relay, RelayResult

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0  # seconds between passes when idle: p99 commit -> council well under 5 s


# After a failed request: wait a tenth of the time the council has been failing, 1 s to 1 minute;
# a Retry-After is a floor, capped at 10 minutes (outbox/health.py; docs/ecc-api.md "Transport").
COUNCIL_BACKOFF = BackoffPolicy()


class RelayNotConfigured(RuntimeError):
    """The relay has nowhere to send to; the message says what to set."""


def build_relay(settings: Settings, database: Database, clock: Clock, *, batch_size: int = 100,
                lease: timedelta = timedelta(seconds=60), timeout: float = 10.0,
                worker: str | None = None) -> Relay:
    """A relay with the council client as the adapter of the "ecc" kind."""
    if not settings.ecc_api_url:
        raise RelayNotConfigured("Set ECC_API_URL (and ECC_API_TOKEN) to the council's API, "
                                 "e.g. http://127.0.0.1:5050/api/v1 for `ivr-gateway mock-ecc`.")
    client = EccClient(settings.ecc_api_url, settings.ecc_api_token, timeout=timeout)
    return Relay(database, clock, {}, batch_adapters={KIND: client.send_batch},
                 batch_size=batch_size, lease=lease, worker=worker,
                 health={KIND: COUNCIL_BACKOFF})


def record_forwarding_failures(session: Session, now: datetime) -> int:
    """Write a forwarding failure for each dead council record that has none yet (idempotent).

    Scanning for them, rather than writing from the relay's on_dead callback, means a relay
    killed between dead-lettering and noting the failure loses nothing: the next pass notes it.
    """
    rows = session.execute(
        select(OutboxMessage, EccForwardingFailure)
        .outerjoin(EccForwardingFailure,
                   EccForwardingFailure.outbox_message_id == OutboxMessage.id)
        .where(OutboxMessage.kind == KIND, OutboxMessage.status == OutboxStatus.DEAD,
               or_(EccForwardingFailure.id.is_(None),
                   EccForwardingFailure.resolved_at.is_not(None)))
        .order_by(OutboxMessage.id)).all()
    for message, failure in rows:
        payload = message.payload
        if failure is None:
            failure = EccForwardingFailure(
                outbox_message_id=message.id, record_type=str(payload.get("record_type", "")),
                record_id=str(payload.get("record_id", "")),
                sequence_id=int(payload.get("sequence_id", 0)))
            session.add(failure)
        failure.error = message.last_error or ""
        failure.failed_at = now
        failure.resolved_at = None  # retried by a person and refused again: open once more
        log.warning("forwarding failed: %s %s (outbox %d): %s", payload.get("record_type"),
                    payload.get("record_id"), message.id, message.last_error)
    session.flush()
    return len(rows)


def run_pass(relay: Relay, database: Database, clock: Clock) -> RelayResult:
    """One pass: render changed visits' records, deliver a batch, note new forwarding failures."""
    with database.unit_of_work() as session:
        render_visit_records(session, clock.now())
    result = relay.run_once()
    if result.dead:
        with database.unit_of_work() as session:
            record_forwarding_failures(session, clock.now())
    return result


def run_relay(relay: Relay, database: Database, clock: Clock, *,
              interval: float = DEFAULT_INTERVAL, stop: threading.Event | None = None,
              max_passes: int | None = None) -> None:
    """Deliver until stopped: straight on while batches come full, else wait `interval` seconds."""
    stop = stop or threading.Event()
    with database.unit_of_work() as session:
        record_forwarding_failures(session, clock.now())
    passes = 0
    while not stop.is_set() and (max_passes is None or passes < max_passes):
        passes += 1
        try:
            result = run_pass(relay, database, clock)
        except Exception:  # the database restarting must not end the process; log and wait
            log.exception("relay pass failed")
            stop.wait(interval)
            continue
        if result.claimed:
            log.info("relay: %d claimed, %d sent, %d to retry, %d dead", result.claimed,
                     result.sent, result.retried, result.dead)
        if result.claimed < relay.batch_size:
            stop.wait(interval)
