"""`ivr-gateway`: the one command-line entry, with a subcommand per job."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from ivr_gateway import schema  # noqa: F401 - every package's tables, before mappers configure
from ivr_gateway.api.commands import commands as api_commands
from ivr_gateway.commandline import settings_or_exit as _settings
from ivr_gateway.config import (
    INSTANCE_DIR,
    default_sqlite_url,
)
from ivr_gateway.ecc.commands import commands as ecc_commands
from ivr_gateway.escalation.commands import commands as escalation_commands
from ivr_gateway.office.commands import commands as office_commands
from ivr_gateway.rota.commands import commands as rota_commands
from ivr_gateway.sms.commands import commands as sms_commands
from ivr_gateway.sms.commands import simulate_sms


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ivr-gateway: carers log home-care visits by phone call or text."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("alembic", "apscheduler"):  # our own jobs log what they did
        logging.getLogger(chatty).setLevel(logging.WARNING)


@main.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL, default instance/ SQLite) to the newest schema."""
    from ivr_gateway.migrate import upgrade_database

    settings = _settings()
    upgrade_database(settings.database_url)
    click.echo("Database is at the newest schema.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def web(host: str, port: int) -> None:
    """Run the web app on one process (development). In production use the Procfile's gunicorn."""
    from ivr_gateway.app import create_app

    create_app(_settings()).run(host=host, port=port, threaded=True)


@main.command()
def scheduler() -> None:
    """Run the scheduler process (Procfile `scheduler`). Stop with Ctrl-C."""
    from ivr_gateway.clock import SystemClock
    from ivr_gateway.db import Database
    from ivr_gateway.scheduler import build_scheduler

    settings = _settings()
    click.echo(f"Scheduler running in {settings.timezone}. Ctrl-C to stop.")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        build_scheduler(settings, Database(settings.database_url), SystemClock()).start()


@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Load the demo data and stop (for scripts).")
@click.option("--database", "database_path", type=click.Path(dir_okay=False), default=None,
              help="The demo's SQLite file (default instance/ivr-gateway.sqlite3, or "
              "instance/demo.sqlite3 when DATABASE_URL is set); wiped at start.")
def demo(port: int, no_serve: bool, database_path: str | None) -> None:
    """Run the gateway on a fresh demo SQLite database with today's rota; print how to try it."""
    from ivr_gateway.app import create_app
    from ivr_gateway.clock import SystemClock
    from ivr_gateway.db import Database
    from ivr_gateway.demo import load_demo_rota
    from ivr_gateway.escalation.demo import load_demo_contacts
    from ivr_gateway.migrate import upgrade_database
    from ivr_gateway.scheduler import build_scheduler
    from ivr_gateway.telephony.senders import RecordingSender

    settings = _settings()
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
    database = Database(url)
    clock = SystemClock()
    with database.unit_of_work() as session:
        info = load_demo_rota(session, clock.now(), settings)
        contacts = load_demo_contacts(session, clock.now())

    today = clock.now().astimezone(settings.tz).date()
    click.echo(_demo_banner(info, base_url, url, today))
    click.echo(_escalation_banner(contacts, base_url, info.api_token))
    if no_serve:
        return
    from ivr_gateway.ecc.demo import start_demo_forwarding

    council = start_demo_forwarding(settings, database, clock, port + 50)
    click.echo(f"The relay forwards visits to a mock council; see what it received:\n"
               f"    {council}\n")
    # The scheduler in a thread (its own process in production), printing what it would send.
    scheduler = build_scheduler(settings, database, clock, background=True,
                                sender=RecordingSender(echo=lambda line: click.echo(f"\n{line}")))
    scheduler.start()
    try:
        create_app(settings, database, clock).run(host="127.0.0.1", port=port, threaded=True)
    finally:
        scheduler.shutdown(wait=False)


def _demo_banner(info: object, base_url: str, url: str, today: date) -> str:
    from ivr_gateway.demo import DemoInfo

    assert isinstance(info, DemoInfo)
    carers = "\n".join(f"    {c.name:<12} carer number {c.staff_number}  PIN {c.pin}"
                       f"{'  (hears Polish)' if c.language == 'pl' else ''}" for c in info.carers)
    homes = "\n".join(f"    {n}  {who}" for n, who in info.landlines.items())
    sim = ".venv/bin/ivr-gateway simulate call" if sys.prefix.endswith(".venv") else \
        "ivr-gateway simulate call"
    return f"""
ivr-gateway demo: {base_url}  (database {url})

Carers:
{carers}
Client landlines:
{homes}

In another terminal, Amy arrives at Joan Smith's home and logs in, then (call again) logs out:
    {sim} --from 01134960001 --keys 1234,4721
A withheld number: key the client number from the care plan (100001), then carer number and PIN:
    {sim} --from anonymous --keys 100001,1234,4721
A shared landline (Mary and Peter Brown): press 1 or 2 for the client first:
    {sim} --from 01134960002 --keys 1,2345,6190

{_demo_texts(info, sim.removesuffix(" simulate call"), url)}
The office dashboard: {base_url}/office/  log in as {info.office_username} / {info.office_password}
(the board refreshes itself: make a call above and watch Joan's visit change)

See today's visits with their actual times and outcomes:
    curl -s -H "Authorization: Bearer {info.api_token}" "{base_url}/api/v1/visits?date={today}"

Ctrl-C stops the gateway.
"""


def _demo_texts(info: object, cli: str, url: str) -> str:
    from ivr_gateway.demo import DemoInfo
    from ivr_gateway.sms.codes import format_sheet_code

    assert isinstance(info, DemoInfo)
    codes = ", ".join(format_sheet_code(c) for c in info.sheet_codes)
    env = "" if url == default_sqlite_url() else f"DATABASE_URL={url} "
    return f"""By text: Amy reads the code on Joan's key-fob and texts IN and it (OUT later):
    {env}{cli} codes now {info.token_serial}
    {cli} simulate sms --from +447911123450 "IN <code>"
Ben at Mary Brown's texts a code from her printed sheet {info.sheet_number} ({codes}, ...):
    {cli} simulate sms --from +447911123452 "IN {format_sheet_code(info.sheet_codes[0])}"
"""


def _escalation_banner(contacts: list[Any], base_url: str, token: str) -> str:
    ladder = "\n".join(f"    {c.role:<12} {c.name:<11} {c.mobile}" for c in contacts)
    return f"""Alerts (printed here instead of texted): Ben is due at Mary Brown's and will not log
in, so a late-start alert goes to the ladder in about two minutes (Edith's visit is already late):
{ladder}
Acknowledge it by text from the mobile it went to (the coordinator in office hours, on-call
out of hours), or on the dashboard's Alerts page:
    .venv/bin/ivr-gateway simulate sms --from {contacts[0].mobile} "ACK"
    .venv/bin/ivr-gateway simulate sms --from {contacts[1].mobile} "ACK"
or through the API (alerts, with their ids, at /api/v1/alerts):
    curl -s -X POST -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\
         -d '{{"by": "Sam Carter"}}' {base_url}/api/v1/alerts/1/acknowledge
"""


@main.group()
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

    settings = _settings()
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


for _command in [*api_commands, *rota_commands, *sms_commands, *office_commands,
                 *ecc_commands, *escalation_commands]:
    main.add_command(_command)
simulate.add_command(simulate_sms)
