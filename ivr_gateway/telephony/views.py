"""POST /twilio/status: Twilio's call and message status callbacks.

Inbound calls are found by CallSid. Alert texts and calls carry ?notification=<id> in the
callback URL we gave Twilio, so MessageStatus / CallStatus land on that notification.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from ivr_gateway import extensions
from ivr_gateway.escalation.delivery import record_delivery_status
from ivr_gateway.models import Call
from ivr_gateway.request_guards import fits_integer_column
from ivr_gateway.telephony.signature import twilio_signed

blueprint = Blueprint("telephony", __name__)

FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


@blueprint.post("/twilio/status")
@twilio_signed
def status_callback() -> Any:
    """Record how a call ended or a text fared; unknown SIDs are acknowledged and ignored."""
    call_sid = request.form.get("CallSid", "")
    call_status = request.form.get("CallStatus", "")
    notification = request.args.get("notification", "")
    if notification.isdigit() and not fits_integer_column(notification):
        return Response(status=204)  # no notification has such an id: nothing to record
    if len(call_sid) > 64 or "\x00" in call_sid:
        call_sid = ""  # no call has such a CallSid (and PostgreSQL refuses a NUL in text)
    if notification.isdigit():
        status = request.form.get("MessageStatus") or call_status
        if status:
            error = request.form.get("ErrorCode") or None
            with extensions.database().unit_of_work() as session:
                record_delivery_status(
                    session, int(notification), status, extensions.clock().now(),
                    provider_sid=request.form.get("MessageSid") or call_sid or None,
                    error=f"Twilio error {error}" if error else None)
        return Response(status=204)
    if call_sid and call_status:
        now = extensions.clock().now()
        with extensions.database().unit_of_work() as session:
            call = session.scalars(select(Call).where(Call.call_sid == call_sid)).first()
            if call is not None:
                call.status = call_status
                if call_status in FINAL_CALL_STATUSES and call.ended_at is None:
                    call.ended_at = now
    return Response(status=204)
