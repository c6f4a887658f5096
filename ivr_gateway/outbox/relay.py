"""The relay: claims due outbox messages, hands each to the adapter for its kind, settles it.

Adapters (the council client, the SMS and voice senders) return a Delivery; they never see the
database. No transaction is open while an adapter talks to the outside world.

Kinds given a BackoffPolicy (`health=`) wait on their receiver's health, shared by every relay
in the database (outbox/health.py: why, and why there); the others back off per message.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.db import Database
from ivr_gateway.outbox.health import (
    BackoffPolicy,
    Gate,
    note_failure,
    note_success,
    pass_gate,
    release_probe,
)
from ivr_gateway.outbox.service import claim_due, mark_failed, mark_sent_many

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What an adapter says of one attempt."""

    ok: bool
    error: str = ""
    permanent: bool = False  # the receiver refused it for good (e.g. a 4xx validation error)
    retry_after: timedelta | None = None  # the receiver asked us to wait (e.g. 429 Retry-After)
    # The receiver did not answer about the message at all (5xx, 429, a timeout): a fact about
    # the receiver's health, not the message's; never a reason to dead-letter it.
    unavailable: bool = False
    reference: str = ""  # the receiver's id for it (a Twilio SID), when it gave one

    @classmethod
    def sent(cls, reference: str = "") -> Delivery:
        """Delivered (or already delivered: the receiver recognised the idempotency key)."""
        return cls(ok=True, reference=reference)

    @classmethod
    def retry(cls, error: str, retry_after: timedelta | None = None) -> Delivery:
        """A passing failure: try again later."""
        return cls(ok=False, error=error, retry_after=retry_after)

    @classmethod
    def receiver_unavailable(cls, error: str, retry_after: timedelta | None = None) -> Delivery:
        """The receiver is down, overloaded or unreachable: wait for it, not for the message."""
        return cls(ok=False, error=error, retry_after=retry_after, unavailable=True)

    @classmethod
    def refused(cls, error: str) -> Delivery:
        """A permanent refusal: dead-letter it for a person."""
        return cls(ok=False, error=error, permanent=True)


Adapter = Callable[[str, dict[str, Any]], Delivery]  # (idempotency_key, payload) -> Delivery
# Put in the payload an adapter sees (never stored) when the message's last claim ran out
# unsettled: the earliest moment (ISO 8601, UTC) that attempt may have sent it, so an adapter
# whose receiver keeps no idempotency key (Twilio) can ask whether it went before sending again.
MAYBE_SENT_SINCE = "_maybe_sent_since"
# (session, [(payload, delivery), ...]) for the messages just delivered, in the settling
# transaction: a feature records what the receiver said (e.g. the notification is now "sent").
OnSent = Callable[[Session, list[tuple[dict[str, Any], Delivery]]], None]
# [(idempotency_key, payload), ...] -> one Delivery per message, in the same order: for receivers
# that take records in batches (the council's API), so a backlog drains at the HTTP path's speed.
BatchAdapter = Callable[[list[tuple[str, dict[str, Any]]]], list[Delivery]]


@dataclass
class RelayResult:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0


