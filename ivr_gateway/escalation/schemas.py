"""API models of the escalation: alerts, office contacts, on-call periods (the OpenAPI source)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class NotificationOut(BaseModel):
    """One text or call about an alert."""

    recipient: str = Field(description="Contact name, or 'carer A.J.' for the carer's reminder.")
    step: str = Field(description="carer, coordinator, on_call, manager, resolved, acknowledged")
    purpose: str
    channel: Literal["sms", "voice"]
    status: str = Field(description="queued, then Twilio's word: sent, delivered, failed, ...")
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


class OnCallIn(BaseModel):
    """An on-call period for a contact (UTC instants; at most 14 days)."""

    model_config = ConfigDict(extra="forbid")

    contact_id: int
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
