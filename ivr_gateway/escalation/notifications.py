"""Notifications: one row per text or call, and its outbox message, written in one transaction.

The notification's identity (alert, purpose, level, number, channel) is unique and is also the
outbox idempotency key, so a tick repeated after a crash finds both and sends nothing twice.

Not every notification is sent on its own: a text to a phone that texted STOP is marked
`unreachable` and not sent at all (Twilio would refuse it, error 21610, and the ladder would wait
on a text that never comes); in a storm a phone gets one summary text, then an update at most
every half hour, rather than hundreds (StormGuard): its notifications are `summarised` (told in
that text) or `held` (waiting for the next update).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.escalation.models import (
    Alert,
    AlertNotification,
    AlertState,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.escalation.wording import KIND_WORDS, SEGMENT, fit, hhmm
from ivr_gateway.models import SmsOptOut
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.outbox.service import enqueue

SMS_KIND = "sms"
VOICE_KIND = "voice"
FAILED_STATUSES = {"failed", "undelivered", "busy", "no-answer", "canceled", "refused",
                   "unreachable"}
UNREACHABLE = "unreachable"  # never sent: the phone texted STOP
SUMMARISED = "summarised"  # not sent on its own: told in a storm's summary or update text
HELD = "held"  # in a storm: waits for the phone's next storm update (the board shows it now)
# Not sent as a message of their own, so nothing of theirs waits in the outbox.
NOT_SENT_ALONE = {UNREACHABLE, SUMMARISED, HELD}
STORM_WINDOW = timedelta(minutes=1)
# How far back a tick looks for held notifications and storm texts: a day, the life of today's
# alerts (rules.ALERT_DAY); older ones are history.
STORM_HORIZON = timedelta(days=1)


def opted_out(session: Session, number: str) -> bool:
    """True when the phone texted STOP (and not START since): Twilio refuses texts to it."""
    return bool(session.scalar(select(SmsOptOut.id).where(SmsOptOut.number == number,
                                                          SmsOptOut.opted_out.is_(True))))


def storm_ordering_key(number: str) -> str:
    """The outbox ordering key of a phone's storm texts (indexed: the last one is one lookup)."""
    return f"storm:{number}"


def last_storm_text(session: Session, number: str, now: datetime) -> datetime | None:
    """When the phone's last storm text (summary or update) was queued, within a day."""
    return session.scalar(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.ordering_key == storm_ordering_key(number),
               OutboxMessage.created_at > now - STORM_HORIZON)
        .order_by(OutboxMessage.id.desc()).limit(1))


def in_storm(session: Session, number: str, now: datetime, update_every: timedelta) -> bool:
    """A storm text went to this phone less than `update_every` ago, or something held waits
    for its next one: a message for it now would be held for that update."""
    last = last_storm_text(session, number, now)
    if last is None:
        return False
    return last > now - update_every or session.scalar(
        select(AlertNotification.id).where(
            AlertNotification.to_number == number,
            AlertNotification.created_at > now - STORM_HORIZON,
            AlertNotification.status == HELD).limit(1)) is not None


@dataclass
class _Taken:
    notification: AlertNotification
    alert: Alert
    word: str  # what it is about: "late start", ..., or "resolved"


