"""Back-off that follows the receiver's health, not each message's failure count.

Why: with per-message back-off (5 s doubling) a council failing half its requests made an unlucky
record wait longer after every failure, although 40% of requests were getting through: p99
arrival 436 s, one record still waiting at 15 minutes (issue 13). Whether a record can get
through depends on the council, not on how often that record was unlucky. So:

- The receiver (the council's API) has one health row: when it started failing
  (`failing_since`, cleared by any answer), and a gate (`not_before`): no request before then.
- After a failed request the gate closes for a tenth of the time the receiver has been failing,
  at least 1 s and at most a minute (`BackoffPolicy`). A flaky council that answers one request
  in three is retried every second or two; a council down for ten minutes is probed once a
  minute; when it comes back, records flow within a tenth of the outage (at most a minute).
- A Retry-After from the receiver is honoured as a floor (seconds or an HTTP date), capped at
  ten minutes (see `BackoffPolicy.retry_after_cap`).
- Any answer about the records (a 2xx) is a success: the gate opens for everything at once.
- While it is failing, one relay at a time sends (a probe: the next batch); the others wait.
- The messages themselves are due again at once: the gate holds them. A message's own attempts
  dead-letter it only when the receiver refuses it (or answers without it), never for an outage.

Why in the database, not per process: the council rate-limits and fails the gateway as a
whole (one token, one service). Several relays (processes, and threads in each) must honour
one Retry-After and send one probe between them, not one each; a restarted relay must not
forget that the council is down and hammer it. The row costs a SELECT per pass, and writes
only when the health changes (a failure, or the first success after failures): the healthy
path, which drains backlogs at the HTTP path's speed, takes no lock on it. Correctness (order
per visit, once-only) does not depend on this state at all: it stays with the outbox's leased
claims; the health row only decides *when* to send.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ivr_gateway.db import insert_unless_present
from ivr_gateway.outbox.models import ReceiverHealth


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to leave a failing receiver alone after a failed request."""

    min_wait: timedelta = timedelta(seconds=1)  # the relay's own pace when idle
    share: float = 0.1  # of the time it has been failing: recovery seen within 10% of an outage
    max_wait: timedelta = timedelta(minutes=1)
    # A Retry-After is the council's own word (maintenance, its rate limit), so it may hold us
    # longer than our minute; but not without bound: a header of hours (a misconfigured proxy,
    # an HTTP date off by an hour from a time-zone slip) would silently stop forwarding carers'
    # visits, which the council watches in near real time (a visit is late at 30 minutes).
    # Ten minutes keeps any plausible rate-limit window and costs the council one request.
    retry_after_cap: timedelta = timedelta(minutes=10)

    def wait(self, failing_for: timedelta, retry_after: timedelta | None = None) -> timedelta:
        """The wait after a failed request, the receiver having failed for `failing_for`.

        No jitter: the relays share one gate and send one probe between them, so there is no
        herd of our own to spread out.
        """
        own = min(self.max_wait, max(self.min_wait, failing_for * self.share))
        if retry_after is None:
            return own
        return max(own, min(retry_after, self.retry_after_cap))


class Gate(enum.Enum):
    """What a relay may do with a receiver's messages on this pass."""

    OPEN = "open"  # healthy: send as much as there is
    PROBE = "probe"  # failing, the wait is over, and this relay sends the one probe
    CLOSED = "closed"  # failing and waiting (or another relay is probing)


def pass_gate(session: Session, receiver: str, now: datetime, probe_for: timedelta) -> Gate:
    """May this relay send to `receiver` now? Claims the probe if it is failing and due.

    A won probe holds the gate for `probe_for` (the relay's lease): a relay killed mid-probe
    leaves a gate that simply opens again, like its claims. Call `release_probe` if nothing was
    claimed to send.
    """
    row = session.execute(select(ReceiverHealth.failing_since, ReceiverHealth.not_before)
                          .where(ReceiverHealth.receiver == receiver)).first()
    if row is None or row.failing_since is None:
        return Gate.OPEN
    if row.not_before is not None and row.not_before > now:
        return Gate.CLOSED
    # One statement decides who probes: on PostgreSQL a second relay's UPDATE waits for the
    # first's row lock, then re-reads the row and finds the gate closed (READ COMMITTED).
    won = session.execute(
        update(ReceiverHealth)
        .where(ReceiverHealth.receiver == receiver, ReceiverHealth.failing_since.is_not(None),
               or_(ReceiverHealth.not_before.is_(None), ReceiverHealth.not_before <= now))
        .values(not_before=now + probe_for))
    return Gate.PROBE if getattr(won, "rowcount", 0) else Gate.CLOSED


def release_probe(session: Session, receiver: str, now: datetime) -> None:
    """Give back a probe that found nothing to send, so another relay need not wait for it."""
    session.execute(update(ReceiverHealth)
                    .where(ReceiverHealth.receiver == receiver,
                           ReceiverHealth.failing_since.is_not(None))
                    .values(not_before=now))


def note_success(session: Session, receiver: str, now: datetime) -> bool:
    """The receiver answered: open the gate for everything. True if it had been failing."""
    result = session.execute(
        update(ReceiverHealth)
        .where(ReceiverHealth.receiver == receiver,
               or_(ReceiverHealth.failing_since.is_not(None),
                   ReceiverHealth.not_before.is_not(None)))
        .values(consecutive_failures=0, failing_since=None, not_before=None, recovered_at=now))
    return bool(getattr(result, "rowcount", 0))


def note_failure(session: Session, receiver: str, now: datetime, error: str,
                 policy: BackoffPolicy, retry_after: timedelta | None = None) -> timedelta:
    """A request failed as a whole (5xx, 429, timeout...): close the gate; return the wait."""
    insert_unless_present(session, ReceiverHealth,
                          {"receiver": receiver, "consecutive_failures": 0}, ("receiver",))
    # Increment and read back under the row's lock (the UPDATE takes it on PostgreSQL).
    session.execute(
        update(ReceiverHealth).where(ReceiverHealth.receiver == receiver)
        .values(consecutive_failures=ReceiverHealth.consecutive_failures + 1,
                last_error=error[:2000]))
    session.execute(
        update(ReceiverHealth).where(ReceiverHealth.receiver == receiver,
                                     ReceiverHealth.failing_since.is_(None))
        .values(failing_since=now))
    failing_since = session.scalar(select(ReceiverHealth.failing_since)
                                   .where(ReceiverHealth.receiver == receiver)) or now
    wait = policy.wait(max(timedelta(0), now - failing_since), retry_after)
    session.execute(update(ReceiverHealth).where(ReceiverHealth.receiver == receiver)
                    .values(not_before=now + wait))
    return wait


def receiver_health(session: Session, receiver: str) -> ReceiverHealth | None:
    """The receiver's health row (None: it has never failed)."""
    return session.get(ReceiverHealth, receiver)
