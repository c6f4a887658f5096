"""`ivr-gateway spool status|replay`: the outage spool from the command line."""

from __future__ import annotations

import click

from ivr_gateway.commandline import cli_context
from ivr_gateway.telephony.spool import Spool


@click.group("spool")
def spool() -> None:
    """The outage spool: calls and texts kept on disk while the database was down."""


@spool.command("status")
def status() -> None:
    """How many items wait (and since when), and what the replays made of earlier ones."""
    from ivr_gateway.outage.replay import replay_counts

    context = cli_context()
    settings = context.settings
    depth = Spool(settings.spool_dir).depth()
    now = context.clock.now()
    click.echo(f"spool: {settings.spool_dir}")
    if depth.oldest_at is None:
        click.echo("waiting: 0")
    else:
        local = depth.oldest_at.astimezone(settings.tz)
        click.echo(f"waiting: {depth.depth}, the oldest from {local:%Y-%m-%d %H:%M:%S} "
                   f"({depth.oldest_age_seconds(now)} s ago)")
    if depth.unreadable:
        click.echo(f"unreadable files: {depth.unreadable} (see the log)")
    try:
        counts = replay_counts(context.database)
    except Exception as error:  # the database may be the reason items wait
        click.echo(f"replayed: unknown (database: {type(error).__name__})")
        return
    click.echo("replayed: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                               or "none"))


@spool.command("replay")
def replay() -> None:
    """Record every waiting item now, in order (the scheduler also does this by itself)."""
    from ivr_gateway.outage.replay import replay_spool

    context = cli_context()
    report = replay_spool(context.database, context.settings, context.clock)
    click.echo(report.summary())
    if report.stopped and report.waiting:
        raise SystemExit(1)


commands = [spool]
