"""Inbound texts: store the evidence, act on the command, and word the reply (one segment).

Twilio's repeat of a MessageSid finds its row (unique key) and gets the same reply; nothing
changes the second time. A fault of ours still stores the text, so nothing a carer sends is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr_gateway import phones
from ivr_gateway.config import Settings
from ivr_gateway.db import Database, is_unreachable, table_of
from ivr_gateway.escalation.acknowledgement import acknowledge_by_text
from ivr_gateway.models import Adult, CareWorker, CareWorkerMobile, Channel, ExceptionCode, LogKind
from ivr_gateway.sms.codes import FAILURE_WINDOW, SENDER_FAILURE_LIMIT
from ivr_gateway.sms.models import (
    FAILED_CODE_STATUSES,
    OFFICE_STATUSES,
    CodeFailure,
    InboundText,
    SmsOptOut,
    TextStatus,
)
from ivr_gateway.sms.parsing import (
    AckCommand,
    HelpCommand,
    LogCommand,
    MistypedCode,
    NoCode,
    StartCommand,
    StopCommand,
    TextCommand,
    parse_text_command,
)
from ivr_gateway.sms.replies import DEFAULT_LANGUAGE, fits_one_segment, render
from ivr_gateway.sms.unregistered import withhold_code
from ivr_gateway.sms.verification import Accepted, Refused, verify_code
from ivr_gateway.telephony.evidence import SID_LENGTH, storable, storable_form
from ivr_gateway.visits.queries import local_day_bounds
from ivr_gateway.visits.recording import LogRequest, note_care_worker_locked, record_log_event

log = logging.getLogger(__name__)

NUMBER_FIELD_LENGTH = 32  # as for calls: From may be a short code or an alphanumeric sender


@dataclass(frozen=True)
class TextMessage:
    """An inbound text as Twilio posted it, in plain values."""

    message_sid: str
    from_number: str
    to_number: str
    body: str
    form: dict[str, str]
    # Set when the text is replayed from the outage spool (sms/outage.py): kept on its log event.
    outage_note: str = ""


@dataclass(frozen=True)
class Sender:
    """The active carer a text came from (their row locked for the transaction)."""

    id: int
    language: str


@dataclass(frozen=True)
class TextAnswer:
    """What to answer: the reply (empty: no <Message>), and what became of the text."""

    reply: str
    status: TextStatus


def clock_time(at: datetime, settings: Settings) -> str:
    """HH:MM on the carer's clock (Europe/London)."""
    return at.astimezone(settings.tz).strftime("%H:%M")


def command_name(command: TextCommand) -> str:
    """A short name of the command for the evidence row."""
    if isinstance(command, LogCommand | MistypedCode | NoCode):
        return command.kind.value if command.kind else ("code" if not isinstance(
            command, NoCode) else "text")
    return type(command).__name__.removesuffix("Command").lower()


_TEXTS = table_of(InboundText)
_INSERTED_COLUMNS = ("message_sid", "from_number", "to_number", "body", "received_at", "command",
                     "status", "needs_office", "reply", "raw")
_INSERT_TEXT = insert(_TEXTS).returning(_TEXTS.c.id)
_RECORD_OUTCOME = (
    update(_TEXTS).where(_TEXTS.c.id == bindparam("text_id"))
    .values({name: bindparam(f"o_{name}", type_=_TEXTS.c[name].type) for name in (
        "care_worker_id", "adult_id", "log_event_id", "raw", "status", "needs_office", "reply",
        "detail")}))
# The sender's carer, locked, and how many of the number's recent texts had a wrong code.
_SENDER = (
    select(CareWorker.id, CareWorker.language,
           select(func.count(func.distinct(CodeFailure.inbound_text_id)))
           .where(CodeFailure.from_number == bindparam("from_number"),
                  CodeFailure.at > bindparam("since", type_=CodeFailure.at.type))
           .scalar_subquery())
    .join(CareWorkerMobile)
    .where(CareWorkerMobile.number == bindparam("number"), CareWorker.active.is_(True))
    .with_for_update(of=CareWorker))