class StormGuard:
    """One tick's texts and calls to office phones, and the storms they make.

    A morning when nobody logged in raises hundreds of alerts; texting (and at night ringing)
    each to one person buries the phone. So a tick's messages to each office phone are kept
    back until the end of the tick (`take`), then (`flush`):
    * a phone in no storm that stays within `per_minute` texts and calls in the last minute
      gets them one by one, as on a quiet day;
    * a phone that would pass it enters a storm: every one of them goes into ONE summary text
      ("EHM: 40 alerts (32 late start, 8 missed visit): 1004 J.S., ... See the board"), with one
      call out of hours; their notifications are `summarised`, pointing at that text;
    * a phone in a storm gets nothing at once: each new notification is `held` (it is on the
      board the phone was sent to), and one update text names what was held, at most every
      `update_every` ("EHM: 12 more alerts since 07:40 ..., 49 waiting"), with one call out of
      hours;
    * the storm passes once a whole `update_every` goes by with nothing held: texts resume.
    The ladder waits for a held notification's update (tick.rung_still_going_out), so the next
    rung never hears of an alert before this one has been texted about it.
    """

    def __init__(self, session: Session, now: datetime, per_minute: int,
                 update_every: timedelta = timedelta(minutes=30), *,
                 tz: ZoneInfo | None = None, secret_key: str = "",
                 phones: list[str] | None = None) -> None:
        self.session = session
        self.now = now
        self.per_minute = per_minute
        self.update_every = update_every
        self.tz = tz or ZoneInfo("Europe/London")
        self.secret_key = secret_key
        self.phones = phones or []  # the office phones that may have a storm running
        self.taken: dict[str, list[_Taken]] = defaultdict(list)

    def take(self, notification: AlertNotification, alert: Alert, word: str) -> None:
        """Keep one notification back until the end of the tick (`flush` decides its fate)."""
        self.taken[notification.to_number].append(_Taken(notification, alert, word))

    def flush(self) -> int:
        """Send, summarise or hold what the tick took; send the updates due; return messages."""
        queued = 0
        opened: set[str] = set()
        for number, taken in self.taken.items():
            if self._in_storm(number):
                for item in taken:
                    _set_status(item.notification, HELD, self.now)
            elif self.per_minute > 0 and self._recent(number) + len(taken) > self.per_minute:
                for item in taken:
                    _set_status(item.notification, HELD, self.now)
                queued += self._storm_text(number, opening=True)
                opened.add(number)
            else:
                for item in taken:
                    queue_message(self.session, item.notification, item.alert, self.secret_key)
                queued += len(taken)
        for number in dict.fromkeys([*self.phones, *self.taken]):
            if number in opened:
                continue
            last = self._last_storm_text(number)
            if (last is not None and last <= self.now - self.update_every
                    and self._held(number, any_one=True)):
                queued += self._storm_text(number, opening=False, since=last)
        return queued

    def _last_storm_text(self, number: str) -> datetime | None:
        return last_storm_text(self.session, number, self.now)

    def _held(self, number: str, *, any_one: bool = False) -> list[AlertNotification]:
        query = (select(AlertNotification).where(
            AlertNotification.to_number == number,
            AlertNotification.created_at > self.now - STORM_HORIZON,
            AlertNotification.status == HELD).order_by(AlertNotification.id))
        if any_one:
            return list(self.session.scalars(query.limit(1)))
        return list(self.session.scalars(query.options(selectinload(AlertNotification.alert))))

    def _in_storm(self, number: str) -> bool:
        return in_storm(self.session, number, self.now, self.update_every)

    def _recent(self, number: str) -> int:
        """Texts and calls sent to the phone on their own in the last minute."""
        return self.session.scalar(
            select(func.count()).select_from(AlertNotification).where(
                AlertNotification.to_number == number,
                AlertNotification.created_at > self.now - STORM_WINDOW,
                AlertNotification.outbox_message_id.is_not(None))) or 0

    def _storm_text(self, number: str, *, opening: bool, since: datetime | None = None) -> int:
        """Queue the summary (opening) or an update for everything held for this phone, with
        one call if any of it was a call; the held notifications become summarised."""
        held = self._held(number)
        if not held:
            return 0
        alerts = {n.alert_id: n.alert for n in held}
        told = [alerts[i] for i in dict.fromkeys(
            n.alert_id for n in held if n.purpose is NotificationPurpose.ALERT)]
        resolved = len({n.alert_id for n in held if n.purpose is NotificationPurpose.RESOLVED})
        acknowledged = len({n.alert_id for n in held
                            if n.purpose is NotificationPurpose.ACKNOWLEDGED})
        waiting = None if opening else self._waiting(number)
        body = storm_text(told, resolved, acknowledged=acknowledged, waiting=waiting,
                          since=None if since is None else hhmm(since, self.tz))
        key = f"storm:{number}:{self.now.isoformat()}"
        enqueue(self.session, kind=SMS_KIND, idempotency_key=key, now=self.now,
                payload={"to": number, "body": body, "status_path": "/twilio/status",
                         "storm": "summary" if opening else "update",
                         "alerts": len(told)},
                ordering_key=storm_ordering_key(number))
        text_id = self.session.scalar(select(OutboxMessage.id)
                                      .where(OutboxMessage.idempotency_key == key))
        messages = 1
        voice = [n for n in held if n.channel is NotificationChannel.VOICE]
        call_id = self._storm_call(number, voice, spoken_storm(told)) if voice else None
        messages += call_id is not None
        for n in held:
            if n.channel is NotificationChannel.VOICE:
                n.outbox_message_id = call_id
                if n is not voice[0]:
                    _set_status(n, SUMMARISED, self.now)
            else:
                n.outbox_message_id = text_id
                _set_status(n, SUMMARISED, self.now)
        return messages

    def _storm_call(self, number: str, voice: list[AlertNotification], spoken: str
                    ) -> int | None:
        """One call for the storm text, placed as the first held call's (its status is the
        call's); it says the storm and the board, not one alert."""
        lead = voice[0]
        lead.body = spoken
        lead.status = "queued"
        token = call_token(self.secret_key, lead.id)
        key = f"storm-call:{number}:{self.now.isoformat()}"
        enqueue(self.session, kind=VOICE_KIND, idempotency_key=key, now=self.now,
                payload={"to": number, "notification_id": lead.id, "say": spoken,
                         "status_path": f"/twilio/status?notification={lead.id}",
                         "twiml_path": f"/twilio/alert-call/{lead.id}?token={token}&storm=1",
                         "storm": "call"},
                ordering_key=f"storm-call:{number}")
        return self.session.scalar(select(OutboxMessage.id)
                                   .where(OutboxMessage.idempotency_key == key))

    def _waiting(self, number: str) -> int:
        """Alerts this phone was told of that nobody has taken yet."""
        return self.session.scalar(
            select(func.count(func.distinct(AlertNotification.alert_id)))
            .join(Alert, Alert.id == AlertNotification.alert_id)
            .where(AlertNotification.to_number == number,
                   AlertNotification.created_at > self.now - STORM_HORIZON,
                   AlertNotification.purpose == NotificationPurpose.ALERT,
                   Alert.state == AlertState.OPEN)) or 0


