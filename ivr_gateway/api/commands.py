"""CLI commands of the API: api-token create / list / revoke."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context
from ivr_gateway.hashing import hash_api_token, new_api_token
from ivr_gateway.models import ApiToken, AuditEntry


@click.group("api-token")
def api_token() -> None:
    """Bearer tokens for rostering systems calling /api/v1."""


@api_token.command("create")
@click.argument("name")
def create_token(name: str) -> None:
    """Create a token called NAME and print it once (only its hash is kept)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise click.UsageError("NAME must be 1 to 100 characters, e.g. the rostering system.")
    token = new_api_token()
    cli = cli_context()
    now = cli.clock.now()
    with cli.unit_of_work() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise click.ClickException(
                f"A token called {name!r} already exists; choose another name, or revoke "
                f"it first with 'ivr-gateway api-token revoke {name}'.")
        session.add(ApiToken(name=name, token_hash=hash_api_token(token), created_at=now))
        session.add(AuditEntry(at=now, actor=_actor(), action="create", entity="api_token",
                               entity_ref=name[:64], detail={}))
    click.echo(f"Token {name!r} created. Copy it now: it is shown only this once.")
    click.echo(token)


@api_token.command("list")
def list_tokens() -> None:
    """List tokens: name, created, last used, revoked (never the token itself)."""
    cli = cli_context()
    with cli.unit_of_work() as session:
        tokens = session.scalars(select(ApiToken).order_by(ApiToken.name)).all()
    if not tokens:
        click.echo("No API tokens yet; create one with 'ivr-gateway api-token create NAME'.")
        return

    def when(at: datetime | None) -> str:
        return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"

    click.echo(f"{'NAME':30} {'CREATED':20} {'LAST USED':20} REVOKED")
    for token in tokens:
        click.echo(f"{token.name:30} {when(token.created_at):20} {when(token.last_used_at):20} "
                   f"{when(token.revoked_at)}")


@api_token.command("revoke")
@click.argument("name")
def revoke_token(name: str) -> None:
    """Revoke the token called NAME: requests with it are refused from now on."""
    cli = cli_context()
    now = cli.clock.now()
    with cli.unit_of_work() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if token is None:
            raise click.ClickException(
                f"There is no token called {name!r}; see 'ivr-gateway api-token list'.")
        if token.revoked_at is not None:
            click.echo(f"Token {name!r} was already revoked.")
            return
        token.revoked_at = now
        session.add(AuditEntry(at=now, actor=_actor(), action="revoke", entity="api_token",
                               entity_ref=name[:64], detail={}))
    click.echo(f"Token {name!r} revoked.")


commands: list[click.Command] = [api_token]
