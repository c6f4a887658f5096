"""POST /twilio/sms: carers' codes and office replies. A thin handler (the texts' part of
/api/v1 is in ivr_gateway/api/texts.py and visit_code_tokens.py)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request

from ivr_gateway import extensions
from ivr_gateway.sms.outage import spool_text, text_spooler
from ivr_gateway.sms.replies import DEFAULT_LANGUAGE, render
from ivr_gateway.sms.texts import TextMessage, TextService
from ivr_gateway.telephony.signature import twilio_signed
from ivr_gateway.telephony.spool import Spool

blueprint = Blueprint("sms", __name__)


def message_twiml(reply: str) -> str:
    """<Response><Message>reply</Message></Response>, or an empty <Response/> for no reply.

    Written directly (escaped) rather than through twilio's MessagingResponse, which builds an
    ElementTree for one element; tests parse it as XML and compare it with the library's.
    """
    if not reply:
        return '<?xml version="1.0" encoding="UTF-8"?><Response />'
    return ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
            f"{escape(reply)}</Message></Response>")


def _message() -> TextMessage | None:
    form = {k: v for k, v in request.form.items()}
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not message_sid:
        return None
    return TextMessage(message_sid=message_sid, from_number=form.get("From", ""),
                       to_number=form.get("To", ""), body=form.get("Body", ""), form=form)


def _bad_request() -> Response:
    return Response("Bad request: MessageSid is missing.\n", status=400, mimetype="text/plain")


@blueprint.post("/twilio/sms")
@twilio_signed
def incoming_text() -> Any:
    """Twilio's incoming-message webhook: store the text, act on it, reply in one segment.

    With the database unreachable the text is kept on disk and replayed later (sms/outage.py).
    """
    message = _message()
    if message is None:
        return _bad_request()
    settings = extensions.settings()
    service = TextService(extensions.database(), settings,
                          on_unreachable=text_spooler(Spool(settings.spool_dir), settings))
    answer = service.handle(message, extensions.clock().now())
    return Response(message_twiml(answer.reply), mimetype="text/xml")


@blueprint.post("/twilio/sms/fallback")
@twilio_signed
def fallback_text() -> Any:
    """Twilio's fallback URL for texts ("primary handler fails"): always onto the spool."""
    message = _message()
    if message is None:
        return _bad_request()
    settings = extensions.settings()
    answer = spool_text(Spool(settings.spool_dir), settings, message, extensions.clock().now())
    reply = answer.reply if answer is not None else render(DEFAULT_LANGUAGE, "not_kept")
    return Response(message_twiml(reply), mimetype="text/xml")

