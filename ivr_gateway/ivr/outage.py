"""The carer's call while the database is down: take the input, keep it on disk, replay it later.

What can be collected without the database: the caller ID, CallSid and the call's time come with
every webhook; the carer number and PIN are asked with <Gather> as usual, but nothing is checked
(a client's landline, a carer number and its PIN all live in the database). A caller ID that is
withheld, not a number or a mobile cannot be a client's landline, so the client number is asked
first, as the normal flow would. Then the carer hears "Noted at 7:02. The office will confirm."
and the call ends: the truth, with no name (nothing is known of who it is).

State between steps travels in the step URLs Twilio is handed (the call's start, the numbers
keyed): Twilio signs the whole URL, so they cannot be forged, and any web process can take the
next step. The PIN never goes in a URL: it is written to the spool, keyed with PIN_PEPPER (the
HMAC the stored argon2id hash is a hash of; hashing.verify_peppered_pin), so the replay checks it
against the carer's stored hash without it ever being kept in clear. Each step rewrites the
call's spool item with what was keyed so far, so a call that ends early is still evidence.

The replay (`replay_call`) runs the normal flow's actions on the item at its original time:
caller ID to a client, the client number, the carer number and PIN (wrong-PIN counts and the
lockout), and the log-in or log-out worked out as for any call, with a "recorded during an
outage" note on the log event. A call stored as evidence (calls, call_steps) either way; an item
that fails a check logs nothing and is left for the office with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway import phones
from ivr_gateway.config import Settings
from ivr_gateway.hashing import peppered
from ivr_gateway.ivr.actions import (
    StepContext,
    check_client_number,
    check_pin,
    locate_by_caller_id,
    record_log,
    spoken_time,
)
from ivr_gateway.ivr.engine import StepRequest, carer_flow
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.models import LogEvent, PlannedVisit, PlannedVisitCareWorker
from ivr_gateway.telephony import twiml
from ivr_gateway.telephony.spool import OUTAGE_NOTE, Replayed, Spool, SpoolError, SpoolItem

STEPS = ("client", "staff", "pin")
# The evidence's step states: read as they are where the dashboard has no sentence for them
# ("Call step 1: outage keyed carer number").
STEP_STATES = {"start": "outage_call_answered", "client": "outage_keyed_client_number",
               "staff": "outage_keyed_carer_number", "pin": "outage_keyed_pin"}
MAX_DIGITS = 32

# (step name, params, silence) -> the absolute URL of that step
StepUrl = Callable[[str, Mapping[str, str], bool], str]


def _digits(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isdigit())[:MAX_DIGITS]


def needs_client_number(raw_from: str) -> bool:
    """True when the caller ID cannot be a client's landline (withheld, not a number, a
    mobile): without the database, the client number is asked instead."""
    if phones.is_withheld(raw_from):
        return True
    number = phones.try_normalise(raw_from)
    return number is None or phones.is_mobile(number)


def _started(params: Mapping[str, str], now: datetime) -> datetime:
    raw = params.get("t", "")
    if raw.isdigit() and len(raw) <= 15:
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    return now


class OutageCall:
    """Runs the outage call flow: gather, spool every step, and say "Noted"."""

    def __init__(self, settings: Settings, spool: Spool, step_url: StepUrl) -> None:
        self.settings = settings
        self.spool = spool
        self.step_url = step_url
        self.flow = carer_flow(settings)
        self.prompts = self.flow.prompts_for(self.flow.default_language)

    def take_over(self, request: StepRequest, now: datetime) -> str | None:
        """The primary webhook found the database unreachable: go on without it (from the
        start; a call that was under way keys its numbers again). None if the disk failed."""
        return self.start(request.form, now, again=request.seq > 0)

    def start(self, form: Mapping[str, str], now: datetime, *, again: bool = False
              ) -> str | None:
        """The first step: keep the call's time and caller ID, ask for the first number."""
        params = {"t": str(int(now.timestamp() * 1000))}
        first = "client" if needs_client_number(form.get("From", "")) else "staff"
        if not self._keep(form, now, now, "start", "", params, finished=False):
            return None
        return self._gather(first, params, ["key_again"] if again else [])

    def step(self, name: str, form: Mapping[str, str], query: Mapping[str, str],
             silence: bool, now: datetime) -> str | None:
        """A later step: take the digits keyed (or the silence) and ask the next question."""
        if name not in STEPS:
            return None
        params = {k: query[k] for k in ("t", "client", "staff") if k in query}
        started = _started(params, now)
        if silence:
            silences = int(query.get("s", "0")) + 1 if query.get("s", "0").isdigit() else 1
            if silences >= self.flow.max_silences:
                self._keep(form, started, now, name, "", params, finished=False)
                return self._say(["goodbye_silence"], {})
            return self._gather(name, {**params, "s": str(silences)}, ["silence"])
        digits = _digits(form.get("Digits", ""))
        if name == "pin":
            if not self._keep(form, started, now, name, digits, params, finished=True):
                return None
            return self._say(["noted"], {"time": spoken_time(started, self.settings)})
        if not self._keep(form, started, now, name, digits, params, finished=False):
            return None
        params["client" if name == "client" else "staff"] = digits
        return self._gather("staff" if name == "client" else "pin", params, [])

    def _keep(self, form: Mapping[str, str], started: datetime, now: datetime, name: str,
              digits: str, params: Mapping[str, str], *, finished: bool) -> bool:
        """Rewrite the call's spool item with everything keyed so far; False if the disk
        would not take it."""
        call_sid = form.get("CallSid", "")
        earlier = self.spool.get("call", call_sid)
        steps = list(earlier.fields.get("steps", [])) if earlier is not None else []
        steps.append({"step": name, "at": now.astimezone(UTC).isoformat(),
                      "digits": "*" * len(digits) if name == "pin" else digits})
        fields: dict[str, Any] = {
            "from": form.get("From", ""), "to": form.get("To", ""),
            "client_number": params.get("client", ""), "staff_number": params.get("staff", ""),
            "steps": steps, "finished": finished}
        if name == "client":
            fields["client_number"] = digits
        if name == "staff":
            fields["staff_number"] = digits
        if name == "pin":
            fields["pin_key"] = peppered(digits, self.settings.pin_pepper)
        try:
            self.spool.put("call", call_sid, started, fields, now, replace=True)
        except SpoolError:
            return False
        return True

    def _gather(self, name: str, params: Mapping[str, str], notices: list[str]) -> str:
        prompt = {"client": "client_number", "staff": "staff_number", "pin": "pin"}[name]
        digits = {"client": self.settings.client_number_digits,
                  "staff": self.settings.staff_number_digits,
                  "pin": self.settings.pin_digits}[name]
        texts = [self.prompts.render(key, {}) for key in notices]
        texts.append(self.prompts.render(prompt, {}))
        return twiml.gather(texts, language=self.prompts.voice.language,
                            voice=self.prompts.voice.voice, num_digits=digits, timeout=8,
                            action_url=self.step_url(name, params, False),
                            silence_url=self.step_url(name, params, True))

    def _say(self, keys: list[str], values: dict[str, Any]) -> str:
        return twiml.say_and_hang_up([self.prompts.render(key, values) for key in keys],
                                     language=self.prompts.voice.language,
                                     voice=self.prompts.voice.voice)


