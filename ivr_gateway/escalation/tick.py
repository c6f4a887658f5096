"""The escalation tick: raise what fell due, resolve what settled, climb what nobody took.

Exactly once, by three layers:
1. One transaction per tick. Alerts, notifications, outbox messages and the rules' cursors commit
   together or not at all, so a scheduler killed mid-tick (SIGKILL included) leaves nothing half
   done, and the next tick does the whole of it again.
2. On PostgreSQL the tick first takes pg_try_advisory_xact_lock(ESCALATION_LOCK): a second
   scheduler (a mistaken double deploy) finds it taken and skips that tick instead of waiting.
   The lock is released with the transaction, also when the process dies. On SQLite the
   transaction starts with BEGIN IMMEDIATE, which serialises writers (one process is supported).
3. Unique keys as the backstop: an alert is unique per (kind, subject), a notification per
   (alert, purpose, level, number, channel), and the outbox message by that same key.
The messages leave through the outbox relay after commit (at-least-once, keyed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation import ladder, wording
from ivr_gateway.escalation.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertState,
    NotificationChannel,
    NotificationPurpose,
    OfficeContact,
)
from ivr_gateway.escalation.notifications import (
    FAILED_STATUSES,
    HELD,
    STORM_HORIZON,
    UNREACHABLE,
    StormGuard,
    last_storm_text,
    notify,
)
from ivr_gateway.escalation.rules import (
    DEADLINE_RULES,
    Raise,
    advance_cursor,
    forwarding_failures,
    may_have_settled,
    settle_past_their_day,
    settled,
    short_of_carer_handovers,
)
from ivr_gateway.models import CareWorker, CareWorkerMobile
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

ESCALATION_LOCK = 0x45534331  # "ESC1": the advisory lock key of the escalation tick


@dataclass
class TickResult:
    """What one tick did."""

    skipped: bool = False
    raised: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    notified: int = 0
    # Seconds spent in each phase (raise, settle, climb, flush): bench/escalation_tick.py
    # reports them, and the log names the slow phase of a slow tick.
    phases: dict[str, float] = field(default_factory=dict)


def take_tick_lock(session: Session) -> bool:
    """Take the tick's lock for this transaction; False if another scheduler holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                               {"key": ESCALATION_LOCK}))


FIRST_NUMBER, LAST_NUMBER = 1000, 9999  # four digits: quick to key in a reply


class AlertNumbers:
    """Hands out the numbers new alerts are texted under, for one tick.

    Each is the one after the newest alert's, cycling through 1000-9999 and skipping any number
    an unresolved alert still holds. Cycling alone (the number from the id) gave two alerts
    waiting at once the same number when one stayed unresolved while 9000 others were raised,
    and `ACK 4821` then reached whichever was newer. Used under the tick's lock, so two ticks
    never hand out at once; the partial unique index on unresolved alerts' numbers is the
    backstop. Reads the held numbers once per tick, not once per alert.
    """

    def __init__(self, session: Session) -> None:
        newest = session.scalar(select(Alert.number).order_by(Alert.id.desc()).limit(1))
        self.last = newest if newest is not None else LAST_NUMBER
        self.held = set(session.scalars(select(Alert.number)
                                        .where(Alert.state != AlertState.RESOLVED)))

    def take(self) -> int:
        """The next free number, now held."""
        span = LAST_NUMBER - FIRST_NUMBER + 1
        start = self.last + 1 if FIRST_NUMBER <= self.last < LAST_NUMBER else FIRST_NUMBER
        candidates = (FIRST_NUMBER + (start - FIRST_NUMBER + step) % span for step in range(span))
        # With 9000 alerts waiting at once, five digits rather than a shared number.
        number = next((n for n in candidates if n not in self.held),
                      max(self.held, default=LAST_NUMBER) + 1)
        self.held.add(number)
        self.last = number
        return number


