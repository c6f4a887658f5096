"""CLI commands of the rota: import-rota, care-worker set-pin and unlock."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ivr_gateway.commandline import cli_actor as _actor
from ivr_gateway.commandline import cli_context
from ivr_gateway.rota.csv_import import ImportReport, import_rota_csv
from ivr_gateway.rota.service import RotaError, set_care_worker_pin, unlock_care_worker

# Above this many lines a progress bar is shown even when stderr is not a terminal.
PROGRESS_LINES = 500


def _print_report(report: ImportReport, path: Path) -> None:
    for warning in report.warnings:
        click.echo(f"Note: {warning}", err=True)
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s) in {path.name}:", err=True)
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
    if report.dry_run:
        verb = "would be"
    elif report.stored:
        verb = "were"
    else:
        verb = "would have been"
    click.echo(f"{report.imported_rows} of {report.rows} row(s) {verb} imported"
               + (" (dry run: nothing stored)" if report.dry_run else "") + ".")
    for line in report.summary():
        click.echo(f"  {line}")


@click.command("import-rota")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True,
              help="Import the good rows and report the bad ones (default: all or nothing).")
@click.option("--dry-run", is_flag=True, help="Check the file and report; store nothing.")
def import_rota(file: Path, skip_bad_rows: bool, dry_run: bool) -> None:
    """Import planned visits (with their adults and carers) from a CSV FILE (docs/rota-csv.md)."""
    cli = cli_context()
    settings = cli.settings
    raw = file.read_bytes()
    lines = raw.count(b"\n")
    show_bar = sys.stderr.isatty() or lines > PROGRESS_LINES
    progress = Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(),
                        console=Console(stderr=True), disable=not show_bar)
    with progress, cli.unit_of_work() as session:
        task = progress.add_task("rows", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = import_rota_csv(session, raw, settings, cli.clock.now(),
                                 f"{_actor()} csv:{file.name}", skip_bad_rows,
                                 dry_run=dry_run, progress=advance)
    _print_report(report, file)
    if report.problems and not report.stored:
        if report.rows:
            click.echo("Nothing was imported: correct the rows above and import the file "
                       "again, or use --skip-bad-rows to import the good rows.", err=True)
        sys.exit(1)


@click.group("care-worker")
def care_worker() -> None:
    """Office tasks for one care worker."""


@care_worker.command("set-pin")
@click.argument("staff_number")
@click.option("--pin", prompt="New PIN", hide_input=True, confirmation_prompt="Repeat the PIN",
              help="Prompted for, hidden, twice (not recommended on the command line).")
def set_pin(staff_number: str, pin: str) -> None:
    """Set or reset the PIN of the carer with STAFF_NUMBER (it is stored only as a hash)."""
    cli = cli_context()
    settings = cli.settings
    try:
        with cli.unit_of_work() as session:
            view = set_care_worker_pin(session, staff_number.strip(), pin.strip(),
                                       settings=settings, now=cli.clock.now(), actor=_actor())
    except RotaError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"PIN set for {view.given_name} {view.family_name} (staff number "
               f"{view.staff_number}).")


@care_worker.command("unlock")
@click.argument("ref")
def unlock(ref: str) -> None:
    """Lift the PIN lockout of the carer with reference REF."""
    cli = cli_context()
    try:
        with cli.unit_of_work() as session:
            result = unlock_care_worker(session, ref, now=cli.clock.now(), actor=_actor())
    except RotaError as error:
        raise click.ClickException(error.message) from None
    if result.change == "unchanged":
        click.echo(f"Care worker {ref} was not locked out.")
    else:
        click.echo(f"Care worker {ref} unlocked: they can log visits again.")


commands: list[click.Command] = [import_rota, care_worker]
