"""`ivr-gateway`: the one command-line entry, with a subcommand per job."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ivr_gateway.commandline import CliContext, cli_context
from ivr_gateway.config import (
    INSTANCE_DIR,
    default_sqlite_url,
)

if TYPE_CHECKING:  # the scheduler's types only: `ivr-gateway --help` imports none of it
    from apscheduler.schedulers.base import BaseScheduler

    from ivr_gateway.clock import Clock
    from ivr_gateway.config import Settings
    from ivr_gateway.db import Database

# Each package's commands (its commands.py `commands` list), by name, imported only when one of
# them runs: `codes now` loads the SMS package, not the council's, the office's and Flask (a
# second of start-up, and a TOTP code ageing meanwhile). With each, its one-line help, so that
# `ivr-gateway --help` imports none of them either. tests/test_cli.py checks this table against
# the packages' lists and their commands' own help.
PACKAGE_COMMANDS: dict[str, dict[str, str]] = {
    "ivr_gateway.api.commands": {
        "api-token": "Bearer tokens for rostering systems calling /api/v1."},
    "ivr_gateway.rota.commands": {
        "import-rota": "Import planned visits (with their adults and carers) from a CSV FILE "
                       "(docs/rota-csv.md).",
        "care-worker": "Office tasks for one care worker."},
    "ivr_gateway.sms.commands": {
        "codes": "Visit codes: tokens (key-fobs) and printed code sheets kept in clients' "
                 "homes."},
    "ivr_gateway.office.commands": {
        "user": "Office dashboard users (/office/).",
        "display-link": "Read-only wall-screen links to today's board (/office/display-links)."},
    "ivr_gateway.ecc.commands": {
        "relay": "Deliver queued council records to ECC_API_URL (Procfile `relay`).",
        "mock-ecc": "Run the mock council API; change its faults live with PUT /admin/faults.",
        "report": "Reports for the council and the office.",
        "outbox": "What is waiting to leave the building (council records, texts, calls).",
        "ecc-schema": "Print the JSON Schema of the council records (docs/ecc-schema/ holds a "
                      "copy)."},
    "ivr_gateway.escalation.commands": {
        "contacts": "Office contacts the alert ladder reaches (coordinator, on_call, manager).",
        "on-call": "On-call periods: who is rung out of office hours.",
        "alerts": "Alerts raised by the scheduler.",
        "reason-code": "Record why planned visit VISIT_REF was missed or cancelled (settles its "
                       "alerts)."},
    "ivr_gateway.outage.commands": {
        "spool": "The outage spool: calls and texts kept on disk while the database was down."},
    "ivr_gateway.webhooks.commands": {
        "webhooks": "Signed outbound webhooks: the change feed pushed to rostering systems.",
        "mock-webhook-receiver": "Receive webhooks at /webhooks, verify their signatures, list "
                                 "them at GET /webhooks."},
    "ivr_gateway.operations.commands": {
        "retention": 'Personal data kept only as long as needed (SECURITY.md, "Personal data").',
        "backup": "Back up the database to a new file (SQLite's backup API, or pg_dump -Fc)."},
}
SUMMARIES = {name: summary for names in PACKAGE_COMMANDS.values()
             for name, summary in names.items()}


class LazyGroup(click.Group):
    """A group whose commands in `lazy` (name -> module, attribute) are imported when used."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, without importing any lazy one."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module the first time it is asked for."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name]
            found = getattr(importlib.import_module(module), attribute)
            commands = found if isinstance(found, list) else [found]
            for command in commands:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their one-line help, a lazy one's from the table (not imported)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                summary = SUMMARIES[name]
                rows.append((name, summary if len(summary) <= limit
                             else summary[:max(0, limit - 3)].rstrip() + "..."))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def register_every_table() -> None:
    """Every package's tables, before a command's first query configures the mappers.

    Run when the command first opens the database, not at start: `ivr-gateway --help` loads no
    model, and `codes now` (its row read through the driver, sms/code_now.py) no SQLAlchemy.
    """
    from ivr_gateway import schema  # noqa: F401


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             lazy={name: (module, "commands") for module, names in PACKAGE_COMMANDS.items()
                   for name in names})
@click.pass_context
def main(ctx: click.Context) -> None:
    """ivr-gateway: carers log home-care visits by phone call or text."""
    # One CliContext (settings, database, clock) for the command, each part made when first
    # asked for; a test passes its own as obj=. The database it opens is disposed at the end.
    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
    ctx.obj.before_opening = register_every_table
    ctx.call_on_close(ctx.obj.close)
    # JSON lines (LOG_FORMAT=json) outside the demo, whose reader is a person at a terminal.
    from ivr_gateway.log_format import LOG_FORMATS, configure_logging

    log_format = os.environ.get("LOG_FORMAT") or (
        "text" if ctx.invoked_subcommand == "demo" else "json")
    if not logging.getLogger().handlers:  # as basicConfig: never over a host's (pytest's) own
        configure_logging(log_format if log_format in LOG_FORMATS else "json")
    for chatty in ("alembic", "apscheduler"):  # our own jobs log what they did
        logging.getLogger(chatty).setLevel(logging.WARNING)


@main.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL, default instance/ SQLite) to the newest schema."""
    from ivr_gateway.migrate import upgrade_database

    upgrade_database(cli_context().settings.database_url)
    click.echo("Database is at the newest schema.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def web(host: str, port: int) -> None:
    """Run the web app on one process (development). In production use the Procfile's gunicorn."""
    from ivr_gateway.app import create_app

    create_app(cli_context().settings).run(host=host, port=port, threaded=True)


