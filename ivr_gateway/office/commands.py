"""CLI commands for office users: user create / list / unlock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from sqlalchemy import select

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.config import load_settings
from ivr_gateway.db import Database
from ivr_gateway.office.auth import create_office_user, unlock_office_user
from ivr_gateway.office.models import OfficeRole, OfficeUser


@click.group("user")
def user() -> None:
    """Office dashboard users (/office/)."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in OfficeRole]), required=True,
              help="coordinator: board and visit actions; manager: also PINs and rota "
                   "upload; administrator: also API tokens.")
@click.option("--name", "display_name", default="", help="The name shown on the dashboard.")
@click.option("--phone", default=None, help="Phone for alerts (E.164).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def create_user(username: str, role: str, display_name: str, phone: str | None,
                password_stdin: bool) -> None:
    """Create an office user who logs in at /office/ with USERNAME and a password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat it")
    database = Database(load_settings().database_url)
    try:
        with database.unit_of_work() as session:
            created = create_office_user(session, username, password, OfficeRole(role),
                                         now=datetime.now(UTC), actor=_actor(),
                                         display_name=display_name, phone=phone)
            name = created.username
    except ValueError as problem:
        raise click.ClickException(f"{problem}.") from None
    finally:
        database.dispose()
    click.echo(f"Office user {name!r} created as {role}; log in at /office/.")


@user.command("list")
def list_users() -> None:
    """List office users: name, role, active, locked, last login."""
    database = Database(load_settings().database_url)
    try:
        with database.unit_of_work() as session:
            users = session.scalars(select(OfficeUser).order_by(OfficeUser.username)).all()
    finally:
        database.dispose()
    if not users:
        click.echo("No office users yet; create one with 'ivr-gateway user create NAME --role "
                   "administrator'.")
        return
    now = datetime.now(UTC)
    for u in users:
        locked = "locked" if u.locked_until and u.locked_until > now else ""
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "never"
        click.echo(f"{u.username:24} {u.role.value:14} {'active' if u.active else 'inactive':9}"
                   f" {locked:7} last login {last}")


@user.command("unlock")
@click.argument("username")
def unlock_user(username: str) -> None:
    """Lift a login lockout after wrong passwords."""
    database = Database(load_settings().database_url)
    try:
        with database.unit_of_work() as session:
            changed = unlock_office_user(session, username.strip().lower(),
                                         now=datetime.now(UTC), actor=_actor())
    except LookupError as problem:
        raise click.ClickException(f"{problem}; see 'ivr-gateway user list'.") from None
    finally:
        database.dispose()
    click.echo(f"{username} unlocked." if changed else f"{username} was not locked.")


commands: list[click.Command] = [user]
