"""What the dashboard shows from other capabilities that may not be installed yet: alerts (with the
on-call rota) and visit codes (tokens and code sheets).

Each is a small interface with a "none yet" implementation, so the pages say plainly that the
capability is not there rather than failing. When the escalation package (alerts) or the SMS
package (tokens, code sheets) lands, it provides an implementation and registers it with
``register_alert_source(app, ...)`` / ``register_code_source(app, ...)`` in the app factory.
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

    available: bool  # False: the escalation capability is not installed

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


class NoAlerts:
    """No escalation capability yet: no alerts, no on-call rota."""

    available = False

    def alerts_for_visits(self, session: Session, planned_visit_refs: list[str]
                          ) -> dict[str, list[AlertView]]:
        """No alerts for any visit."""
        return {}

    def open_alerts(self, session: Session, day: date) -> list[AlertView]:
        """No open alerts."""
        return []

    def acknowledged_without_visit(self, session: Session, day: date) -> list[AlertView]:
        """No acknowledged alerts."""
        return []

    def acknowledge(self, session: Session, alert_id: int, actor: str, now: datetime,
                    note: str | None = None) -> AlertView:
        """Nothing to acknowledge."""
        raise LookupError("Alerts are not switched on in this gateway yet.")

    def on_call(self, session: Session, start: datetime, end: datetime) -> list[OnCallPeriod]:
        """No on-call rota."""
        return []


@dataclass(frozen=True)
class CodeDevice:
    """A visit-code token or a printed code sheet kept in a client's home."""

    kind: str  # token | sheet
    label: str  # token serial or sheet number
    status: str  # active | retired | ...
    detail: str = ""


class CodeSource(Protocol):
    """Tokens and code sheets registered to clients (the SMS capability)."""

    available: bool

    def devices_for_adult(self, session: Session, adult_ref: str) -> list[CodeDevice]:
        """The tokens and sheets registered to a client."""
        ...

    def code_sheet_html(self, session: Session, adult_ref: str, actor: str, now: datetime
                        ) -> str:
        """A new printable code sheet for the client, as a whole HTML page."""
        ...


class NoCodes:
    """No SMS capability yet: no tokens, no code sheets."""

    available = False

    def devices_for_adult(self, session: Session, adult_ref: str) -> list[CodeDevice]:
        """No devices."""
        return []

    def code_sheet_html(self, session: Session, adult_ref: str, actor: str, now: datetime
                        ) -> str:
        """Nothing to print."""
        raise LookupError("Code sheets are not switched on in this gateway yet.")


def register_alert_source(app: Flask, source: AlertSource) -> None:
    """Make the dashboard show and acknowledge alerts from this source."""
    app.extensions["office.alert_source"] = source


def register_code_source(app: Flask, source: CodeSource) -> None:
    """Make the dashboard show tokens and print code sheets from this source."""
    app.extensions["office.code_source"] = source


def alert_source() -> AlertSource:
    """The running app's alert source (NoAlerts until one is registered)."""
    return cast(AlertSource, current_app.extensions.get("office.alert_source", NoAlerts()))


def code_source() -> CodeSource:
    """The running app's code source (NoCodes until one is registered)."""
    return cast(CodeSource, current_app.extensions.get("office.code_source", NoCodes()))
