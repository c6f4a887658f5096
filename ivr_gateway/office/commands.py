"""CLI commands for office users: user create / list / unlock / role / deactivate / reactivate /
reset-password, through the same service functions as the dashboard's Office users page; and
display-link create / revoke, as on its Wall screens page."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime

import click
from sqlalchemy.orm import Session

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context
from ivr_gateway.office import accounts, display
from ivr_gateway.office.accounts import create_office_user, list_office_users, unlock_office_user
from ivr_gateway.office.models import OfficeRole


@click.group("user")
def user() -> None:
    """Office dashboard users (/office/)."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in OfficeRole]), required=True,
              help="coordinator: board and visit actions; manager: also PINs and rota "
                   "upload; administrator: also office users and API tokens.")
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
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            created = create_office_user(session, username, password, OfficeRole(role),
                                         now=cli.clock.now(), actor=_actor(),
                                         display_name=display_name, phone=phone)
            name = created.username
    except ValueError as problem:
        raise click.ClickException(f"{problem}.") from None
    click.echo(f"Office user {name!r} created as {role}; log in at /office/.")


@user.command("list")
def list_users() -> None:
    """List office users: name, role, active, locked, last login."""
    cli = cli_context()
    with cli.unit_of_work() as session:
        users = list_office_users(session)
    if not users:
        click.echo("No office users yet; create one with 'ivr-gateway user create NAME --role "
                   "administrator'.")
        return
    now = cli.clock.now()
    for u in users:
        locked = "locked" if u.locked_until and u.locked_until > now else ""
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "never"
        click.echo(f"{u.username:24} {u.role.value:14} {'active' if u.active else 'inactive':9}"
                   f" {locked:7} last login {last}")


@user.command("unlock")
@click.argument("username")
def unlock_user(username: str) -> None:
    """Lift a login lockout after wrong passwords."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            changed = unlock_office_user(session, username,
                                         now=cli.clock.now(), actor=_actor())
    except LookupError as problem:
        raise click.ClickException(f"{problem}; see 'ivr-gateway user list'.") from None
    click.echo(f"{username} unlocked." if changed else f"{username} was not locked.")


def _change(change: Callable[[Session, datetime], object]) -> None:
    """Run one change to an office user in a unit of work at the CLI clock's now; a refusal
    exits with its reason."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            change(session, cli.clock.now())
    except ValueError as problem:
        raise click.ClickException(f"{problem}.") from None
    except LookupError as problem:
        raise click.ClickException(f"{problem}; see 'ivr-gateway user list'.") from None


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in OfficeRole]))
def change_role(username: str, role: str) -> None:
    """Give USERNAME another ROLE (a lower role logs them out everywhere)."""
    _change(lambda session, now: accounts.change_office_user_role(
        session, username, OfficeRole(role), now=now, actor=_actor()))
    click.echo(f"{username} is now a {role}.")


@user.command("deactivate")
@click.argument("username")
def deactivate_user(username: str) -> None:
    """Stop USERNAME logging in and end their sessions."""
    _change(lambda session, now: accounts.deactivate_office_user(
        session, username, now=now, actor=_actor()))
    click.echo(f"{username} deactivated.")


@user.command("reactivate")
@click.argument("username")
def reactivate_user(username: str) -> None:
    """Let USERNAME log in again with their password."""
    _change(lambda session, now: accounts.reactivate_office_user(
        session, username, now=now, actor=_actor()))
    click.echo(f"{username} reactivated.")


@user.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME and end their sessions."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt="Repeat it")
    _change(lambda session, now: accounts.reset_office_user_password(
        session, username, password, now=now, actor=_actor()))
    click.echo(f"New password set for {username}.")


@click.group("display-link")
def display_link() -> None:
    """Read-only wall-screen links to today's board (/office/display-links)."""


@display_link.command("create")
@click.argument("name")
def create_display(name: str) -> None:
    """Make a display link for the screen called NAME and print its address (shown once)."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            _link, token = display.create_display_link(session, name, now=cli.clock.now(),
                                                       actor=_actor())
    except display.DisplayRefused as problem:
        raise click.ClickException(f"{problem}.") from None
    base = cli.settings.public_base_url or "http://127.0.0.1:5000"
    click.echo(f"Open this on the screen (shown only once): {base}/office/display/{token}")


@display_link.command("revoke")
@click.argument("name")
def revoke_display(name: str) -> None:
    """Revoke the display link called NAME: its screen stops at its next refresh."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            display.revoke_display_link(session, name=name, now=cli.clock.now(), actor=_actor())
    except (ValueError, LookupError) as problem:
        raise click.ClickException(f"{problem}.") from None
    click.echo(f"Display link {name!r} revoked.")


commands: list[click.Command] = [user, display_link]
