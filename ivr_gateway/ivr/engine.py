"""The engine that runs a call flow: one webhook request in, one TwiML answer out.

Each request is a numbered step of the call. The step is stored as evidence, with the answer
given, in the same transaction that changes anything; Twilio's retry of a step (same CallSid,
same number) gets the stored answer and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.db import Database, is_unreachable
from ivr_gateway.ivr.actions import ACTIONS, StepContext
from ivr_gateway.ivr.flow import Flow, State, cached_flow
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.telephony import twiml
from ivr_gateway.telephony.evidence import SID_LENGTH, storable, storable_form

log = logging.getLogger(__name__)

FLOW_NAME = "carer_log"
NOTE_PROMPTS = frozenset({"fault", "late", "unplanned", "substitution", "unverified", "duration",
                          "missing_log_in", "choice", "silence", "corrected_in", "corrected_out",
                          "noted", "key_again", "no_other_client", "other_client",
                          "other_clients"})
# Inputs never kept as evidence in clear: only that something was keyed.
SECRET_STATES = frozenset({"pin"})


# The width of the from_number/to_number columns. Twilio's From is not always a phone number
# (a SIP URI, "client:name"); the whole value stays in the step's raw form.
NUMBER_FIELD_LENGTH = 32


def _number_field(form: dict[str, str], key: str) -> str:
    return form.get(key, "")[:NUMBER_FIELD_LENGTH]


@dataclass(frozen=True)
class StepRequest:
    """One webhook request of a call, as plain values."""

    call_sid: str
    seq: int
    form: dict[str, str]
    silence: bool  # the <Gather> timed out with nothing keyed


def carer_flow(settings: Settings) -> Flow:
    """The carer's log-in/log-out flow, loaded and checked once."""
    return cached_flow(settings.callflow_dir, FLOW_NAME, frozenset(ACTIONS), NOTE_PROMPTS)


