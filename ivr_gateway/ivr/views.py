"""/twilio/voice and its step URLs: the carer's call. Thin: parse, run the engine, answer TwiML.

/twilio/voice/fallback is Twilio's fallback URL for the number ("primary handler fails"): the
outage flow (ivr/outage.py), which needs no database and always spools. The primary webhook
hands a call to the same flow when it finds the database unreachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, request

from ivr_gateway import extensions
from ivr_gateway.ivr.engine import CallEngine, StepRequest, carer_flow
from ivr_gateway.ivr.outage import OutageCall, step_query
from ivr_gateway.telephony import twiml
from ivr_gateway.telephony.signature import twilio_signed
from ivr_gateway.telephony.spool import Spool

blueprint = Blueprint("ivr", __name__)


def _base_url() -> str:
    return extensions.settings().public_base_url or request.url_root.rstrip("/")


def _step_url(seq: int, silence: bool) -> str:
    return f"{_base_url()}/twilio/voice/step/{seq}" + ("?silence=1" if silence else "")


def _outage_step_url(name: str, params: Mapping[str, str], silence: bool) -> str:
    return f"{_base_url()}/twilio/voice/fallback/step/{name}?{step_query(params, silence)}"


def _outage_call() -> OutageCall:
    settings = extensions.settings()
    return OutageCall(settings, Spool(settings.spool_dir), _outage_step_url)


def _twiml(answer: str) -> Response:
    return Response(answer, mimetype="text/xml")


def _bad_request(what: str) -> Response:
    return Response(f"Bad request: {what} is missing.\n", status=400, mimetype="text/plain")


def _answer(seq: int) -> Response:
    form = {k: v for k, v in request.form.items()}
    call_sid = form.get("CallSid", "")
    if not call_sid:
        return _bad_request("CallSid")
    engine = CallEngine(extensions.database(), extensions.settings(), _step_url,
                        on_unreachable=_outage_call().take_over)
    answer = engine.handle(StepRequest(call_sid=call_sid, seq=seq, form=form,
                                       silence=request.args.get("silence") == "1"),
                           extensions.clock().now())
    return _twiml(answer)


def _apology() -> str:
    # The disk would not take the call either: say so rather than claim it was noted.
    flow = carer_flow(extensions.settings())
    prompts = flow.prompts_for(flow.default_language)
    return twiml.say_and_hang_up([prompts.render("fault", {})], language=prompts.voice.language,
                                 voice=prompts.voice.voice)


@blueprint.post("/twilio/voice")
@twilio_signed
def incoming_call() -> Any:
    """Twilio's incoming-call webhook: the first step of the carer's call."""
    return _answer(0)


@blueprint.post("/twilio/voice/step/<int:seq>")
@twilio_signed
def call_step(seq: int) -> Any:
    """A later step of a call, at the URL the previous step's TwiML handed Twilio."""
    return _answer(seq)


@blueprint.post("/twilio/voice/fallback")
@twilio_signed
def fallback_call() -> Any:
    """Twilio's fallback URL for calls: take the call without the database, onto the spool."""
    form = {k: v for k, v in request.form.items()}
    if not form.get("CallSid"):
        return _bad_request("CallSid")
    answer = _outage_call().start(form, extensions.clock().now())
    return _twiml(answer if answer is not None else _apology())


@blueprint.post("/twilio/voice/fallback/step/<name>")
@twilio_signed
def fallback_step(name: str) -> Any:
    """A later step of a call taken without the database (always spooled)."""
    form = {k: v for k, v in request.form.items()}
    if not form.get("CallSid"):
        return _bad_request("CallSid")
    answer = _outage_call().step(name, form, dict(request.args.items()),
                                 request.args.get("silence") == "1", extensions.clock().now())
    return _twiml(answer if answer is not None else _apology())
