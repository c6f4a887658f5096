"""Send another carer in one carer's place: clash check, confirmation, texts to both, audited.

Two steps, so a tired coordinator cannot double-book a carer by accident: `plan_reassignment`
says what would happen (the newcomer's overlapping visits, the texts each carer will get, who
has no mobile to text) and changes nothing; `reassign_care_worker` does it, and refuses while a
clash the coordinator has not seen and accepted stands. The texts go through the outbox as kind
"sms", the same kind and relay as the escalation's texts, so nothing leaves the building before
the change commits.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    AuditEntry,
    CareWorker,
    PlannedVisit,
    PlannedVisitCareWorker,
    VisitStatus,
)
from ivr_gateway.outbox.service import enqueue
from ivr_gateway.rota.schemas import PlannedVisitIn, validation_context
from ivr_gateway.rota.service import problems_from, upsert_planned_visit
from ivr_gateway.sms.models import SmsOptOut
from ivr_gateway.visits.errors import ActionRefused

MIN_REASON_LENGTH = 5
SMS_KIND = "sms"  # the escalation's kind: the alert relay sends it (telephony/senders.py)
TEXTS_FILE = Path(__file__).resolve().parent / "reassignment_texts.toml"
DEFAULT_LANGUAGE = "en"


@cache
def _all_texts() -> dict[str, dict[str, str]]:
    with TEXTS_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    return {lang: {str(k): str(v) for k, v in texts.items()} for lang, texts in data.items()}


def texts_for(language: str) -> dict[str, str]:
    """The reassignment texts in a carer's language (English when there are none in it)."""
    texts = _all_texts()
    return texts.get(language, texts[DEFAULT_LANGUAGE])


def text_languages() -> list[str]:
    """The languages the reassignment texts are written in."""
    return sorted(_all_texts())


@dataclass(frozen=True)
class Clash:
    """Another planned visit of the newcomer's overlapping this one's time."""

    planned_ref: str
    client: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CarerText:
    """The text one carer gets (to is None: no mobile we may text, so the office rings)."""

    care_worker_ref: str
    name: str
    purpose: str  # "sent" (the newcomer) or "released" (the carer replaced)
    to: str | None
    body: str


@dataclass(frozen=True)
class ReassignmentPlan:
    """What sending another carer would do: checked, nothing changed yet."""

    planned_ref: str
    client: str
    start: datetime
    end: datetime
    from_ref: str
    from_name: str
    to_ref: str
    to_name: str
    reason: str
    clashes: list[Clash] = field(default_factory=list)
    texts: list[CarerText] = field(default_factory=list)
    visit_over: bool = False  # the rota is put right after the event: nobody is texted

    @property
    def unreachable(self) -> list[CarerText]:
        """The carers with no mobile to text: the office must ring them."""
        return [t for t in self.texts if t.to is None]


class ClashNotAccepted(ActionRefused):
    """The newcomer is booked at that time and the coordinator has not accepted it (yet)."""

    def __init__(self, plan: ReassignmentPlan) -> None:
        names = ", ".join(c.planned_ref for c in plan.clashes)
        super().__init__(f"{plan.to_name} is booked at that time ({names}): confirm to send "
                         "them anyway.")
        self.plan = plan


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ActionRefused("Give the reason for the change: what happened and how you know "
                            "(it is kept with the visit for the council).")
    return reason[:1000]


def _full_name(care_worker: CareWorker) -> str:
    return f"{care_worker.given_name} {care_worker.family_name}"