def worker_name() -> str:
    """host:pid, so a lease shows which relay holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Relay:
    """Delivers outbox messages of the kinds it has adapters for."""

    def __init__(self, database: Database, clock: Clock, adapters: Mapping[str, Adapter], *,
                 batch_size: int = 50, lease: timedelta = timedelta(minutes=2),
                 worker: str | None = None,
                 on_dead: Callable[[str, dict[str, Any], str], None] | None = None,
                 batch_adapters: Mapping[str, BatchAdapter] | None = None,
                 health: Mapping[str, BackoffPolicy] | None = None,
                 on_sent: OnSent | None = None, concurrency: int = 1) -> None:
        self.database = database
        self.clock = clock
        self.adapters = dict(adapters)
        self.batch_adapters = dict(batch_adapters or {})
        self.batch_size = batch_size
        self.lease = lease
        self.worker = worker or worker_name()
        self.on_dead = on_dead
        self.health = dict(health or {})  # kind -> policy: these kinds wait on their receiver
        self.on_sent = on_sent
        # Messages of the single-message adapters sent at once (threads): texts through Twilio
        # take ~150 ms each, so one at a time a storm's hundreds took minutes.
        self.concurrency = max(1, concurrency)

    def run_once(self) -> RelayResult:
        """Claim one batch, deliver it, settle each message; return the counts."""
        result = RelayResult()
        with self.database.unit_of_work() as session:
            now = self.clock.now()
            kinds, probes = [], []
            for kind in (*self.adapters, *self.batch_adapters):
                gate = (pass_gate(session, kind, now, self.lease) if kind in self.health
                        else Gate.OPEN)
                if gate is not Gate.CLOSED:
                    kinds.append(kind)
                if gate is Gate.PROBE:
                    probes.append(kind)
            expired: dict[int, datetime] = {}
            claimed = [(m.id, m.kind, m.idempotency_key, dict(m.payload)) for m in claim_due(
                session, kinds=tuple(kinds), now=now, limit=self.batch_size, lease=self.lease,
                worker=self.worker, expired=expired)] if kinds else []
            for kind in probes:
                if not any(c[1] == kind for c in claimed):
                    release_probe(session, kind, now)
        result.claimed = len(claimed)
        for kind, adapter in self.batch_adapters.items():
            batch = [c for c in claimed if c[1] == kind]
            if batch:
                self._settle(list(zip(batch, self._send_batch(kind, adapter, batch), strict=True)),
                             result)
        single = [m for m in claimed if m[1] in self.adapters]
        if self.concurrency > 1 and len(single) > 1:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(single))) as pool:
                deliveries = list(pool.map(lambda m: self._send_one(m, expired), single))
            self._settle(list(zip(single, deliveries, strict=True)), result)
        else:
            for message in single:
                self._settle([(message, self._send_one(message, expired))], result)
        return result

    def _send_one(self, message: tuple[int, str, str, dict[str, Any]],
                  expired: Mapping[int, datetime]) -> Delivery:
        message_id, kind, key, payload = message
        if message_id in expired:
            payload = {**payload, MAYBE_SENT_SINCE: (expired[message_id] - self.lease
                                                     ).isoformat()}
        try:
            return self.adapters[kind](key, payload)
        except Exception as error:  # an adapter bug must not stop the other messages
            log.exception("outbox %s (%s) adapter failed", message_id, kind)
            return Delivery.retry(f"{type(error).__name__}: {error}")

    def _send_batch(self, kind: str, adapter: BatchAdapter,
                    batch: list[tuple[int, str, str, dict[str, Any]]]) -> list[Delivery]:
        try:
            deliveries = adapter([(key, payload) for _id, _kind, key, payload in batch])
            if len(deliveries) != len(batch):
                raise ValueError(f"{len(deliveries)} answers for {len(batch)} messages")
            return deliveries
        except Exception as error:  # an adapter bug: retry the batch later, keep the relay up
            log.exception("outbox batch of %d (%s) adapter failed", len(batch), kind)
            return [Delivery.retry(f"{type(error).__name__}: {error}")] * len(batch)

    def _settle(self, outcomes: list[tuple[tuple[int, str, str, dict[str, Any]], Delivery]],
                result: RelayResult) -> None:
        """Record the answers in one transaction, then tell on_dead of the dead letters."""
        dead: list[tuple[str, dict[str, Any], str]] = []
        with self.database.unit_of_work() as session:
            now = self.clock.now()
            self._note_health(session, outcomes, now)
            result.sent += mark_sent_many(session, [m[0] for m, d in outcomes if d.ok],
                                          worker=self.worker, now=now)
            if self.on_sent is not None and any(d.ok for _m, d in outcomes):
                self.on_sent(session, [(m[3], d) for m, d in outcomes if d.ok])
            for (message_id, kind, _key, payload), delivery in outcomes:
                if delivery.ok:
                    continue
                status = mark_failed(session, message_id, worker=self.worker, now=now,
                                     error=delivery.error, retry_after=delivery.retry_after,
                                     dead=delivery.permanent,
                                     held_by_receiver=delivery.unavailable
                                     and kind in self.health)
                if status is not None and status.value == "dead":
                    result.dead += 1
                    dead.append((kind, payload, delivery.error))
                elif status is not None:
                    result.retried += 1
        if self.on_dead is not None:
            for kind, payload, error in dead:
                self.on_dead(kind, payload, error)

    def _note_health(self, session: Session,
                     outcomes: list[tuple[tuple[int, str, str, dict[str, Any]], Delivery]],
                     now: datetime) -> None:
        """One request's answer (a batch, or one message) tells its receiver's health."""
        for kind, policy in self.health.items():
            deliveries = [d for m, d in outcomes if m[1] == kind]
            if not deliveries:
                continue
            if any(d.ok or d.permanent for d in deliveries):  # it answered about the records
                if note_success(session, kind, now):
                    log.info("%s: the receiver answers again", kind)
                continue
            if not all(d.unavailable for d in deliveries):  # our own adapter failed: no news
                continue
            waits = [d.retry_after for d in deliveries if d.retry_after is not None]
            wait = note_failure(session, kind, now, deliveries[0].error, policy,
                                max(waits) if waits else None)
            log.info("%s: receiver unavailable (%s); next request in %.1f s", kind,
                     deliveries[0].error, wait.total_seconds())
