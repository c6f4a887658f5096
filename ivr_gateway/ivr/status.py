"""How an inbound call ended: the IVR's subscriber to Twilio's status callbacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.ivr.models import Call
from ivr_gateway.telephony.status import FINAL_CALL_STATUSES, StatusReport


def record_call_status(session: Session, report: StatusReport, now: datetime) -> bool:
    """Store an inbound call's status, and when it ended (kept if the flow already ended it).

    Takes every report that names a call and a status; a call we never answered is ignored.
    """
    if not (report.call_sid and report.call_status):
        return False
    call = session.scalars(select(Call).where(Call.call_sid == report.call_sid)).first()
    if call is not None:
        call.status = report.call_status
        if report.call_status in FINAL_CALL_STATUSES and call.ended_at is None:
            call.ended_at = now
    return True
