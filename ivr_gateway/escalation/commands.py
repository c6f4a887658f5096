"""CLI commands of the escalation: contacts, on-call periods, alerts, reason codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context
from ivr_gateway.config import Settings
from ivr_gateway.escalation import contacts as contact_service
from ivr_gateway.escalation.acknowledgement import acknowledge
from ivr_gateway.escalation.contacts import ContactError
from ivr_gateway.escalation.models import Alert, AlertState
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.reason_codes import record_reason_code


@contextmanager
def _session() -> Iterator[Session]:
    try:
        with cli_context().unit_of_work() as session:
            yield session
    except ContactError as error:
        raise click.ClickException(error.message) from None


def _settings() -> Settings:
    return cli_context().settings


def _now() -> datetime:
    return cli_context().clock.now()


def _when(text: str, settings: Settings) -> datetime:
    """'2026-01-13 18:00' (local wall clock) or an ISO time with a zone."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time like '2026-01-13 18:00'") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=settings.tz)  # wall clock in TIMEZONE (fold=0 when doubled)
    return value.astimezone(UTC)


@click.group("contacts")
def contacts() -> None:
    """Office contacts the alert ladder reaches (coordinator, on_call, manager)."""


@contacts.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["coordinator", "on_call", "manager"]))
@click.option("--mobile", required=True, help="A mobile number, e.g. 07700 900123.")
def add_contact(name: str, role: str, mobile: str) -> None:
    """Add an office contact called NAME."""
    with _session() as session:
        contact = contact_service.add_contact(session, name=name, role=role, mobile=mobile,
                                              now=_now(), actor=_actor())
        click.echo(f"Contact {contact.id}: {contact.name}, {contact.role.value}, "
                   f"{contact.mobile}")


@contacts.command("list")
def list_contacts() -> None:
    """List office contacts."""
    with _session() as session:
        for c in contact_service.list_contacts(session):
            click.echo(f"{c.id:>4}  {c.role.value:<12} {c.mobile:<14} {c.name}"
                       f"{'' if c.active else '  (inactive)'}")


@contacts.command("deactivate")
@click.argument("contact_id", type=int)
def deactivate_contact(contact_id: int) -> None:
    """Take a contact off the ladder (history kept)."""
    with _session() as session:
        contact_service.set_contact_active(session, contact_id, False, _now(),
                                           _actor())
        click.echo(f"Contact {contact_id} is off the ladder.")


@click.group("on-call")
def on_call() -> None:
    """On-call periods: who is rung out of office hours."""


@on_call.command("add")
@click.argument("contact_id", type=int)
@click.option("--from", "starts", required=True, help="Start, local time: '2026-01-13 18:00'.")
@click.option("--to", "ends", required=True, help="End, local time: '2026-01-14 08:00'.")
def add_on_call(contact_id: int, starts: str, ends: str) -> None:
    """Put contact CONTACT_ID on call from --from to --to (local wall-clock times)."""
    settings = _settings()
    with _session() as session:
        period = contact_service.add_on_call(
            session, contact_id=contact_id, starts_at=_when(starts, settings),
            ends_at=_when(ends, settings), now=_now(), actor=_actor())
        click.echo(f"On-call period {period.id}: {period.contact.name}, "
                   f"{period.starts_at.astimezone(settings.tz):%a %d %b %H:%M} to "
                   f"{period.ends_at.astimezone(settings.tz):%a %d %b %H:%M}")


@on_call.command("list")
@click.option("--days", default=7, show_default=True, type=int)
def list_on_call(days: int) -> None:
    """On-call periods from now for --days days."""
    settings = _settings()
    now = _now()
    with _session() as session:
        for p in contact_service.on_call_periods(session, now, now + timedelta(days=days)):
            click.echo(f"{p.id:>4}  {p.starts_at.astimezone(settings.tz):%a %d %b %H:%M} - "
                       f"{p.ends_at.astimezone(settings.tz):%a %d %b %H:%M}  {p.contact.name}")


@on_call.command("remove")
@click.argument("period_id", type=int)
def remove_on_call(period_id: int) -> None:
    """Remove on-call period PERIOD_ID."""
    with _session() as session:
        contact_service.remove_on_call(session, period_id, _now(), _actor())
        click.echo(f"On-call period {period_id} removed.")


@click.group("alerts")
def alerts() -> None:
    """Alerts raised by the scheduler."""


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved alerts.")
def list_alerts(show_all: bool) -> None:
    """Unresolved alerts (newest first)."""
    settings = _settings()
    with _session() as session:
        query = select(Alert).order_by(Alert.id.desc()).limit(200)
        if not show_all:
            query = query.where(Alert.state != AlertState.RESOLVED)
        for a in session.scalars(query):
            click.echo(f"#{a.number} (id {a.id}) {a.state.value:<12} level {a.level}  "
                       f"{a.raised_at.astimezone(settings.tz):%d %b %H:%M}  {a.summary}")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", default=None, help="Who is acknowledging (default: your login).")
@click.option("--note", default=None, help="What was done (kept on the alert).")
def ack_alert(alert_id: int, by: str | None, note: str | None) -> None:
    """Acknowledge alert ALERT_ID (its id, as `alerts list` shows); closes a carer's concern."""
    settings = _settings()
    with _session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise click.ClickException(f"No alert with id {alert_id}; see 'alerts list'.")
        result = acknowledge(session, alert, by=by or _actor(), via="cli",
                             now=_now(), settings=settings, note=note, actor=_actor())
        click.echo(result.message)


@click.command("reason-code")
@click.argument("visit_ref")
@click.argument("code")
@click.option("--note", default="", help="A short note for the council.")
def reason_code(visit_ref: str, code: str, note: str) -> None:
    """Record why planned visit VISIT_REF was missed or cancelled (settles its alerts)."""
    settings = _settings()
    try:
        with _session() as session:
            record_reason_code(session, visit_ref, code, note, settings=settings,
                               now=_now(), actor=_actor())
    except ActionRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Reason {code!r} recorded for {visit_ref}.")


commands: list[click.Command] = [contacts, on_call, alerts, reason_code]
