"""CLI commands of the SMS channel: codes now / sheet / token ..., and `simulate sms`.

What this module imports at the top is light (no SQLAlchemy, no pydantic): `codes now` reads
its token through the database's driver (sms/code_now.py) and must answer within half a second;
the other commands import the services they call (sms/devices.py) when they run.
"""

from __future__ import annotations

from pathlib import Path

import click

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context
from ivr_gateway.config import INSTANCE_DIR
from ivr_gateway.rota.problems import RotaError
from ivr_gateway.sms.code_now import read_current_code
from ivr_gateway.sms.codes import SHEET_CODES_DEFAULT, SHEET_CODES_MAX, TOKEN_DIGITS, TOKEN_STEPS


@click.group("codes")
def codes() -> None:
    """Visit codes: tokens (key-fobs) and printed code sheets kept in clients' homes."""


@codes.command("now")
@click.argument("serial")
def codes_now(serial: str) -> None:
    """Print the code token SERIAL shows now (for the demo, and to help a carer on the phone)."""
    cli = cli_context()
    settings = cli.settings
    try:
        # Through the driver, without SQLAlchemy's start-up; through the ORM when that path
        # cannot answer (a URL form it does not read, a driver error, sms/code_now.py).
        code = read_current_code(cli.database_url, serial, settings, cli.clock.now())
        if code is None:
            from ivr_gateway.sms.devices import current_code

            with cli.unit_of_work() as session:
                code = current_code(session, serial, settings, cli.clock.now())
    except RotaError as error:
        raise click.ClickException(f"{error.message} See 'ivr-gateway codes token add'.") \
            from None
    where = f" (at {code.adult_initials}'s home)" if code.adult_initials else ""
    click.echo(f"{code.code}")
    click.echo(f"Token {code.serial}{where}: valid for {code.seconds_left} more seconds.",
               err=True)


@codes.command("sheet")
@click.argument("adult_ref")
@click.option("--count", default=SHEET_CODES_DEFAULT, show_default=True,
              type=click.IntRange(1, SHEET_CODES_MAX), help="Codes on the sheet.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for the HTML and PDF (default instance/code-sheets).")
@click.option("--keep-old", is_flag=True, help="Keep the client's current sheet(s) live too.")
def codes_sheet(adult_ref: str, count: int, out_dir: Path | None, keep_old: bool) -> None:
    """Make a sheet of single-use codes for client ADULT_REF, as HTML and PDF to print.

    The codes are shown only on the sheet; the gateway keeps them hashed. A new sheet retires
    the client's old one unless --keep-old.
    """
    from ivr_gateway.sms.devices import new_code_sheet
    from ivr_gateway.sms.sheets import sheet_html, sheet_pdf

    cli = cli_context()
    settings = cli.settings
    try:
        with cli.unit_of_work() as session:
            sheet = new_code_sheet(session, adult_ref, count=count, settings=settings,
                                   now=cli.clock.now(), actor=_actor(), retire_old=not keep_old)
    except RotaError as error:
        raise click.ClickException(error.message) from None
    folder = out_dir or INSTANCE_DIR / "code-sheets"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"sheet-{sheet.sheet_number}-{adult_ref}"
    html_path, pdf_path = stem.with_suffix(".html"), stem.with_suffix(".pdf")
    html_path.write_text(sheet_html(sheet, settings, settings.twilio_phone_number),
                         encoding="utf-8")
    pdf_path.write_bytes(sheet_pdf(sheet, settings, settings.twilio_phone_number))
    click.echo(f"Sheet {sheet.sheet_number} for {sheet.adult_initials}: {count} codes.")
    if sheet.retired_sheets:
        click.echo("Retired sheet(s): " + ", ".join(map(str, sheet.retired_sheets))
                   + ". Take them out of the care folder.")
    click.echo(f"Print: {pdf_path}\n   or: {html_path}")
    click.echo("The codes are not kept in clear: keep the printout safe until it is in the home.")


@codes.group("token")
def token() -> None:
    """Register visit-code tokens and give them to clients."""