def raise_alert(session: Session, found: Raise, now: datetime,
                numbers: AlertNumbers | None = None) -> Alert | None:
    """Store the alert unless it exists; None when it was raised before."""
    if session.scalar(select(Alert.id).where(Alert.kind == found.kind,
                                             Alert.subject_key == found.subject_key)):
        return None
    number = (numbers or AlertNumbers(session)).take()
    alert = Alert(kind=found.kind, subject_key=found.subject_key, summary=found.summary[:120],
                  number=number, red=found.red, planned_visit_id=found.planned_visit_id,
                  actual_visit_id=found.actual_visit_id, care_worker_id=found.care_worker_id,
                  concern_recording_id=found.concern_recording_id,
                  outbox_message_id=found.outbox_message_id, state=AlertState.OPEN, level=0,
                  deadline_at=found.deadline_at, raised_at=now, next_escalation_at=now)
    session.add(alert)
    session.flush()
    if found.kind in _TAKES_OVER_FROM:
        _continue_from(session, alert, _TAKES_OVER_FROM[found.kind])
    return alert


# A not-started alert nobody took that turns into another keeps its place on the ladder: late
# becomes missed when the missed window passes; either becomes short of a carer when one carer
# of a double-up comes alone.
_TAKES_OVER_FROM = {
    AlertKind.MISSED_VISIT: (AlertKind.LATE_START,),
    AlertKind.SHORT_OF_CARER: (AlertKind.LATE_START, AlertKind.MISSED_VISIT),
}


def _continue_from(session: Session, alert: Alert, kinds: tuple[AlertKind, ...]) -> None:
    # The rung already told hears the news, and the climb goes on from there rather than
    # starting again at the coordinator.
    levels = session.scalars(select(Alert.level).where(Alert.kind.in_(kinds),
                                                       Alert.subject_key == alert.subject_key,
                                                       Alert.state == AlertState.OPEN))
    level = max(levels, default=0)
    if level > 0:
        alert.level = level - 1


def resolve_alert(session: Session, alert: Alert, reason: str, now: datetime, settings: Settings,
                  tell: bool = True, storm: StormGuard | None = None) -> int:
    """Mark an alert resolved and tell each office number that was told of it; return the
    texts queued now (with a storm guard, it queues them at the tick's end)."""
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolved_reason = reason
    alert.next_escalation_at = None
    if not tell:
        return 0
    sent = 0
    for number, name, contact_id in _told(session, alert):
        if notify(session, alert, purpose=NotificationPurpose.RESOLVED, level=alert.level,
                  step="resolved", to_number=number, recipient=name, contact_id=contact_id,
                  channel=NotificationChannel.SMS, body=wording.resolved_text(alert, reason),
                  now=now, secret_key=settings.secret_key, storm=storm,
                  storm_word="resolved") is not None and storm is None:
            sent += 1
    return sent


def _told(session: Session, alert: Alert, exclude: str | None = None
          ) -> list[tuple[str, str, int | None]]:
    """Office numbers an alert reached (not failed), once each, earliest first."""
    seen: dict[str, tuple[str, str, int | None]] = {}
    for n in session.scalars(select(AlertNotification).where(
            AlertNotification.alert_id == alert.id,
            AlertNotification.purpose == NotificationPurpose.ALERT)
            .order_by(AlertNotification.id)):
        if n.to_number == exclude or n.to_number in seen:
            continue
        if n.status in FAILED_STATUSES and not any(
                m.to_number == n.to_number and m.status not in FAILED_STATUSES
                for m in alert.notifications):
            continue
        seen[n.to_number] = (n.to_number, n.recipient, n.contact_id)
    return list(seen.values())


def _carer_mobile(session: Session, care_worker_id: int | None) -> str | None:
    if care_worker_id is None:
        return None
    return session.scalar(select(CareWorkerMobile.number)
                          .where(CareWorkerMobile.care_worker_id == care_worker_id)
                          .order_by(CareWorkerMobile.id).limit(1))


