"""CLI commands of the API: api-token create / list / revoke."""

from __future__ import annotations

from datetime import datetime

import click

from ivr_gateway.api.tokens import TokenRefused, create_api_token, list_api_tokens, revoke_api_token
from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context


@click.group("api-token")
def api_token() -> None:
    """Bearer tokens for rostering systems calling /api/v1."""


@api_token.command("create")
@click.argument("name")
def create_token(name: str) -> None:
    """Create a token called NAME and print it once (only its hash is kept)."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            token, secret = create_api_token(session, name, now=cli.clock.now(), actor=_actor())
            name = token.name
    except TokenRefused as refused:
        raise click.ClickException(f"{str(refused)[:1].upper()}{str(refused)[1:]}.") from None
    click.echo(f"Token {name!r} created. Copy it now: it is shown only this once.")
    click.echo(secret)


@api_token.command("list")
def list_tokens() -> None:
    """List tokens: name, created, last used, revoked (never the token itself)."""
    cli = cli_context()
    with cli.unit_of_work() as session:
        tokens = list_api_tokens(session)
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
    try:
        with cli.unit_of_work() as session:
            revoke_api_token(session, name=name, now=cli.clock.now(), actor=_actor())
    except LookupError:
        raise click.ClickException(
            f"There is no token called {name!r}; see 'ivr-gateway api-token list'.") from None
    except TokenRefused:
        click.echo(f"Token {name!r} was already revoked.")
        return
    click.echo(f"Token {name!r} revoked.")


commands: list[click.Command] = [api_token]
