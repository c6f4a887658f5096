"""Request and response models of /api/v1 (rota and visit-code requests reuse the services'
models: rota/schemas.py, sms/devices.py): the source of the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ivr_gateway.bounds import PG_INT_MAX
from ivr_gateway.rota.loading import MAX_BATCH_ITEMS
from ivr_gateway.rota.schemas import (
    AdultIn,
    AdultView,
    CareWorkerIn,
    CareWorkerView,
    LockoutView,
    PlannedVisitIn,
    PlannedVisitView,
    Ref,
)
from ivr_gateway.sms.devices import TokenView
from ivr_gateway.visits.outcomes import Outcome
from ivr_gateway.visits.summary import VisitSummary

ChangeKind = Literal["created", "updated", "unchanged"]


class FieldError(BaseModel):
    """One field that is wrong, as a path into the request (``landlines[0]``)."""

    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong and what to do about it."""

    code: str = Field(description="validation_error, bad_request, unauthorized, not_found, ...")
    message: str
    fields: list[FieldError] | None = Field(
        default=None, description="Present on validation_error: each field that is wrong."
    )


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorDetail


class AdultResponse(BaseModel):
    """The result of a PUT of an adult."""

    change: ChangeKind
    adult: AdultView


class CareWorkerResponse(BaseModel):
    """The result of a PUT of a care worker, or of an unlock."""

    change: ChangeKind
    care_worker: CareWorkerView


class PlannedVisitResponse(BaseModel):
    """The result of a PUT of a planned visit."""

    change: ChangeKind
    planned_visit: PlannedVisitView


# ------------------------------------------------------------ the rota in batches


class AdultItem(AdultIn):
    """An adult in a batch: the fields of PUT /adults/{ref}, with its kind and ref."""

    kind: Literal["adult"]
    ref: Ref


class CareWorkerItem(CareWorkerIn):
    """A care worker in a batch: the fields of PUT /care-workers/{ref}, with its kind and ref."""

    kind: Literal["care_worker"]
    ref: Ref


class PlannedVisitItem(PlannedVisitIn):
    """A planned visit in a batch: the fields of PUT /planned-visits/{ref}, with kind and ref."""

    kind: Literal["planned_visit"]
    ref: Ref


RotaBatchItem = Annotated[AdultItem | CareWorkerItem | PlannedVisitItem,
                          Field(discriminator="kind")]


class RotaBatchIn(BaseModel):
    """Up to 1,000 adults, care workers and planned visits, upserted by your references.

    They are taken adults first, then care workers, then planned visits (a visit may name an
    adult or carer of the same batch); each item is checked as its single PUT would check it.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "mode": "per_item",
        "items": [
            {"kind": "adult", "ref": "A001", "given_name": "Joan", "family_name": "Smith",
             "landlines": ["020 7946 0001"], "rag": "amber"},
            {"kind": "care_worker", "ref": "C01", "staff_number": "4821", "given_name": "Amy",
             "family_name": "Jones", "mobiles": ["07400 123456"]},
            {"kind": "planned_visit", "ref": "V1001", "adult_ref": "A001",
             "care_worker_refs": ["C01"], "planned_start": "2026-01-13T08:00:00Z",
             "planned_end": "2026-01-13T08:30:00Z"},
        ]}]})

    mode: Literal["all_or_nothing", "per_item"] = Field(
        default="all_or_nothing",
        description="all_or_nothing: one invalid item and nothing is stored (422). per_item: "
        "the valid items are stored and the invalid ones reported (200).")
    items: list[RotaBatchItem] = Field(
        max_length=MAX_BATCH_ITEMS,
        description=f"At most {MAX_BATCH_ITEMS:,} items; more is refused with 413.")


class RotaItemResult(BaseModel):
    """What became of one item of a batch."""

    index: int = Field(description="The item's position in the request's items, from 0.")
    kind: str
    ref: str
    status: Literal["created", "updated", "unchanged", "invalid", "skipped"] = Field(
        description="skipped: valid, but not stored because another item was invalid in "
        "all_or_nothing mode.")
    error: ErrorDetail | None = Field(
        default=None, description="Why an invalid item was refused, field by field (the "
        "single PUT's words); why a skipped one was not stored.")


class RotaBatchCounts(BaseModel):
    """How many items ended each way."""

    created: int
    updated: int
    unchanged: int
    invalid: int
    skipped: int


class RotaBatchResponse(BaseModel):
    """Every item's result, in the order sent; on 422 (all_or_nothing) also the error."""

    mode: Literal["all_or_nothing", "per_item"]
    stored: bool = Field(description="false: nothing of this request was stored.")
    counts: RotaBatchCounts
    items: list[RotaItemResult]
    error: ErrorDetail | None = None


class LockoutsResponse(BaseModel):
    """Carers currently locked out after too many wrong PINs."""

    lockouts: list[LockoutView]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