class CallEngine:
    """Runs the flow for each step of each call."""

    def __init__(self, database: Database, settings: Settings,
                 step_url: Callable[[int, bool], str],
                 on_unreachable: Callable[[StepRequest, datetime], str | None] | None = None
                 ) -> None:
        self.database = database
        self.settings = settings
        self.flow = carer_flow(settings)
        self.step_url = step_url
        # With the database unreachable the call goes on without it (ivr/outage.py): the
        # carer's input is spooled on disk and replayed later. None: no answer, apologise.
        self.on_unreachable = on_unreachable

    def handle(self, request: StepRequest, now: datetime) -> str:
        """Answer a step with TwiML, exactly once per (CallSid, step)."""
        try:
            with self.database.unit_of_work() as session:
                return self._handle(session, request, now)
        except IntegrityError:
            return self._answer_duplicate(request, now)
        except Exception as error:
            if is_unreachable(error) and self.on_unreachable is not None:
                log.warning("call %s step %s: database unreachable (%s); spooling",
                            request.call_sid, request.seq, type(error).__name__)
                answer = self.on_unreachable(request, now)
                if answer is not None:
                    return answer
            # A fault of ours must not lose what the carer keyed, nor leave them in silence:
            # keep the step as evidence, apologise, and let the office see it in the log.
            log.exception("call %s step %s failed", request.call_sid, request.seq)
            return self._answer_after_fault(request, now)

    def _answer_after_fault(self, request: StepRequest, now: datetime) -> str:
        prompts = self.flow.prompts_for(self.flow.default_language)
        answer = twiml.say_and_hang_up([prompts.render("fault", {})],
                                       language=prompts.voice.language, voice=prompts.voice.voice)
        # Odd input (a NUL, a 10,000-character CallSid) is what often brought us here: keep it
        # escaped and cut, with a note, rather than lose the step (telephony/evidence.py).
        call_sid = storable("CallSid", request.call_sid, SID_LENGTH)
        raw = storable_form(request.form, leave_out=frozenset({"Digits"}))
        if call_sid.note:
            raw["_stored_as"] = "; ".join(filter(None, [raw.get("_stored_as"), call_sid.note]))
        try:
            with self.database.unit_of_work() as session:
                session.add(CallStep(call_sid=call_sid.value, seq=request.seq, state="fault",
                                     from_number=storable("From", request.form.get("From", ""),
                                                          NUMBER_FIELD_LENGTH).value,
                                     digits=("*" * len(request.form.get("Digits", "")))[:32]
                                     or None,
                                     received_at=now, raw=raw, outcome="fault",
                                     response=answer))
        except Exception:
            log.exception("could not store the faulted step %s/%s", request.call_sid, request.seq)
        return answer

    def _answer_duplicate(self, request: StepRequest, now: datetime) -> str:
        # A concurrent duplicate of this very step won the race: give its answer.
        with self.database.unit_of_work() as session:
            stored = self._stored_answer(session, request)
        return stored if stored is not None else self._answer_after_fault(request, now)

    def _stored_answer(self, session: Session, request: StepRequest) -> str | None:
        return session.scalar(select(CallStep.response).where(
            CallStep.call_sid == request.call_sid, CallStep.seq == request.seq))

    def _handle(self, session: Session, request: StepRequest, now: datetime) -> str:
        call = session.scalars(
            select(Call).where(Call.call_sid == request.call_sid).with_for_update()).first()
        if call is not None and request.seq < call.next_seq:
            # A retry of a step already answered (a step not yet answered has seq == next_seq;
            # one the fault path stored is caught by the unique key, in handle()).
            stored = self._stored_answer(session, request)
            if stored is not None:
                return stored
        if call is None:
            if request.seq != 0:
                return self._end_unknown_call()
            call = Call(call_sid=request.call_sid, from_number=_number_field(request.form, "From"),
                        to_number=_number_field(request.form, "To"), started_at=now,
                        language=self.flow.default_language, state=self.flow.start, next_seq=1,
                        data={})
            # Added with the step at the end: one INSERT with its first state, not INSERT+UPDATE.
        elif request.seq != call.next_seq:
            # Not the step we handed out (a forged or very stale URL): end politely, keep nothing.
            return self._end_unknown_call()

        state = self.flow.states[call.state]
        step = CallStep(call_sid=call.call_sid, seq=request.seq, state=state.name,
                        from_number=_number_field(request.form, "From"),
                        digits=self._evidence_digits(state, request),
                        received_at=now, raw=self._evidence_form(state, request.form))

        ctx = StepContext(session=session, call=call, settings=self.settings, now=now,
                          seq=request.seq, digits=request.form.get("Digits", ""),
                          form=request.form)
        if request.seq == 0:
            next_state = state
        elif request.silence:
            next_state = self._after_silence(ctx, state)
            step.outcome = "silence"
        else:
            result = ACTIONS[state.action or ""](ctx)
            step.outcome = result
            next_state = self.flow.states[state.next[result]]
        answer = self._enter(ctx, next_state, request.seq + 1)
        step.response = answer
        call.data = ctx.data  # a new dict: SQLAlchemy sees the change
        call.next_seq = request.seq + 1
        # The step is written once, with its answer, in the transaction that acted on it: the
        # evidence and its consequences commit together or not at all (then the fault path
        # stores the step on its own). The call row lock keeps a duplicate of this step waiting
        # until then, and the unique key on (call_sid, seq) is the last line of defence.
        session.add_all([call, step])
        return answer

    def _after_silence(self, ctx: StepContext, state: State) -> State:
        if state.on_silence == "hangup":
            return self.flow.states["goodbye"]
        if ctx.count("silences") >= self.flow.max_silences:
            return self.flow.states["goodbye_silence"]
        ctx.notice("silence")
        return state

    def _enter(self, ctx: StepContext, state: State, next_seq: int) -> str:
        """Run states that need no input until one speaks and waits, or hangs up."""
        for _ in range(len(self.flow.states) + 1):
            if state.waits or state.hangup:
                break
            result = ACTIONS[state.action or ""](ctx)
            state = self.flow.states[state.next[result]]
        ctx.call.state = state.name
        prompts = self.flow.prompts_for(ctx.call.language)
        values: dict[str, Any] = dict(ctx.get("vars", {}))
        values["notes"] = "".join(prompts.render(k, v) for k, v in values.get("notes", []))
        for placeholder in ("what", "other"):  # values that name a prompt: say that prompt
            if placeholder in values:
                values[placeholder] = prompts.render(values[placeholder], values)
        values["choices"] = ", ".join(prompts.render("choice", c) for c in ctx.get("choices", []))
        texts = [prompts.render(key, vals) for key, vals in ctx.notices]
        if state.prompt:
            texts.append(prompts.render(state.prompt, values))
        voice = {"language": prompts.voice.language, "voice": prompts.voice.voice}
        if state.hangup:
            ctx.call.ended_at = ctx.now
            return twiml.say_and_hang_up(texts, **voice)
        if state.record is not None:
            return twiml.record(texts, **voice, max_length=state.record.max_length,
                                finish_on_key=state.record.finish_on_key,
                                action_url=self.step_url(next_seq, False))
        assert state.gather is not None
        digits = state.gather.digits
        num_digits = digits if isinstance(digits, int) else int(getattr(self.settings, digits))
        return twiml.gather(texts, **voice, num_digits=num_digits, timeout=state.gather.timeout,
                            action_url=self.step_url(next_seq, False),
                            silence_url=self.step_url(next_seq, True))

    def _evidence_digits(self, state: State, request: StepRequest) -> str | None:
        digits = request.form.get("Digits")
        if digits is None:
            return None
        return "*" * len(digits) if state.name in SECRET_STATES else digits

    def _evidence_form(self, state: State, form: dict[str, str]) -> dict[str, str]:
        kept = {k: v for k, v in form.items() if k != "Digits"}
        if "Digits" in form:
            kept["Digits"] = self._evidence_digits(state, StepRequest("", 0, form, False)) or ""
        return kept

    def _end_unknown_call(self) -> str:
        prompts = self.flow.prompts_for(self.flow.default_language)
        return twiml.say_and_hang_up([prompts.render("goodbye_not_recognised", {})],
                                     language=prompts.voice.language, voice=prompts.voice.voice)