def find_clashes(session: Session, care_worker_id: int, start: datetime, end: datetime, *,
                 besides: int) -> list[Clash]:
    """The carer's planned (not cancelled) visits overlapping [start, end), besides one."""
    rows = session.scalars(
        select(PlannedVisit)
        .join(PlannedVisitCareWorker, PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
        .where(PlannedVisitCareWorker.care_worker_id == care_worker_id,
               PlannedVisit.id != besides, PlannedVisit.status == VisitStatus.PLANNED,
               PlannedVisit.planned_start < end, PlannedVisit.planned_end > start)
        .order_by(PlannedVisit.planned_start))
    return [Clash(v.ref, f"{v.adult.given_name} {v.adult.family_name}", v.planned_start,
                  v.planned_end) for v in rows]


def _textable_mobile(session: Session, care_worker: CareWorker) -> str | None:
    """The carer's first mobile that has not texted STOP (Twilio would refuse it)."""
    stopped = set(session.scalars(select(SmsOptOut.number).where(SmsOptOut.opted_out.is_(True))))
    return next((m.number for m in care_worker.mobiles if m.number not in stopped), None)


def _day_words(texts: dict[str, str], start: datetime, now: datetime, settings: Settings) -> str:
    day, today = start.astimezone(settings.tz).date(), now.astimezone(settings.tz).date()
    if day == today:
        return texts["today"]
    if day == today + timedelta(days=1):
        return texts["tomorrow"]
    return texts["on_date"].format(date=start.astimezone(settings.tz).strftime(
        texts["date_format"]))


def render_text(language: str, purpose: str, *, initials: str, start: datetime, now: datetime,
                settings: Settings, name: str) -> str:
    """One carer's text: client initials, local time and day, the other carer's first name."""
    texts = texts_for(language)
    return texts[purpose].format(
        initials=initials, time=start.astimezone(settings.tz).strftime("%H:%M"),
        day=_day_words(texts, start, now, settings), name=name)


def plan_reassignment(session: Session, planned_ref: str, from_ref: str, to_ref: str,
                      reason: str, *, settings: Settings, now: datetime) -> ReassignmentPlan:
    """Check a reassignment and say what it would do (clashes, texts); changes nothing."""
    reason = _reason(reason)
    planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
    if planned is None:
        raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
    current = [c.ref for c in planned.care_workers]
    if from_ref not in current:
        raise ActionRefused("Choose a carer who is on this visit.")
    if to_ref == from_ref or to_ref in current:
        raise ActionRefused("Choose a carer who is not already on this visit.")
    newcomer = session.scalar(select(CareWorker).where(CareWorker.ref == to_ref))
    if newcomer is None:
        raise ActionRefused("Choose a carer to send from the list.")
    if not newcomer.active:  # a leaver (rota: inactive) is never sent, whatever was posted
        raise ActionRefused(f"{_full_name(newcomer)} has left and cannot be sent: choose a "
                            "carer who is still working.")
    leaving = next(c for c in planned.care_workers if c.ref == from_ref)
    logged_in = session.scalar(select(ActualVisit.id).where(
        ActualVisit.planned_visit_id == planned.id, ActualVisit.care_worker_id == leaving.id))
    if logged_in is not None:
        raise ActionRefused(f"{_full_name(leaving)} has already logged on "
                            "this visit; correct the visit's times instead.")
    initials = planned.adult.initials
    # After the visit's planned end the change records who went: a text asking a carer to go
    # would be wrong, so none is sent.
    visit_over = planned.planned_end <= now
    texts = [] if visit_over else [
        CarerText(newcomer.ref, _full_name(newcomer), "sent", _textable_mobile(session, newcomer),
                  render_text(newcomer.language, "sent", initials=initials,
                              start=planned.planned_start, now=now, settings=settings,
                              name=leaving.given_name)),
        CarerText(leaving.ref, _full_name(leaving), "released", _textable_mobile(session, leaving),
                  render_text(leaving.language, "released", initials=initials,
                              start=planned.planned_start, now=now, settings=settings,
                              name=newcomer.given_name)),
    ]
    return ReassignmentPlan(
        planned_ref=planned.ref, client=f"{planned.adult.given_name} {planned.adult.family_name}",
        start=planned.planned_start, end=planned.planned_end, from_ref=leaving.ref,
        from_name=_full_name(leaving), to_ref=newcomer.ref, to_name=_full_name(newcomer),
        reason=reason, texts=texts, visit_over=visit_over,
        clashes=find_clashes(session, newcomer.id, planned.planned_start, planned.planned_end,
                             besides=planned.id))


def reassign_care_worker(session: Session, planned_ref: str, from_ref: str, to_ref: str,
                         reason: str, *, settings: Settings, now: datetime, actor: str,
                         accepted_clashes: frozenset[str] = frozenset()) -> ReassignmentPlan:
    """Send another carer: the rota changes, both carers are texted, all of it audited.

    Refuses with ClashNotAccepted while the newcomer has an overlapping visit whose ref is not
    in accepted_clashes (the ones the coordinator saw on the confirmation page).
    """
    plan = plan_reassignment(session, planned_ref, from_ref, to_ref, reason,
                             settings=settings, now=now)
    if any(c.planned_ref not in accepted_clashes for c in plan.clashes):
        raise ClashNotAccepted(plan)
    planned = session.scalars(select(PlannedVisit).where(PlannedVisit.ref == planned_ref)).one()
    current = [c.ref for c in planned.care_workers]
    try:
        data = PlannedVisitIn.model_validate({
            "adult_ref": planned.adult.ref,
            "care_worker_refs": [to_ref if r == from_ref else r for r in current],
            "planned_start": planned.planned_start, "planned_end": planned.planned_end,
            "status": planned.status.value, "cancel_reason": planned.cancel_reason,
            "cancel_note": planned.cancel_note, "time_critical": planned.time_critical,
        }, context=validation_context(settings))
    except ValidationError as error:
        raise ActionRefused("; ".join(p.message for p in problems_from(error))) from None
    upsert_planned_visit(session, planned_ref, data, settings=settings, now=now, actor=actor)
    audit = AuditEntry(at=now, actor=actor[:100], action="reassign", entity="planned_visit",
                       entity_ref=planned_ref, detail={})
    session.add(audit)
    session.flush()
    # Flat strings, so the visit page's audit trail reads them as they are.
    detail: dict[str, Any] = {"from": plan.from_ref, "to": plan.to_ref, "reason": plan.reason,
                              "clashes accepted": ", ".join(c.planned_ref for c in plan.clashes)
                              or "none"}
    if plan.visit_over:
        detail["texts"] = "none: the visit's time had passed"
    for text in plan.texts:
        label = f"text to {text.care_worker_ref}"
        if text.to is None:
            detail[label] = "none: no mobile on file, the office rings"
            continue
        enqueue(session, kind=SMS_KIND, now=now,
                idempotency_key=f"reassign:{audit.id}:{text.purpose}:{text.to}",
                ordering_key=f"carer-text:{text.to}",
                payload={"to": text.to, "body": text.body, "status_path": "/twilio/status"})
        detail[label] = f"{text.to}: {text.body}"
    audit.detail = detail
    session.flush()
    return plan