def scheduler_with_every_job(settings: Settings, database: Database, clock: Clock,
                             **options: Any) -> BaseScheduler:
    """The scheduler's own jobs, and the office board's day index (the office sits above the
    scheduler, so its job is added here, where both are composed)."""
    from ivr_gateway.office.board_index import schedule_board_index
    from ivr_gateway.office.escalation_alerts import EscalationAlertSource
    from ivr_gateway.scheduler import build_scheduler

    scheduler = build_scheduler(settings, database, clock, **options)
    schedule_board_index(scheduler, settings, database, clock, EscalationAlertSource(settings))
    return scheduler


@main.command()
def scheduler() -> None:
    """Run the scheduler process (Procfile `scheduler`). Stop with Ctrl-C."""
    cli = cli_context()
    click.echo(f"Scheduler running in {cli.settings.timezone}. Ctrl-C to stop.")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler_with_every_job(cli.settings, cli.database, cli.clock).start()


@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Load the demo data and stop (for scripts).")
@click.option("--database", "database_path", type=click.Path(dir_okay=False), default=None,
              help="The demo's SQLite file (default instance/ivr-gateway.sqlite3, or "
              "instance/demo.sqlite3 when DATABASE_URL is set); wiped at start.")
def demo(port: int, no_serve: bool, database_path: str | None) -> None:
    """Run the gateway on a fresh demo SQLite database with today's rota; print how to try it."""
    from ivr_gateway.app import create_app
    from ivr_gateway.db import Database
    from ivr_gateway.demo import load_demo_rota
    from ivr_gateway.demo.banner import demo_banner
    from ivr_gateway.escalation.demo import load_demo_contacts
    from ivr_gateway.migrate import upgrade_database
    from ivr_gateway.telephony.senders import RecordingSender

    cli = cli_context()
    settings = cli.settings
    if settings.is_production:
        raise click.ClickException("The demo wipes its database; it does not run in production.")
    # Without DATABASE_URL the demo takes the default SQLite file, so every other command
    # (codes now, api-token, import-rota, user create) works on the demo with nothing set.
    shared = database_path is None and not os.environ.get("DATABASE_URL")
    path = (Path(database_path) if database_path else
            INSTANCE_DIR / ("ivr-gateway.sqlite3" if shared else "demo.sqlite3"))
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    base_url = f"http://127.0.0.1:{port}"
    settings = settings.with_overrides(database_url=url, public_base_url=base_url)
    upgrade_database(url)
    database = Database(url)  # the demo's own file, not the settings' database
    clock = cli.clock
    now = clock.now()
    with database.unit_of_work() as session:
        info = load_demo_rota(session, now, settings)
        contacts = load_demo_contacts(session, now)

    command = ".venv/bin/ivr-gateway" if sys.prefix.endswith(".venv") else "ivr-gateway"
    env = "" if url == default_sqlite_url() else f"DATABASE_URL={url} "
    click.echo(demo_banner(info, contacts, settings, now, base_url, url, command, env))
    if no_serve:
        return
    from ivr_gateway.ecc.demo import start_demo_forwarding

    council = start_demo_forwarding(settings, database, clock, port + 50)
    click.echo(f"The relay forwards visits to a mock council; see what it received:\n"
               f"    {council}\n")
    from ivr_gateway.webhooks.demo import start_demo_webhooks

    receiver = start_demo_webhooks(settings, database, clock, port + 60)
    click.echo(f"Every change is also pushed as a signed webhook to a mock receiver; see what "
               f"it verified and received:\n    {receiver}\n")
    # The scheduler in a thread (its own process in production), printing what it would send.
    scheduler = scheduler_with_every_job(
        settings, database, clock, background=True,
        sender=RecordingSender(echo=lambda line: click.echo(f"\n{line}")))
    scheduler.start()
    try:
        create_app(settings, database, clock).run(host="127.0.0.1", port=port, threaded=True)
    finally:
        scheduler.shutdown(wait=False)


@main.group(cls=LazyGroup, lazy={"sms": ("ivr_gateway.sms.commands", "simulate_sms")})
def simulate() -> None:
    """Play a call or a text against a running gateway exactly as Twilio would."""


@simulate.command("call")
@click.option("--from", "from_number", required=True,
              help="Caller ID: a client's landline, 'anonymous' for withheld, any number.")
@click.option("--keys", default="", help="Digits for each prompt in turn, comma-separated: "
              "1234,5678 is carer number 1234 then PIN 5678.")
@click.option("--concern", "concern_seconds", default=0, type=int,
              help="If the carer presses 1 to report a concern, speak for this many seconds.")
@click.option("--url", "base_url", default=None,
              help="The gateway's base URL (default PUBLIC_BASE_URL or http://127.0.0.1:5000).")
def simulate_call(from_number: str, keys: str, concern_seconds: int, base_url: str | None) -> None:
    """Ring the gateway and print what the carer hears."""
    from ivr_gateway.simulator import PhoneSimulator, SimulatorError

    settings = cli_context().settings
    base_url = base_url or settings.public_base_url or "http://127.0.0.1:5000"
    simulator = PhoneSimulator(base_url, settings.twilio_auth_token,
                               account_sid=settings.twilio_account_sid,
                               gateway_number=settings.twilio_phone_number, echo=click.echo)
    groups = [k.strip() for k in keys.split(",") if k.strip()]
    click.echo(f"Calling {base_url} from {from_number} ...")
    try:
        transcript = simulator.call(from_number, groups, record_concern_seconds=concern_seconds)
    except SimulatorError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"Could not reach the gateway at {base_url}: {error}. "
                                   "Is `ivr-gateway demo` running?") from None
    click.echo(f"Call ended: {transcript.words_heard()} words heard, "
               f"{transcript.keys_pressed()} keys pressed.")