class CarerActualOut(BaseModel):
    """One carer's actual visit: their log-in and log-out as matched."""

    care_worker_ref: str
    state: str = Field(description="open, closed or missing_log_out")
    started_at: datetime | None
    ended_at: datetime | None
    in_verification: str | None = Field(
        description="caller_id, token_code, sheet_code, office or unverified")
    out_verification: str | None
    match_reason: str


class ExceptionOut(BaseModel):
    """An exception on a visit for the office to review."""

    code: str
    detail: str
    care_worker_ref: str | None
    created_at: datetime
    reviewed: bool


class CouncilVerdictOut(BaseModel):
    """The council's KPI 3 verdict on a planned visit (Essex contract, Schedule 2)."""

    timeliness: str = Field(description="on_time, late, short_of_carer, missed, cancelled, or "
                            "pending (the KPI 3 window is still open)")
    kpi3_met: bool | None = Field(description="null when cancelled or pending")
    because: str = Field(description="Why a visit is missed or short of a carer, in words.")
    window_closes_at: datetime = Field(
        description="By 11 pm local time and before the client's next planned visit "
        "(a time-critical visit: planned start + 30 minutes).")
    differs: bool = Field(description="The council's verdict says something the outcome does "
                          "not (for example outcome late_start, verdict missed).")


class ReasonCodeOut(BaseModel):
    """Whether the visit needs a reason code (cancelled or missed), by when, and what was given."""

    needed: bool
    status: str = Field(description="not_needed, outstanding, overdue, on_time or late")
    due_at: datetime | None = Field(description="REASON_CODE_DUE_HOURS after planned start.")
    code: str | None
    recorded_at: datetime | None


class VisitOut(BaseModel):
    """A planned visit (or an unplanned actual one) with its actual times, outcome, exceptions."""

    ref: str | None = Field(description="The planned visit's ref; null for an unplanned visit.")
    adult_ref: str | None
    adult_initials: str | None
    care_worker_refs: list[str]
    planned_start: datetime | None
    planned_end: datetime | None
    status: str = Field(description="planned, cancelled or unplanned")
    cancel_reason: str | None
    time_critical: bool
    outcome: Outcome = Field(
        description="Where the visit stands. short_of_carer: a double-up (two or more carers "
        "booked) that a carer logged in to but whose carers were not all logged in at the same "
        "time within the missed window; it is in progress or completed only once they were."
    )
    minutes_late: int | None = Field(
        description="Minutes after planned start, when past the late window; for a double-up, "
        "of the moment all its carers were logged in (else of the first log-in).")
    short: bool
    actual_start: datetime | None
    actual_end: datetime | None
    carers_needed: int = Field(description="Carers booked on the visit (2 or more: a double-up).")
    carers_logged_in: int = Field(description="Different carers who logged in to the visit.")
    actuals: list[CarerActualOut]
    exceptions: list[ExceptionOut]
    council_verdict: CouncilVerdictOut | None = Field(
        default=None,
        description="The council's KPI 3 verdict; null for an unplanned visit. The outcome is "
        "the office's status (red-rated clients' windows are halved); both come from one rule.")
    reason_code: ReasonCodeOut | None = Field(default=None,
                                              description="null for an unplanned visit")

    @classmethod
    def of(cls, summary: VisitSummary) -> VisitOut:
        """The API's view of a visit summary, with its verdicts."""
        out = cls.model_validate(summary, from_attributes=True)
        if summary.council is None or summary.ref is None:
            return out.model_copy(update={"council_verdict": None, "reason_code": None})
        council = CouncilVerdictOut(
            timeliness=summary.council.timeliness.value, kpi3_met=summary.council.kpi3_met,
            because=summary.council.because,
            window_closes_at=summary.council.window_closes_at,
            differs=bool(summary.council_note))
        reason = summary.reason
        return out.model_copy(update={"council_verdict": council, "reason_code": ReasonCodeOut(
            needed=reason.needed, status=reason.status.value, due_at=reason.due_at,
            code=reason.code,
            recorded_at=reason.recorded.recorded_at if reason.recorded else None)})


