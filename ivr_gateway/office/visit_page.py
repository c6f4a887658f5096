"""Everything the visit page shows, read in one unit of work: the evidence record, its alerts,
the reason codes that fit, the carers who could be sent, and the call panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import CareWorker
from ivr_gateway.office.evidence import VisitRecord, load_visit_record
from ivr_gateway.office.providers import AlertSource, AlertView
from ivr_gateway.office.visit_actions import VisitCall, visit_call
from ivr_gateway.visits.models import ReasonCode
from ivr_gateway.visits.reason_codes import reason_code_choices, reason_kind


@dataclass(frozen=True)
class VisitPage:
    """The visit page's content."""

    record: VisitRecord
    alerts: list[AlertView]
    choices: list[ReasonCode]
    call: VisitCall
    carers: list[CareWorker]  # active carers, who could be sent instead
    on_visit: list[CareWorker]  # the carers on the rota for it (or who logged it)


def load_visit_page(db: Session, settings: Settings, now: datetime, alerts: AlertSource, *,
                    planned_ref: str | None = None, actual_visit_id: int | None = None
                    ) -> VisitPage:
    """A planned visit (by ref) or an unplanned one (by id); LookupError if there is none."""
    record = load_visit_record(db, settings, now, planned_ref=planned_ref,
                               actual_visit_id=actual_visit_id)
    refs = [record.planned.ref] if record.planned else []
    shown = alerts.alerts_for_visits(db, refs).get(refs[0], []) if refs else []
    choices = list(reason_code_choices(db, reason_kind(record.summary)
                                       if record.summary else None))
    carers = list(db.scalars(select(CareWorker).where(CareWorker.active.is_(True))
                             .order_by(CareWorker.given_name, CareWorker.family_name)))
    on_visit = list(record.planned.care_workers) if record.planned else \
        [a.care_worker for a in record.actuals]
    return VisitPage(record, shown, choices, visit_call(db, record, shown), carers, on_visit)
