"""POST /twilio/status: Twilio's call and message status callbacks.

Signed like every webhook; the report goes to the features subscribed to it (telephony/status.py):
the IVR finds inbound calls by CallSid, escalation finds alert texts and calls by the
?notification=<id> we put on their callback URL.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request

from ivr_gateway import extensions
from ivr_gateway.bounds import fits_integer_column
from ivr_gateway.db import is_unreachable
from ivr_gateway.telephony.signature import twilio_signed
from ivr_gateway.telephony.status import StatusReport, offer, status_handlers

log = logging.getLogger(__name__)
blueprint = Blueprint("telephony", __name__)


@blueprint.post("/twilio/status")
@twilio_signed
def status_callback() -> Any:
    """Record how a call ended or a text fared; unknown SIDs are acknowledged and ignored."""
    form = request.form
    notification = request.args.get("notification", "")
    if notification.isdigit() and not fits_integer_column(notification):
        return Response(status=204)  # no notification has such an id: nothing to record
    call_sid = form.get("CallSid", "")
    if len(call_sid) > 64 or "\x00" in call_sid:
        call_sid = ""  # no call has such a CallSid (and PostgreSQL refuses a NUL in text)
    report = StatusReport(
        call_sid=call_sid, call_status=form.get("CallStatus", ""),
        message_sid=form.get("MessageSid", ""), message_status=form.get("MessageStatus", ""),
        error_code=form.get("ErrorCode", ""), url_parameters=dict(request.args.items()))
    handlers = status_handlers()
    if handlers:
        now = extensions.clock().now()
        try:
            with extensions.database().unit_of_work() as session:
                offer(session, report, now, handlers)
        except Exception as error:
            if not is_unreachable(error):
                raise
            # Nothing to spool: a status is Twilio's report, not a carer's input, and Twilio
            # does not resend it. Say what happened, without a stack trace per callback.
            log.warning("status callback not recorded: database unreachable (%s)",
                        type(error).__name__)
            return Response("Service unavailable: the database cannot be reached.\n",
                            status=503, mimetype="text/plain")
    return Response(status=204)
