"""What the dashboard shows from other capabilities: alerts (with the on-call rota) and visit
codes (tokens and code sheets).

Each is a small interface, so the office package imports neither escalation nor sms: the app
factory registers the escalation package's alert source and the SMS package's code source with
``register_alert_source(app, ...)`` / ``register_code_source(app, ...)``. A page asking for a
source nobody registered is a wiring mistake, and fails saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, cast

from flask import Flask, current_app
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Notification:
    """One time somebody was told about an alert."""

    at: datetime
    to: str  # whom: a name or role, never a carer's PIN or a client's full name
    channel: str  # sms | voice | dashboard | email
    status: str  # queued | sent | delivered | failed ...
    role: str = ""  # the rung they were told on: carer | coordinator | on_call | manager


@dataclass(frozen=True)
class AlertView:
    """An alert as the dashboard shows it."""

    id: int
    kind: str  # late_start | missed_visit | missing_log_out | reason_code_due | ...
    planned_visit_ref: str | None
    raised_at: datetime
    level: int
    summary: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_note: str | None = None  # what the person who took it did about it
    resolved_at: datetime | None = None
    notifications: list[Notification] = field(default_factory=list)
    number: int = 0  # the short number the texts and calls give ("Reply ACK 4821")
    reached: str = ""  # the highest rung told so far (carer | coordinator | on_call | manager)

    @property
    def open(self) -> bool:
        """Neither acknowledged nor resolved."""
        return self.acknowledged_at is None and self.resolved_at is None


@dataclass(frozen=True)
class OnCallPeriod:
    """Someone on call for a time."""

    person: str
    phone: str
    starts_at: datetime
    ends_at: datetime


class AlertSource(Protocol):
    """Alerts raised by the escalation rules, and the on-call rota they climb."""

    def alerts_for_visits(self, session: Session, planned_visit_refs: list[str]
                          ) -> dict[str, list[AlertView]]:
        """Alerts per planned visit reference (every alert, open or not)."""
        ...

    def open_alerts(self, session: Session, day: date) -> list[AlertView]:
        """Alerts not yet acknowledged or resolved, raised on the local day."""
        ...

    def acknowledged_without_visit(self, session: Session, day: date) -> list[AlertView]:
        """Alerts tied to no visit (the visit page cannot show them) acknowledged on the local
        day, latest first."""
        ...

    def acknowledge(self, session: Session, alert_id: int, actor: str, now: datetime,
                    note: str | None = None) -> AlertView:
        """Acknowledge an alert (stops it climbing), with an optional note of what was done, and
        audit it (the source does, as for its other doors); LookupError if there is no such
        alert, ActionRefused (saying who took it, or how it settled) if it is no longer open."""
        ...

    def on_call(self, session: Session, start: datetime, end: datetime) -> list[OnCallPeriod]:
        """On-call periods overlapping [start, end)."""
        ...


@dataclass(frozen=True)
class CodeDevice:
    """A visit-code token or a printed code sheet kept in a client's home."""

    kind: str  # token | sheet
    label: str  # token serial or sheet number
    status: str  # active | retired | ...
    detail: str = ""


class CodeSource(Protocol):
    """Tokens and code sheets registered to clients (the SMS capability)."""

    def devices_for_adult(self, session: Session, adult_ref: str) -> list[CodeDevice]:
        """The tokens and sheets registered to a client."""
        ...

    def code_sheet_html(self, session: Session, adult_ref: str, actor: str, now: datetime
                        ) -> str:
        """A new printable code sheet for the client, as a whole HTML page."""
        ...


def register_alert_source(app: Flask, source: AlertSource) -> None:
    """Make the dashboard show and acknowledge alerts from this source."""
    app.extensions["office.alert_source"] = source


def register_code_source(app: Flask, source: CodeSource) -> None:
    """Make the dashboard show tokens and print code sheets from this source."""
    app.extensions["office.code_source"] = source


def alert_source() -> AlertSource:
    """The running app's alert source (registered by the app factory)."""
    return cast(AlertSource, _registered("office.alert_source", "register_alert_source"))


def code_source() -> CodeSource:
    """The running app's code source (registered by the app factory)."""
    return cast(CodeSource, _registered("office.code_source", "register_code_source"))


def _registered(key: str, register: str) -> object:
    try:
        return current_app.extensions[key]
    except KeyError:
        raise RuntimeError(f"No {key.removeprefix('office.').replace('_', ' ')} is registered "
                           f"with this app: call {register}(app, ...) in the app factory"
                           ) from None
