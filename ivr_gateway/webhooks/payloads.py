"""The JSON of the change feed's entries: the same body in GET /api/v1/changes and in a webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ivr_gateway.visits.feed import FeedEntry, FeedPage
from ivr_gateway.visits.summary import VisitSummary


class FeedCouncilVerdict(BaseModel):
    """The council's KPI 3 verdict on the planned visit, judged when the entry was read."""

    timeliness: str = Field(description="on_time, late, short_of_carer, missed, cancelled, or "
                            "pending (the KPI 3 window is still open)")
    kpi3_met: bool | None
    because: str
    window_closes_at: datetime


class FeedReasonCode(BaseModel):
    """Whether the visit needs a reason code (cancelled or missed), by when, what was given."""

    needed: bool
    status: str = Field(description="not_needed, outstanding, overdue, on_time or late")
    due_at: datetime | None
    code: str | None


class FeedVisit(BaseModel):
    """The planned visit as it stands, with the domain's verdicts (judge_visit)."""

    model_config = ConfigDict(from_attributes=True)

    ref: str
    adult_ref: str | None
    adult_initials: str | None
    care_worker_refs: list[str]
    planned_start: datetime | None
    planned_end: datetime | None
    status: str = Field(description="planned or cancelled")
    cancel_reason: str | None
    time_critical: bool
    outcome: str = Field(description="The office's status: scheduled, late_start, in_progress, "
                         "completed, missed, cancelled, short_of_carer, ...")
    minutes_late: int | None
    short: bool
    actual_start: datetime | None
    actual_end: datetime | None
    carers_needed: int
    carers_logged_in: int
    council_verdict: FeedCouncilVerdict | None = None
    reason_code: FeedReasonCode | None = None

    @classmethod
    def of(cls, summary: VisitSummary) -> FeedVisit:
        """A planned visit's summary with its verdicts."""
        out = cls.model_validate(summary)
        council = summary.council
        reason = summary.reason
        return out.model_copy(update={
            "council_verdict": FeedCouncilVerdict(
                timeliness=council.timeliness.value, kpi3_met=council.kpi3_met,
                because=council.because, window_closes_at=council.window_closes_at)
            if council is not None else None,
            "reason_code": FeedReasonCode(needed=reason.needed, status=reason.status.value,
                                          due_at=reason.due_at, code=reason.code)})


class FeedActualVisit(BaseModel):
    """One carer's actual visit as it stands; removed: a correction took it away."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    care_worker_ref: str | None
    planned_visit_ref: str | None = Field(description="null: unplanned (no rota entry)")
    removed: bool
    state: str | None = Field(description="open, closed or missing_log_out")
    started_at: datetime | None
    ended_at: datetime | None
    in_verification: str | None
    out_verification: str | None


class FeedLogEvent(BaseModel):
    """A log-in or log-out as captured (evidence is never changed)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="in or out")
    channel: str = Field(description="ivr, sms or office")
    care_worker_ref: str
    event_time: datetime = Field(description="When presence was proven (UTC).")
    received_at: datetime
    verification: str = Field(description="caller_id, token_code, sheet_code, office or "
                              "unverified")
    superseded: bool = Field(description="A later event replaced it (e.g. the carer's own fix).")


class ChangeEntry(BaseModel):
    """One change to a visit, in the feed's order."""

    position: str = Field(description="This entry's cursor: read on from here with after=.")
    type: str = Field(description="log_event.recorded, actual_visit.changed, visit.corrected, "
                      "reason_code.recorded, planned_visit.changed or planned_visit.cancelled")
    recorded_at: datetime
    planned_visit_ref: str | None = Field(description="The planned visit it belongs to now; "
                                          "null for an unplanned visit.")
    visit: FeedVisit | None = Field(description="That planned visit as it stands now.")
    actual_visit: FeedActualVisit | None
    log_event: FeedLogEvent | None
    detail: dict[str, Any] = Field(description="For a correction or reason code: who, when, "
                                   "why, and each field's [before, after].")

    @classmethod
    def of(cls, entry: FeedEntry) -> ChangeEntry:
        """The JSON view of a feed entry."""
        return cls(position=entry.position.cursor(), type=entry.type,
                   recorded_at=entry.recorded_at, planned_visit_ref=entry.planned_visit_ref,
                   visit=FeedVisit.of(entry.visit) if entry.visit is not None else None,
                   actual_visit=FeedActualVisit.model_validate(entry.actual_visit)
                   if entry.actual_visit is not None else None,
                   log_event=FeedLogEvent.model_validate(entry.log_event)
                   if entry.log_event is not None else None,
                   detail=entry.detail)


class WebhookDelivery(BaseModel):
    """The body of a webhook delivery (Standard Webhooks' suggested shape)."""

    type: str = Field(description="The entry's type (the event type subscribed to).")
    timestamp: datetime = Field(description="When the change was recorded.")
    data: ChangeEntry


class ChangesResponse(BaseModel):
    """A page of the change feed."""

    changes: list[ChangeEntry]
    next_cursor: str = Field(description="Pass as after= for the next page; keep it (it is "
                             "your place in the feed, good across restarts).")
    more: bool = Field(description="true: read the next page now; false: you are up to date, "
                       "poll again in a while.")

    @classmethod
    def of(cls, page: FeedPage) -> ChangesResponse:
        """The JSON view of a page."""
        return cls(changes=[ChangeEntry.of(e) for e in page.entries],
                   next_cursor=page.next_position.cursor(), more=page.more)
