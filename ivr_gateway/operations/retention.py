"""Retention: personal data the gateway no longer needs, removed after a set time.

Two kinds of record hold personal data that the visit evidence does not need for long:
- **carers' spoken concerns** (``concern_recordings``): the link to the audio at Twilio is
  removed (the row stays: a concern was recorded, when, on which visit); the audio itself is
  deleted at Twilio by its Recording SID, which the command lists;
- **texts from mobiles that are no carer's** (``inbound_texts`` with status ``unregistered``):
  the sender's number, the words and Twilio's raw form are removed (the row stays, with the reply
  we gave, so the counts the office saw still add up).

Visit evidence (log events, call steps, texts from carers) and the audit trail are the
council's contract records and are kept (SECURITY.md, "Personal data"). Nothing is removed
unless asked (``apply``), and a purge that removes anything writes an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry, ConcernRecording
from ivr_gateway.sms.models import InboundText, TextStatus

DEFAULT_RETENTION = timedelta(days=90)


@dataclass
class RetentionReport:
    """What a purge found (and, when applied, removed)."""

    cutoff: datetime
    applied: bool
    recordings: int = 0
    unregistered_texts: int = 0
    recording_sids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Records found."""
        return self.recordings + self.unregistered_texts


def purge_personal_data(session: Session, *, now: datetime, older_than: timedelta,
                        apply: bool, actor: str) -> RetentionReport:
    """Find (and if ``apply``, remove) the personal data older than the retention period."""
    cutoff = now - older_than
    report = RetentionReport(cutoff=cutoff, applied=apply)
    recordings = list(session.scalars(
        select(ConcernRecording)
        .where(ConcernRecording.created_at < cutoff, ConcernRecording.recording_url != "")
        .order_by(ConcernRecording.id)))
    texts = list(session.scalars(
        select(InboundText)
        .where(InboundText.status == TextStatus.UNREGISTERED,
               InboundText.care_worker_id.is_(None), InboundText.received_at < cutoff,
               InboundText.from_number != "")
        .order_by(InboundText.id)))
    report.recordings = len(recordings)
    report.unregistered_texts = len(texts)
    report.recording_sids = [r.recording_sid for r in recordings if r.recording_sid]
    if not apply or report.total == 0:
        return report
    for recording in recordings:
        recording.recording_url = ""
        recording.recording_sid = None
    for text in texts:
        text.from_number = ""
        text.body = ""
        text.raw = {}
        text.detail = f"{text.detail} (sender and words removed on {now.date().isoformat()}: "\
                      "retention)".strip()
    session.add(AuditEntry(
        at=now, actor=actor, action="retention_purge", entity="retention",
        entity_ref=cutoff.date().isoformat(),
        detail={"older_than_days": older_than.days, "recordings": report.recordings,
                "unregistered_texts": report.unregistered_texts,
                "recording_sids": report.recording_sids}))
    return report