def step_query(params: Mapping[str, str], silence: bool) -> str:
    """The query string of an outage step URL."""
    return urlencode({**params, **({"silence": "1"} if silence else {})})


def outage_note(item: SpoolItem, replayed_at: datetime) -> str:
    """The note every replayed item carries."""
    return (f"{OUTAGE_NOTE}: kept on the gateway's disk at "
            f"{item.written_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, recorded "
            f"{replayed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")


def _nearest_client(session: Session, adult_ids: list[int], care_worker_id: int,
                    at: datetime, window: timedelta) -> int | None:
    """Of the clients sharing a landline, the one with this carer's planned visit nearest the
    call (within the matching window): the outage call could not ask which."""
    visits = session.execute(
        select(PlannedVisit.adult_id, PlannedVisit.planned_start)
        .join(PlannedVisitCareWorker, PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
        .where(PlannedVisit.adult_id.in_(adult_ids),
               PlannedVisitCareWorker.care_worker_id == care_worker_id,
               PlannedVisit.planned_start >= at - window,
               PlannedVisit.planned_start <= at + window)).all()
    if not visits:
        return None
    return int(min(visits, key=lambda v: abs(v.planned_start - at)).adult_id)


def replay_call(session: Session, item: SpoolItem, settings: Settings, replayed_at: datetime
                ) -> Replayed:
    """Record a spooled call as it would have been recorded at the time, with every check."""
    fields = item.fields
    note = outage_note(item, replayed_at)
    raw_from = str(fields.get("from", ""))
    steps: list[dict[str, Any]] = list(fields.get("steps", []))
    call_sid = item.sid[:64]
    if session.scalar(select(Call.id).where(Call.call_sid == call_sid)) is not None:
        # The call began normally and the database went away during it.
        if session.scalar(select(LogEvent.id).where(LogEvent.source_sid == call_sid)
                          .limit(1)) is not None:
            return Replayed("refused", "this call had logged a visit before the database "
                            "went down; what was keyed again after it was not logged",
                            from_number=raw_from[:32])
        call_sid = (item.sid[:57] + "-outage")
    last_at = datetime.fromisoformat(steps[-1]["at"]) if steps else item.at
    call = Call(call_sid=call_sid, from_number=raw_from[:32],
                to_number=str(fields.get("to", ""))[:32], started_at=item.at, language="en",
                state="outage", next_seq=len(steps), data={"outage": note}, ended_at=last_at)
    session.add(call)
    for seq, step in enumerate(steps):
        session.add(CallStep(call_sid=call_sid, seq=seq,
                             state=STEP_STATES.get(str(step["step"]), "outage_step"),
                             from_number=raw_from[:32], digits=(step.get("digits") or None),
                             received_at=datetime.fromisoformat(step["at"]),
                             raw={"From": raw_from, "outage": note}, outcome="spooled",
                             response=""))
    session.flush()

    def refused(reason: str) -> Replayed:
        call.data = {**call.data, "refused": reason}
        return Replayed("refused", reason, from_number=raw_from[:32])

    if not fields.get("finished"):
        return refused("the call ended before the PIN was keyed: nothing was logged")
    ctx = StepContext(session=session, call=call, settings=settings, now=last_at,
                      seq=len(steps), digits="",
                      form={"From": raw_from, "To": str(fields.get("to", "")),
                            "CallSid": item.sid})
    located = locate_by_caller_id(ctx)
    if located == "unknown_line":
        client_number = str(fields.get("client_number", ""))
        if not client_number:
            call.data = ctx.data
            return refused(f"{ctx.get('unverified_reason', 'caller ID unknown')}, and no client "
                           "number was keyed (the line could not be checked during the outage)")
        ctx.digits = client_number
        if check_client_number(ctx) != "ok":
            call.data = ctx.data
            return refused(f"client number {client_number} was not found")
    ctx.put(staff_number=str(fields.get("staff_number", "")))
    ctx.digits = ""
    ctx.pin_key = str(fields.get("pin_key", ""))
    pin = check_pin(ctx)
    if pin != "ok":
        call.data = ctx.data
        return refused("the carer number was locked after wrong PINs at the time" if
                       pin == "locked" else "carer number or PIN not recognised")
    if located == "several_clients":
        adult_id = _nearest_client(session, [int(c["adult_id"]) for c in ctx.get("choices", [])],
                                   int(ctx.get("care_worker_id")), item.at,
                                   timedelta(minutes=settings.kpi.match_window))
        if adult_id is None:
            call.data = ctx.data
            return refused("the landline is shared by several clients and this carer has no "
                           "visit with any of them near the time; the outage call could not ask "
                           "which")
        ctx.put(adult_id=adult_id)
    ctx.put(outage=note)
    result = record_log(ctx)
    call.data = ctx.data
    call.state = result
    event_id = ctx.get("log_event_id")
    return Replayed("logged", f"{result.replace('_', ' ')} at "
                    f"{spoken_time(item.at, settings)} ({OUTAGE_NOTE})",
                    log_event_id=int(event_id) if event_id is not None else None,
                    from_number=raw_from[:32])