def _set_status(notification: AlertNotification, status: str, now: datetime) -> None:
    notification.status, notification.status_at = status, now


_INITIALS = re.compile(r"\b(?:[A-Z]\.){2,3}")


def storm_text(alerts: list[Alert], resolved: int = 0, *, acknowledged: int = 0,
               waiting: int | None = None, since: str | None = None) -> str:
    """A storm's one text: how many alerts of which kinds, as many of their numbers and
    initials as fit, and the board. `since` and `waiting` make it an update.

    'EHM: 40 alerts (32 late start, 8 missed visit): 1004 J.S., 1005 A.B. ... See the board;
    reply ACK and a number.' - one GSM-7 segment; initials only, never names.
    """
    kinds = Counter(KIND_WORDS[a.kind] for a in alerts)
    total = len(alerts)
    head = (f"{total}{' more' if since else ''} alert{'s' if total != 1 else ''}" if total
            else "no new alerts")
    if since:
        head += f" since {since}"
    if kinds:
        head += " (" + ", ".join(f"{n} {what}" for what, n in kinds.most_common()) + ")"
    extras = []
    if resolved:
        extras.append(f"{resolved} resolved")
    if acknowledged:
        extras.append(f"{acknowledged} acknowledged")
    if waiting is not None:
        extras.append(f"{waiting} waiting")
    if extras:
        head += ", " + ", ".join(extras)
    tail = "See the board; reply ACK and a number."

    def whole(listed: str) -> str:
        return f"EHM: {head}{listed}{' ' if listed.endswith('.') else '. '}{tail}"

    listed = ""
    for alert in alerts:
        initials = _INITIALS.search(alert.summary)
        item = f"{alert.number} {initials.group(0) if initials else ''}".strip()
        more = f"{listed}, {item}" if listed else f": {item}"
        if len(whole(more + ", ...")) > SEGMENT:
            listed += ", ..." if listed else ""
            break
        listed = more
    return fit(whole(listed))


