"""`ivr-gateway`: the one command-line entry, with a subcommand per job."""

from __future__ import annotations

import click

from ivr_gateway.api.commands import commands as api_commands
from ivr_gateway.rota.commands import commands as rota_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ivr-gateway: carers log home-care visits by phone call or text."""


@main.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL, default instance/ SQLite) to the newest schema."""
    from ivr_gateway.config import load_settings
    from ivr_gateway.migrate import upgrade_database

    settings = load_settings()
    upgrade_database(settings.database_url)
    click.echo("Database is at the newest schema.")


for _command in [*api_commands, *rota_commands]:
    main.add_command(_command)
