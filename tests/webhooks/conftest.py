"""Fixtures for the change feed and the webhooks: visits that change through the domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import KpiWindows
from ivr_gateway.models import Channel, LogKind, PlannedVisit, Verification
from ivr_gateway.visits.changes import record_planned_visit_changed
from ivr_gateway.visits.recording import LogRequest, LogResult, record_log_event
from tests.api.conftest import api, api_token  # noqa: F401 - the API client fixtures


def log(session: Session, care_worker_id: int, adult_id: int, at: datetime,
        kind: LogKind | None = None) -> LogResult:
    """A carer's log-in or log-out by phone, as the IVR records it (the caller commits)."""
    return record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=care_worker_id, adult_id=adult_id, event_time=at,
        received_at=at, verification=Verification.CALLER_ID, kind=kind,
        from_number="+441134960001"), KpiWindows())


def announce_planned(session: Session, ref: str, at: datetime) -> None:
    """The rota says this planned visit was created or changed (as an upsert does)."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
    assert visit is not None
    record_planned_visit_changed(session, visit, at)
