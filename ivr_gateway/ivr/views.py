"""/twilio/voice and its step URLs: the carer's call. Thin: parse, run the engine, answer TwiML."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ivr_gateway import extensions
from ivr_gateway.ivr.engine import CallEngine, StepRequest
from ivr_gateway.telephony.signature import twilio_signed

blueprint = Blueprint("ivr", __name__)


def _base_url() -> str:
    return extensions.settings().public_base_url or request.url_root.rstrip("/")


def _step_url(seq: int, silence: bool) -> str:
    return f"{_base_url()}/twilio/voice/step/{seq}" + ("?silence=1" if silence else "")


def _answer(seq: int) -> Response:
    form = {k: v for k, v in request.form.items()}
    call_sid = form.get("CallSid", "")
    if not call_sid:
        return Response("Bad request: CallSid is missing.\n", status=400, mimetype="text/plain")
    engine = CallEngine(extensions.database(), extensions.settings(), _step_url)
    twiml = engine.handle(StepRequest(call_sid=call_sid, seq=seq, form=form,
                                      silence=request.args.get("silence") == "1"),
                          extensions.clock().now())
    return Response(twiml, mimetype="text/xml")


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