class VisitsResponse(BaseModel):
    """The visits of one local day (Europe/London unless TIMEZONE says otherwise)."""

    date: str = Field(description="The local day asked for, YYYY-MM-DD.")
    timezone: str
    visits: list[VisitOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


class OutboxKindFigures(BaseModel):
    """The outbox figures of one kind of message (ecc, sms, ...)."""

    pending: int
    oldest_pending_age_seconds: float | None
    dead: int
    sent: int


class OutboxFiguresResponse(BaseModel):
    """What monitoring watches: the backlog, its age, dead letters, open forwarding failures."""

    pending: int
    oldest_pending_age_seconds: float | None = Field(
        description="Age of the oldest message still waiting; alarm if it keeps growing.")
    dead: int = Field(description="Messages given up on; `ivr-gateway outbox status` lists them.")
    sent: int
    kinds: dict[str, OutboxKindFigures]
    forwarding_failures_open: int = Field(
        description="Council records refused for good and not yet retried by a person.")


# ------------------------------------------------------------ alerts, contacts, on-call


class NotificationOut(BaseModel):
    """One text or call about an alert."""

    recipient: str = Field(description="Contact name, or 'carer A.J.' for the carer's reminder.")
    step: str = Field(description="carer, coordinator, on_call, manager, resolved, acknowledged")
    purpose: str
    channel: Literal["sms", "voice"]
    status: str = Field(description=(
        "queued; sent once Twilio took it; then Twilio's word from its status callbacks: "
        "delivered, undelivered, failed (texts), completed, no-answer, busy, failed (calls). "
        "unreachable: not sent, the phone texted STOP; summarised: in a storm, told in one "
        "summary text to that phone; refused: Twilio refused the number."))
    created_at: datetime
    status_at: datetime | None


class AlertOut(BaseModel):
    """An alert with its ladder level and who was told, when."""

    id: int
    number: int = Field(description="The short number in texts: reply 'ACK <number>'.")
    kind: str
    state: Literal["open", "acknowledged", "resolved"] = Field(
        description="A carer_concern goes from open to resolved when it is acknowledged.")
    level: int = Field(description="Ladder rungs taken so far (0: nobody told yet).")
    summary: str
    planned_visit_ref: str | None
    raised_at: datetime
    deadline_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None
    acknowledged_note: str | None = Field(description="What the person who acknowledged did.")
    resolved_at: datetime | None
    resolved_reason: str | None
    notifications: list[NotificationOut]


class AlertsResponse(BaseModel):
    """Alerts, newest first."""

    alerts: list[AlertOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


class AcknowledgeIn(BaseModel):
    """Who is acknowledging (defaults to the API token's name), and an optional note.

    Acknowledging a carer_concern alert also resolves it: the note says what was done.
    """

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=1000,
                             description="What was done, e.g. 'rang her daughter, GP booked'.")


class AcknowledgeResponse(BaseModel):
    """The alert after the acknowledgement; acknowledged is false if someone was first."""

    acknowledged: bool
    message: str
    alert: AlertOut


class ContactIn(BaseModel):
    """A new office contact."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Literal["coordinator", "on_call", "manager"]
    mobile: str = Field(description="A UK mobile; alerts are texted and rung to it.")


class ContactOut(BaseModel):
    """An office contact."""

    id: int
    name: str
    role: str
    mobile: str
    active: bool


class ContactResponse(BaseModel):
    """One contact."""

    contact: ContactOut


class ContactsResponse(BaseModel):
    """Every contact."""

    contacts: list[ContactOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


class OnCallIn(BaseModel):
    """An on-call period for a contact (UTC instants; at most 14 days)."""

    model_config = ConfigDict(extra="forbid")

    # Within the id column (PostgreSQL integer): a larger number is no contact, said as a 422
    # rather than a database overflow.
    contact_id: int = Field(ge=1, le=PG_INT_MAX)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class OnCallOut(BaseModel):
    """An on-call period."""

    id: int
    contact_id: int
    contact_name: str
    starts_at: datetime
    ends_at: datetime


class OnCallResponse(BaseModel):
    """One on-call period."""

    on_call_period: OnCallOut


class OnCallListResponse(BaseModel):
    """On-call periods overlapping the asked-for time."""

    on_call_periods: list[OnCallOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


# ------------------------------------------------------------ texts, visit-code tokens


class TokenResponse(BaseModel):
    """The result of a PUT of a visit-code token."""

    change: Literal["created", "updated", "unchanged"]
    token: TokenView


class TextOut(BaseModel):
    """An inbound text, matched or not: evidence for the office."""

    message_sid: str
    from_number: str
    received_at: datetime
    body: str
    care_worker_ref: str | None = Field(description="null: the mobile is not registered.")
    adult_ref: str | None
    adult_initials: str | None
    command: str = Field(description="in, out, code, text, help, ack, stop, start")
    status: str = Field(description="logged, unregistered, no_code, unknown_code, check_code, "
                                    "used_code, too_old, other_client, sheet_retired, no_visit, "
                                    "locked, help, ack, opted_out, opted_in, fault")
    needs_office: bool = Field(description="true: the office should look at this text.")
    detail: str
    reply: str = Field(description="The reply texted back (empty: none).")
    log_event_id: int | None


class TextsResponse(BaseModel):
    """The texts of one local day."""

    date: str
    timezone: str
    texts: list[TextOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


class OptOutOut(BaseModel):
    """A number that texted STOP: it receives no texts from the gateway until START."""

    number: str
    care_worker_ref: str | None
    since: datetime


class OptOutsResponse(BaseModel):
    """Numbers that cannot receive texts now."""

    opt_outs: list[OptOutOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")