def rung_still_going_out(session: Session, alert: Alert, now: datetime) -> bool:
    """True while a text or call of the alert's current rung waits in the outbox untried or is
    being sent: the next rung must not be told before it (a slow or killed sender once let the
    on-call person hear of an alert before the coordinator). In a storm, a notification held
    for the phone's next storm update holds the ladder the same way, until that update is
    queued (and then until it has left). A send that failed does not hold the ladder: the rung
    was not reached, and the next one should hear."""
    if alert.level == 0:
        return False
    if held_for_storm_update(session, alert, now) is not None:
        return True
    return session.scalar(
        select(OutboxMessage.id)
        .join(AlertNotification, AlertNotification.outbox_message_id == OutboxMessage.id)
        .where(AlertNotification.alert_id == alert.id, AlertNotification.level == alert.level,
               AlertNotification.purpose.in_([NotificationPurpose.ALERT,
                                              NotificationPurpose.CARER_REMINDER]),
               OutboxMessage.status == OutboxStatus.PENDING,
               OutboxMessage.last_error.is_(None)).limit(1)) is not None


def held_for_storm_update(session: Session, alert: Alert, now: datetime) -> str | None:
    """The phone whose next storm update this alert's current rung waits for, if any."""
    return session.scalar(select(AlertNotification.to_number).where(
        AlertNotification.alert_id == alert.id, AlertNotification.level == alert.level,
        AlertNotification.purpose == NotificationPurpose.ALERT,
        AlertNotification.status == HELD,
        AlertNotification.created_at > now - STORM_HORIZON).limit(1))


def climb(session: Session, alert: Alert, now: datetime, settings: Settings,
          storm: StormGuard | None = None) -> int:
    """Tell the next rung with anyone on it; return how many messages were queued now (with a
    storm guard, the office's are queued, summarised or held at the end of the tick)."""
    policy = settings.escalation
    tz = settings.tz
    if alert.kind not in ladder.URGENT and not policy.office_hours.is_open(now, tz):
        alert.next_escalation_at = policy.office_hours.next_opening(now, tz)
        return 0
    if alert.level > 0 and (phone := held_for_storm_update(session, alert, now)) is not None:
        # Held for that phone's next storm update: looked at again when it is due, not every
        # tick (a storm holds hundreds; re-reading each every tick cost seconds a tick).
        last = last_storm_text(session, phone, now)
        alert.next_escalation_at = max(now, (last or now) + policy.storm_update_time())
        return 0
    if rung_still_going_out(session, alert, now):
        return 0  # still due: looked at again next tick, once this rung's messages have left
    carer_mobile = (_carer_mobile(session, alert.care_worker_id)
                    if alert.kind is AlertKind.MISSING_LOG_OUT else None)
    steps = ladder.steps_for(alert.kind, carer_mobile is not None)
    for index in range(alert.level, len(steps)):
        step = steps[index]
        queued = 0
        if step == ladder.CARER:
            assert carer_mobile is not None
            carer = session.get_one(CareWorker, alert.care_worker_id)
            # The carer's text names the visit without the alert number: it is not theirs to ACK.
            summary = alert.summary.split(" not logged out of ", 1)[-1]
            reminder = notify(session, alert, purpose=NotificationPurpose.CARER_REMINDER,
                              level=index + 1, step=step, to_number=carer_mobile,
                              recipient=f"carer {carer.initials}",
                              channel=NotificationChannel.SMS,
                              body=wording.carer_reminder_text(summary, carer.language),
                              now=now, secret_key=settings.secret_key)
            alert.level = index + 1
            if reminder is not None and reminder.status == UNREACHABLE:
                continue  # the carer's phone texted STOP: the office hears at once
            alert.next_escalation_at = now + policy.carer_reminder_time(alert.red)
            return 1 if reminder is not None else 0
        recipients = ladder.recipients_on_step(session, step, alert.kind, now, policy, tz)
        if not recipients:
            continue  # nobody on this rung now: on to the next
        reachable = False
        own = 0  # messages queued now; the storm guard queues the rest at the tick's end
        for person in recipients:
            for channel in person.channels:
                body = (wording.alert_text(alert) if channel is NotificationChannel.SMS
                        else wording.spoken_alert(alert))
                made = notify(session, alert, purpose=NotificationPurpose.ALERT, level=index + 1,
                              step=step, to_number=person.mobile, recipient=person.name,
                              contact_id=person.contact_id, channel=channel, body=body, now=now,
                              secret_key=settings.secret_key, storm=storm,
                              storm_word=wording.KIND_WORDS[alert.kind])
                if made is not None:
                    queued += 1
                    own += made.outbox_message_id is not None
                    reachable = reachable or made.status != UNREACHABLE
        alert.level = index + 1
        if queued and not reachable:
            continue  # everyone on this rung texted STOP (and no call goes in hours): next rung
        alert.next_escalation_at = (now + policy.level_time(alert.red)
                                    if index + 1 < len(steps) else None)
        return own
    if alert.level == 0:
        # Nobody on any rung (no contacts yet): keep the alert and look again later.
        log.warning("alert %s (%s): no office contact to tell", alert.number, alert.kind.value)
        alert.next_escalation_at = now + policy.level_time(alert.red)
    else:
        alert.next_escalation_at = None  # the top of the ladder has been told
    return 0


