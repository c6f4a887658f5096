"""POST /twilio/status: Twilio's call and message status callbacks.

Signed like every webhook; the report goes to the features subscribed to it (telephony/status.py):
the IVR finds inbound calls by CallSid, escalation finds alert texts and calls by the
?notification=<id> we put on their callback URL.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from ivr_gateway import extensions
from ivr_gateway.bounds import fits_integer_column
from ivr_gateway.db import is_unreachable
from ivr_gateway.telephony.signature import twilio_signed
from ivr_gateway.telephony.spool import Spool, SpoolError
from ivr_gateway.telephony.status import (
    FINAL_CALL_STATUSES,
    StatusReport,
    offer,
    status_handlers,
)

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
    now = extensions.clock().now()
    if call_sid and report.call_status in FINAL_CALL_STATUSES:
        _end_spooled_call(call_sid, now)
    handlers = status_handlers()
    if handlers:
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


def _end_spooled_call(call_sid: str, now: datetime) -> None:
    """A call kept in the outage spool is over: its replay (and the items after it) need not
    wait for its PIN any longer (outage/replay.py). Local disk only, so it works while the
    database is down; a call spooled on another host waits out CALL_IN_PROGRESS there."""
    try:
        Spool(extensions.settings().spool_dir).mark_call_ended(call_sid, now)
    except (SpoolError, OSError):
        log.warning("could not mark spooled call %s as ended", call_sid[:64])
