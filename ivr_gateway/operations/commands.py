"""`ivr-gateway retention purge`: remove personal data past its retention (dry run by default)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click

from ivr_gateway.commandline import cli_actor, cli_context
from ivr_gateway.operations.retention import DEFAULT_RETENTION, purge_personal_data


def _period(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,5})d?", value.strip())
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter("a number of days, for example 90d")
    return timedelta(days=int(match.group(1)))


@click.group()
def retention() -> None:
    """Personal data kept only as long as needed (SECURITY.md, "Personal data")."""


@retention.command()
@click.option("--older-than", default=f"{DEFAULT_RETENTION.days}d", show_default=True,
              callback=_period, help="Age in days (90d) past which the data goes.")
@click.option("--apply", is_flag=True, help="Remove it (without this, only say what would go).")
def purge(older_than: timedelta, apply: bool) -> None:
    """Remove recorded concerns' audio links and texts from unknown mobiles past the period."""
    context = cli_context()
    with context.unit_of_work() as session:
        report = purge_personal_data(session, now=context.clock.now(), older_than=older_than,
                                     apply=apply, actor=cli_actor())
    verb = "Removed" if apply else "Would remove (dry run; --apply to remove)"
    click.echo(f"{verb}, older than {report.cutoff:%Y-%m-%d %H:%M} UTC: "
               f"{report.recordings} recorded concern(s), "
               f"{report.unregistered_texts} text(s) from unregistered mobiles.")
    if report.recording_sids:
        click.echo("Delete these recordings at Twilio too (console, or DELETE "
                   "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}): "
                   + ", ".join(report.recording_sids))


@click.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
def backup(destination: Path) -> None:
    """Back up the database to a new file (SQLite's backup API, or pg_dump -Fc)."""
    from ivr_gateway.operations.backup import BackupError, back_up

    try:
        back_up(cli_context().settings.database_url, destination)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up to {destination} ({destination.stat().st_size} bytes). Restore: "
               "SECURITY.md, \"Backup and restore\".")


commands = [retention, backup]