def escalate(session: Session, now: datetime, settings: Settings) -> TickResult:
    """One tick's work inside the caller's transaction."""
    result = TickResult()
    began = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal began
        ended = time.perf_counter()
        result.phases[name] = ended - began
        began = ended
    lookback = timedelta(hours=settings.escalation.first_tick_lookback_hours)
    numbers: AlertNumbers | None = None
    for name, rule in DEADLINE_RULES:
        span = advance_cursor(session, name, now, lookback)
        if span is None:
            continue
        for found in rule(session, span[0], span[1], now, settings):
            numbers = numbers or AlertNumbers(session)
            alert = raise_alert(session, found, now, numbers)
            if alert is not None:
                result.raised.append(alert.id)
    for found in [*short_of_carer_handovers(session, now, settings),
                  *forwarding_failures(session, now, settings)]:
        numbers = numbers or AlertNumbers(session)
        alert = raise_alert(session, found, now, numbers)
        if alert is not None:
            result.raised.append(alert.id)
    phase("raise")
    policy = settings.escalation
    storm = StormGuard(session, now, policy.texts_per_minute, policy.storm_update_time(),
                       tz=settings.tz, secret_key=settings.secret_key,
                       phones=list(session.scalars(select(OfficeContact.mobile)
                                                   .where(OfficeContact.active.is_(True)))))
    result.resolved.extend(settle_past_their_day(session, now))
    for alert in may_have_settled(session):
        outcome = settled(session, alert, settings, now)
        if outcome is not None:
            result.notified += resolve_alert(session, alert, outcome.reason, now, settings,
                                             tell=outcome.tell, storm=storm)
            result.resolved.append(alert.id)
    phase("settle")
    due = session.scalars(select(Alert).where(Alert.state == AlertState.OPEN,
                                              Alert.next_escalation_at <= now)
                          .order_by(Alert.next_escalation_at, Alert.id))
    for alert in list(due):
        result.notified += climb(session, alert, now, settings, storm)
    phase("climb")
    result.notified += storm.flush()
    phase("flush")
    return result


def run_escalation_tick(database: Database, settings: Settings, clock: Clock, *,
                        before_commit: Callable[[], None] | None = None) -> TickResult:
    """One tick in one transaction, skipped if another scheduler is ticking (PostgreSQL)."""
    with database.unit_of_work() as session:
        if not take_tick_lock(session):
            return TickResult(skipped=True)
        result = escalate(session, clock.now(), settings)
        if before_commit is not None:
            before_commit()  # tests: a chance to kill the process before the commit
    if result.raised or result.resolved or result.notified:
        log.info("escalation tick: %d raised, %d resolved, %d messages queued (%s)",
                 len(result.raised), len(result.resolved), result.notified,
                 ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.phases.items()))
    return result