@token.command("add")
@click.argument("serial")
@click.option("--adult", "adult_ref", default=None, help="The client whose home it is fixed in.")
@click.option("--secret", default=None, help="The base32 seed (needed for a new token).")
@click.option("--digits", type=click.Choice([str(d) for d in TOKEN_DIGITS]), default=None)
@click.option("--step", type=click.Choice([str(s) for s in TOKEN_STEPS]), default=None)
def token_add(serial: str, adult_ref: str | None, secret: str | None, digits: str | None,
              step: str | None) -> None:
    """Register token SERIAL, or give it to a client (--adult)."""
    from ivr_gateway.sms.devices import TokenIn, register_token

    cli = cli_context()
    settings = cli.settings
    data = TokenIn(adult_ref=adult_ref, secret=secret,
                   digits=int(digits) if digits else None, step=int(step) if step else None)
    try:
        with cli.unit_of_work() as session:
            change, view = register_token(session, serial, data, settings=settings,
                                          now=cli.clock.now(), actor=_actor())
    except RotaError as error:
        raise click.ClickException(error.message) from None
    where = f", at client {view.adult_ref}" if view.adult_ref else ", not given to a client"
    click.echo(f"Token {view.serial} {change}: {view.digits} digits every {view.step} s{where}.")


@token.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--digits", type=click.Choice([str(d) for d in TOKEN_DIGITS]), default="6",
              show_default=True)
@click.option("--step", type=click.Choice([str(s) for s in TOKEN_STEPS]), default="30",
              show_default=True)
def token_import(file: Path, digits: str, step: str) -> None:
    """Import a vendor's seed FILE (CSV: serial,secret), all or nothing; tokens start unassigned."""
    from ivr_gateway.sms.devices import import_token_seeds

    cli = cli_context()
    settings = cli.settings
    with cli.unit_of_work() as session:
        report = import_token_seeds(session, file.read_text(encoding="utf-8-sig"),
                                    digits=int(digits), step=int(step), settings=settings,
                                    now=cli.clock.now(), actor=_actor())
        if report.problems:
            session.rollback()
    if report.problems:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        raise click.ClickException(f"{len(report.problems)} problem(s) in {file.name}; nothing "
                                   "was imported. Fix the lines above and import again.")
    click.echo(f"{len(report.created)} token(s) registered, {len(report.unchanged)} already "
               "known. Give each to a client with 'ivr-gateway codes token add SERIAL --adult "
               "REF'.")


@token.command("resync")
@click.argument("serial")
def token_resync(serial: str) -> None:
    """Forget what token SERIAL's clock drift was learnt to be (after a battery change)."""
    from ivr_gateway.sms.devices import resync_token

    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            resync_token(session, serial, cli.clock.now(), _actor())
    except RotaError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Token {serial}: drift reset; the next code it shows is learnt afresh.")


@click.command("sms")
@click.option("--from", "from_number", required=True, help="The sender's mobile.")
@click.argument("body")
@click.option("--url", "base_url", default=None,
              help="The gateway's base URL (default PUBLIC_BASE_URL or http://127.0.0.1:5000).")
def simulate_sms(from_number: str, body: str, base_url: str | None) -> None:
    """Text BODY to the gateway from a mobile, as Twilio would, and print the reply."""
    from ivr_gateway.simulator import SimulatorError
    from ivr_gateway.sms.simulator import send_text

    settings = cli_context().settings
    base_url = base_url or settings.public_base_url or "http://127.0.0.1:5000"
    click.echo(f"Texting {base_url} from {from_number}: {body}")
    try:
        replies = send_text(base_url, settings.twilio_auth_token,
                            account_sid=settings.twilio_account_sid,
                            gateway_number=settings.twilio_phone_number,
                            from_number=from_number, body=body)
    except SimulatorError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"Could not reach the gateway at {base_url}: {error}. "
                                   "Is `ivr-gateway demo` running?") from None
    for reply in replies:
        click.echo(f"  gateway replies: {reply}")
    if not replies:
        click.echo("  (no reply)")


commands: list[click.Command] = [codes]