def spoken_storm(alerts: list[Alert]) -> str:
    """What a storm call says: how many, of which kinds, and the board."""
    kinds = Counter(KIND_WORDS[a.kind] for a in alerts)
    what = ", ".join(f"{n} {word}" for word, n in kinds.most_common())
    return (f"Care alerts. {len(alerts)} alerts need the office: {what}. They are on the board, "
            "with a text to this phone.")


def call_token(secret_key: str, notification_id: int) -> str:
    """The token in an alert call's URL: binds the key press to the notification it rang for."""
    digest = hmac.new(secret_key.encode(), f"alert-call:{notification_id}".encode(),
                      hashlib.sha256).hexdigest()
    return digest[:32]


def check_call_token(secret_key: str, notification_id: int, token: str) -> bool:
    """True when the token is the one handed out for this notification."""
    return hmac.compare_digest(call_token(secret_key, notification_id), token or "")


def outbox_key(alert_id: int, purpose: NotificationPurpose, level: int,
               channel: NotificationChannel, to_number: str) -> str:
    """The idempotency key shared by the notification and its outbox message."""
    return f"alert:{alert_id}:{purpose.value}:{level}:{channel.value}:{to_number}"


def notify(session: Session, alert: Alert, *, purpose: NotificationPurpose, level: int,
           step: str, to_number: str, recipient: str, channel: NotificationChannel, body: str,
           now: datetime, secret_key: str, contact_id: int | None = None,
           storm: StormGuard | None = None, storm_word: str = "alert", held: bool = False
           ) -> AlertNotification | None:
    """Record a notification and queue its message; None if this one was already made.

    A text to an opted-out phone is recorded as unreachable and not queued; with a StormGuard,
    the message is kept back for the end of the tick, when the guard sends it, or puts it in a
    storm's summary (summarised) or holds it for the storm's next update (held). `held` holds
    it at once for the phone's running storm (made outside a tick: an acknowledgement).
    """
    key = outbox_key(alert.id, purpose, level, channel, to_number)
    if session.scalar(select(AlertNotification.id).where(AlertNotification.outbox_key == key)):
        return None
    notification = AlertNotification(
        alert_id=alert.id, purpose=purpose, level=level, step=step, contact_id=contact_id,
        recipient=recipient, to_number=to_number, channel=channel, body=body, outbox_key=key,
        status="queued", created_at=now)
    session.add(notification)
    session.flush()
    if channel is NotificationChannel.SMS and opted_out(session, to_number):
        notification.status, notification.status_at = UNREACHABLE, now
        notification.error = "not sent: this phone texted STOP (it can text START to undo it)"
        return notification
    if storm is not None:
        storm.take(notification, alert, storm_word)  # sent, summarised or held at the tick's end
        return notification
    if held:
        _set_status(notification, HELD, now)  # told in the storm's next update
        return notification
    queue_message(session, notification, alert, secret_key)
    return notification


def queue_message(session: Session, notification: AlertNotification, alert: Alert,
                  secret_key: str) -> None:
    """Queue a notification's own text or call in the outbox."""
    to_number, key, now = notification.to_number, notification.outbox_key, notification.created_at
    status_path = f"/twilio/status?notification={notification.id}"
    if notification.channel is NotificationChannel.SMS:
        payload = {"to": to_number, "body": notification.body, "notification_id": notification.id,
                   "alert_number": alert.number, "status_path": status_path}
        kind = SMS_KIND
    else:
        token = call_token(secret_key, notification.id)
        payload = {"to": to_number, "notification_id": notification.id,
                   "say": notification.body,
                   "alert_number": alert.number, "status_path": status_path,
                   "twiml_path": f"/twilio/alert-call/{notification.id}?token={token}"}
        kind = VOICE_KIND
    enqueue(session, kind=kind, idempotency_key=key, payload=payload, now=now,
            ordering_key=f"alert:{alert.id}:{to_number}")
    notification.outbox_message_id = session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
