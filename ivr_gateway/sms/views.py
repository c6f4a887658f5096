"""POST /twilio/sms (carers' codes, office replies) and the SMS part of /api/v1. Thin handlers."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, g, request
from pydantic import BaseModel, ValidationError

from ivr_gateway import extensions
from ivr_gateway.api import views as api_views
from ivr_gateway.rota.service import InvalidRota, RotaError, invalid_from
from ivr_gateway.sms.devices import TokenIn, get_token, register_token
from ivr_gateway.sms.schemas import (
    OptOutOut,
    OptOutsResponse,
    TextOut,
    TextsResponse,
    TokenResponse,
)
from ivr_gateway.sms.texts import TextMessage, TextService, opted_out_numbers, texts_for_day
from ivr_gateway.telephony.signature import twilio_signed

blueprint = Blueprint("sms", __name__)
api_blueprint = Blueprint("sms_api", __name__, url_prefix="/api/v1")

# The API's own bearer-token check and error shapes, for these endpoints too.
api_blueprint.before_request(api_views._authenticate)
api_blueprint.register_error_handler(api_views.ApiError, api_views._api_error)
api_blueprint.register_error_handler(RotaError, api_views._rota_error)


def message_twiml(reply: str) -> str:
    """<Response><Message>reply</Message></Response>, or an empty <Response/> for no reply.

    Written directly (escaped) rather than through twilio's MessagingResponse, which builds an
    ElementTree for one element; tests parse it as XML and compare it with the library's.
    """
    if not reply:
        return '<?xml version="1.0" encoding="UTF-8"?><Response />'
    return ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
            f"{escape(reply)}</Message></Response>")


@blueprint.post("/twilio/sms")
@twilio_signed
def incoming_text() -> Any:
    """Twilio's incoming-message webhook: store the text, act on it, reply in one segment."""
    form = {k: v for k, v in request.form.items()}
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not message_sid:
        return Response("Bad request: MessageSid is missing.\n", status=400,
                        mimetype="text/plain")
    service = TextService(extensions.database(), extensions.settings())
    answer = service.handle(TextMessage(message_sid=message_sid, from_number=form.get("From", ""),
                                        to_number=form.get("To", ""), body=form.get("Body", ""),
                                        form=form), extensions.clock().now())
    return Response(message_twiml(answer.reply), mimetype="text/xml")


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


@api_blueprint.put("/visit-code-tokens/<ref>")
def put_token(ref: str) -> Response:
    """Register a token by serial, or change its client, digits, step or secret."""
    if not request.is_json or not isinstance(request.get_json(silent=True), dict):
        raise api_views.ApiError(400, "bad_request", "Send a JSON object with the header "
                                 "'Content-Type: application/json'.")
    try:
        data = TokenIn.model_validate(request.get_json())
    except ValidationError as error:
        raise invalid_from(error) from None
    with extensions.database().unit_of_work() as session:
        change, view = register_token(session, ref, data, settings=extensions.settings(),
                                      now=extensions.clock().now(),
                                      actor=g.api_actor)
    return _json(TokenResponse(change=change, token=view),
                 201 if change == "created" else 200)


@api_blueprint.get("/visit-code-tokens/<ref>")
def get_visit_code_token(ref: str) -> Response:
    """A token by serial (never its secret)."""
    with extensions.database().unit_of_work() as session:
        view = get_token(session, ref)
    return _json(view)


@api_blueprint.get("/texts")
def texts() -> Response:
    """The inbound texts of one local day, matched or not."""
    raw = request.args.get("date", "")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRota.of("date", f"give the day as ?date=YYYY-MM-DD, not {raw!r}") from None
    flag = request.args.get("needs_office")
    needs_office = None if flag is None else flag.lower() in ("1", "true", "yes")
    settings = extensions.settings()
    with extensions.database().unit_of_work() as session:
        records = texts_for_day(session, day, settings, needs_office)
    return _json(TextsResponse(date=day.isoformat(), timezone=settings.timezone, texts=[
        TextOut.model_validate(r, from_attributes=True) for r in records]))


@api_blueprint.get("/sms-opt-outs")
def sms_opt_outs() -> Response:
    """Numbers that texted STOP (so the office knows who cannot receive texts)."""
    with extensions.database().unit_of_work() as session:
        records = opted_out_numbers(session)
    return _json(OptOutsResponse(opt_outs=[OptOutOut.model_validate(r, from_attributes=True)
                                           for r in records]))