class TextService:
    """Handles inbound texts exactly once per MessageSid."""

    def __init__(self, database: Database, settings: Settings,
                 on_unreachable: Callable[[TextMessage, datetime], TextAnswer | None] | None
                 = None) -> None:
        self.database = database
        self.settings = settings
        # With the database unreachable the text is kept on disk instead (sms/outage.py).
        self.on_unreachable = on_unreachable
        self._verification_notes: dict[str, object] = {}
        self._outage_note = ""

    def handle(self, message: TextMessage, now: datetime) -> TextAnswer:
        """Store the text, act on it, and return the reply."""
        try:
            with self.database.unit_of_work() as session:
                return self._handle(session, message, now)
        except IntegrityError:
            # A concurrent duplicate of this message won the race: give its answer.
            with self.database.unit_of_work() as session:
                row = self._stored(session, message.message_sid)
                if row is not None:
                    return TextAnswer(row.reply, row.status)
            return self._after_fault(message, now)
        except Exception as error:
            if is_unreachable(error) and self.on_unreachable is not None:
                log.warning("text %s: database unreachable (%s); spooling",
                            message.message_sid, type(error).__name__)
                spooled = self.on_unreachable(message, now)
                if spooled is not None:
                    return spooled
                # Neither the database nor the disk took it: say so, never "kept".
                log.error("text %s: database unreachable and the spool refused it",
                          message.message_sid)
                return TextAnswer(render(DEFAULT_LANGUAGE, "not_kept"), TextStatus.FAULT)
            log.exception("text %s failed", message.message_sid)
            return self._after_fault(message, now)

    def handle_in(self, session: Session, message: TextMessage, now: datetime) -> TextAnswer:
        """Act on a text inside the caller's transaction, as at `now` (the outage replay: its
        original time). A MessageSid already stored raises IntegrityError."""
        return self._handle(session, message, now)

    def _after_fault(self, message: TextMessage, now: datetime) -> TextAnswer:
        reply = render(DEFAULT_LANGUAGE, "fault")
        # Odd input (a NUL, a 10,000-character MessageSid) is what often brought us here: keep
        # it escaped and cut, with a note, rather than lose the text (telephony/evidence.py).
        sid = storable("MessageSid", message.message_sid, SID_LENGTH)
        raw = storable_form(message.form)
        if sid.note:
            raw["_stored_as"] = "; ".join(filter(None, [raw.get("_stored_as"), sid.note]))
        message = TextMessage(message_sid=sid.value,
                              from_number=storable("From", message.from_number, 100).value,
                              to_number=storable("To", message.to_number, 100).value,
                              body=storable("Body", message.body, 10_000).value, form=raw)
        try:
            with self.database.unit_of_work() as session:
                if self._stored(session, message.message_sid) is None:
                    session.add(self._row(message, now, TextStatus.FAULT, reply))
        except Exception:
            log.exception("could not store the faulted text %s", message.message_sid)
        return TextAnswer(reply, TextStatus.FAULT)

    @staticmethod
    def _stored(session: Session, message_sid: str) -> InboundText | None:
        return session.scalar(select(InboundText).where(InboundText.message_sid == message_sid))

    def _row(self, message: TextMessage, now: datetime, status: TextStatus, reply: str
             ) -> InboundText:
        return InboundText(
            message_sid=message.message_sid, from_number=message.from_number[:NUMBER_FIELD_LENGTH],
            to_number=message.to_number[:NUMBER_FIELD_LENGTH], body=message.body,
            received_at=now, status=status, needs_office=status in OFFICE_STATUSES, reply=reply,
            raw=dict(message.form))

    def _handle(self, session: Session, message: TextMessage, now: datetime) -> TextAnswer:
        self._verification_notes = {}
        self._outage_note = message.outage_note
        number = phones.try_normalise(message.from_number) or message.from_number
        command = parse_text_command(message.body)
        # The row is written with Core statements (one INSERT, one UPDATE) on the session's
        # connection: a text is the gateway's busiest request, and the ORM's unit of work and
        # per-statement handling cost more than the SQL here. Nothing here needs a flush first.
        row = self._row(message, now, TextStatus.FAULT, "")
        if message.outage_note:
            row.raw = {**row.raw, "_outage": message.outage_note}
        row.from_number = number[:NUMBER_FIELD_LENGTH]
        row.command = command_name(command)
        # The unique MessageSid is claimed here, before anything else: Twilio's repeat of the
        # message fails this insert (IntegrityError) and gets the stored reply in handle().
        row.id = session.connection().execute(_INSERT_TEXT, {
            column: getattr(row, column) for column in _INSERTED_COLUMNS}).scalar_one()
        # The carer's row is locked for the whole transaction: their texts are handled one at a
        # time across web workers (as their calls are), so a code is never spent twice.
        # With it, how many of this number's recent texts had a wrong code (the sender limit).
        found = session.connection().execute(_SENDER, {
            "number": number, "from_number": row.from_number,
            "since": now - FAILURE_WINDOW}).first()
        care_worker, recent_wrong = ((Sender(found.id, found.language), found[2])
                                     if found is not None else (None, 0))
        if care_worker is not None:
            note_care_worker_locked(session, care_worker.id)
        language = care_worker.language if care_worker else DEFAULT_LANGUAGE
        status, reply, detail = self._act(session, row, command, care_worker, language, now,
                                          recent_wrong)
        session.connection().execute(_RECORD_OUTCOME, {
            "text_id": row.id,
            "o_care_worker_id": care_worker.id if care_worker is not None else None,
            "o_adult_id": row.adult_id, "o_log_event_id": row.log_event_id,
            "o_raw": {**row.raw, **self._verification_notes}, "o_status": status,
            "o_needs_office": status in OFFICE_STATUSES, "o_reply": reply, "o_detail": detail})
        return TextAnswer(reply, status)

    def _act(self, session: Session, row: InboundText, command: TextCommand,
             care_worker: Sender | None, language: str, now: datetime, recent_wrong: int
             ) -> tuple[TextStatus, str, str]:
        if isinstance(command, StopCommand | StartCommand):
            opted_out = isinstance(command, StopCommand)
            self._opt(session, row.from_number, opted_out, care_worker, now)
            # Twilio answers STOP and START itself on long codes; a reply of ours would not be
            # delivered after STOP, so none is given.
            status = TextStatus.OPTED_OUT if opted_out else TextStatus.OPTED_IN
            return status, "", "the number texted STOP: Twilio sends it no more texts" \
                if opted_out else "the number texted START"
        if isinstance(command, AckCommand):
            # Office staff acknowledge alerts by text; the escalation package knows who they are.
            acknowledged = acknowledge_by_text(session, row.from_number, row.body, now,
                                               self.settings)
            if acknowledged is not None:
                return TextStatus.ACK, acknowledged, (
                    f"ACK {command.alert_number}" if command.alert_number else "ACK")
        if care_worker is None:
            withheld = withhold_code(session, row, command, now, self.settings)
            return (TextStatus.UNREGISTERED, render(DEFAULT_LANGUAGE, "unregistered"),
                    "a text from a mobile that is not registered to any active carer" + withheld)
        if isinstance(command, HelpCommand):
            return TextStatus.HELP, render(language, "help"), ""
        if isinstance(command, AckCommand):
            # A carer is not on the alert ladder: there is nothing for them to acknowledge.
            return TextStatus.ACK, render(language, "no_alerts"), (
                f"ACK {command.alert_number}" if command.alert_number else "ACK")
        if isinstance(command, NoCode):
            return TextStatus.NO_CODE, render(language, "no_code"), ""
        locked_until = (self._sender_locked_until(session, row.from_number, now)
                        if recent_wrong >= SENDER_FAILURE_LIMIT else None)
        if locked_until is not None:
            return (TextStatus.LOCKED, render(language, "locked",
                                              until=clock_time(locked_until, self.settings)),
                    f"{SENDER_FAILURE_LIMIT} wrong codes from this number within "
                    f"{int(FAILURE_WINDOW.total_seconds() // 60)} min: not checked")
        if isinstance(command, MistypedCode):
            refused = Refused(TextStatus.CHECK_CODE, "check_code",
                              detail=f"{len(command.digits)} digits: no code of ours is that long")
            return self._refuse(session, row, refused, language, now)
        assert isinstance(command, LogCommand)
        result, attempt = verify_code(session, command.code, care_worker.id, now, self.settings,
                                      row.id)
        self._verification_notes = {"comparisons": attempt.comparisons,
                                    "false_acceptance_spent": attempt.budget.spent}
        if isinstance(result, Refused):
            if attempt.blocked_homes:
                # A home the carer may be at is paused: say so, whatever else we found.
                until = now + FAILURE_WINDOW
                return (TextStatus.LOCKED, render(language, "locked",
                                                  until=clock_time(until, self.settings)),
                        "this client's codes are paused after repeated wrong codes")
            return self._refuse(session, row, result, language, now)
        return self._log(session, row, command, result, care_worker, language, now)

    def _log(self, session: Session, row: InboundText, command: LogCommand, accepted: Accepted,
             care_worker: Sender, language: str, now: datetime
             ) -> tuple[TextStatus, str, str]:
        raw = {**accepted.raw, "body": row.body}
        if self._outage_note:
            raw["outage"] = self._outage_note
        if command.kind is not None:
            raw["kind_typed"] = command.kind.value
        result = record_log_event(session, LogRequest(
            channel=Channel.SMS, care_worker_id=care_worker.id, adult_id=accepted.adult_id,
            event_time=accepted.event_time, received_at=now, verification=accepted.verification,
            source_sid=row.message_sid, seq=1, from_number=row.from_number, raw=raw,
            kind=command.kind, adult_initials=accepted.initials), self.settings.kpi)
        row.adult_id = accepted.adult_id
        row.log_event_id = result.log_event_id
        at = clock_time(result.event_time, self.settings)
        if result.kind == LogKind.IN:
            reply = render(language, "logged_in", time=at, initials=result.adult_initials)
        elif result.duration_minutes == 0:  # "0 min" reads like a fault
            reply = render(language, "logged_out_brief", time=at, initials=result.adult_initials)
        elif result.duration_minutes is not None:
            reply = render(language, "logged_out", time=at, initials=result.adult_initials,
                           minutes=result.duration_minutes)
        else:
            reply = render(language, "logged_out_no_in", time=at, initials=result.adult_initials)
        notes = []
        if accepted.late:
            notes.append(render(language, "late_note", time=at,
                                arrived=clock_time(now, self.settings)))
        if {ExceptionCode.SUBSTITUTION, ExceptionCode.UNPLANNED_VISIT} & set(result.exceptions):
            notes.append(render(language, "flag_note"))
        for note in notes:
            if fits_one_segment(reply + note):
                reply += note
        detail = f"log-{result.kind.value} recorded ({accepted.verification.value})"
        if accepted.late:
            detail += f", code shown {accepted.raw.get('delay_seconds')} s before the text came"
        return TextStatus.LOGGED, reply, detail

    def _refuse(self, session: Session, row: InboundText, refused: Refused, language: str,
                now: datetime) -> tuple[TextStatus, str, str]:
        if refused.status in FAILED_CODE_STATUSES:
            for adult_id in refused.adult_ids or (None,):
                session.add(CodeFailure(at=now, from_number=row.from_number, adult_id=adult_id,
                                        inbound_text_id=row.id))
        if refused.adult_ids:
            row.adult_id = refused.adult_ids[0]
        return refused.status, render(language, refused.reply, **refused.values), refused.detail

    @staticmethod
    def _sender_locked_until(session: Session, number: str, now: datetime) -> datetime | None:
        times = session.scalars(
            select(func.min(CodeFailure.at)).where(CodeFailure.from_number == number,
                                                   CodeFailure.at > now - FAILURE_WINDOW)
            .group_by(CodeFailure.inbound_text_id)).all()
        if len(times) < SENDER_FAILURE_LIMIT:
            return None
        times = sorted(times)
        # Paused until enough of the failures have aged out of the window.
        return times[len(times) - SENDER_FAILURE_LIMIT] + FAILURE_WINDOW

    @staticmethod
    def _opt(session: Session, number: str, opted_out: bool, care_worker: Sender | None,
             now: datetime) -> None:
        row = session.scalar(select(SmsOptOut).where(SmsOptOut.number == number))
        if row is None:
            session.add(SmsOptOut(number=number, opted_out=opted_out, changed_at=now,
                                  care_worker_id=care_worker.id if care_worker else None))
        else:
            row.opted_out = opted_out
            row.changed_at = now


@dataclass(frozen=True)
class TextRecord:
    """An inbound text as the office sees it."""

    message_sid: str
    from_number: str
    received_at: datetime
    body: str
    care_worker_ref: str | None
    adult_ref: str | None
    adult_initials: str | None
    command: str
    status: str
    needs_office: bool
    detail: str
    reply: str
    log_event_id: int | None


def texts_for_day(session: Session, day: date, settings: Settings,
                  needs_office: bool | None = None) -> list[TextRecord]:
    """Every text received on a local day (optionally only those the office should look at)."""
    start, end = local_day_bounds(day, settings)
    query = (select(InboundText, CareWorker.ref, Adult)
             .outerjoin(CareWorker, CareWorker.id == InboundText.care_worker_id)
             .outerjoin(Adult, Adult.id == InboundText.adult_id)
             .where(InboundText.received_at >= start, InboundText.received_at < end)
             .order_by(InboundText.received_at, InboundText.id))
    if needs_office is not None:
        query = query.where(InboundText.needs_office.is_(needs_office))
    return [TextRecord(
        message_sid=t.message_sid, from_number=t.from_number, received_at=t.received_at,
        body=t.body, care_worker_ref=ref, adult_ref=adult.ref if adult else None,
        adult_initials=adult.initials if adult else None, command=t.command,
        status=t.status.value, needs_office=t.needs_office, detail=t.detail, reply=t.reply,
        log_event_id=t.log_event_id) for t, ref, adult in session.execute(query)]


@dataclass(frozen=True)
class OptOutRecord:
    """A number that cannot receive our texts (it texted STOP)."""

    number: str
    care_worker_ref: str | None
    since: datetime


def opted_out_numbers(session: Session) -> list[OptOutRecord]:
    """Numbers that texted STOP and not START since."""
    rows = session.execute(
        select(SmsOptOut, CareWorker.ref)
        .outerjoin(CareWorker, CareWorker.id == SmsOptOut.care_worker_id)
        .where(SmsOptOut.opted_out.is_(True)).order_by(SmsOptOut.changed_at)).all()
    return [OptOutRecord(o.number, ref, o.changed_at) for o, ref in rows]

