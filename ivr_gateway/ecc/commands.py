"""CLI: `relay`, `mock-ecc`, `report kpi`, `outbox status|retry`, `ecc-schema`."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from ivr_gateway.commandline import cli_context


@click.command()
@click.option("--interval", type=float, default=1.0, show_default=True,
              envvar="RELAY_INTERVAL_SECONDS",
              help="Seconds between passes when there is nothing to send (RELAY_INTERVAL_SECONDS).")
@click.option("--batch-size", type=click.IntRange(1, 100), default=100, show_default=True,
              help="Records per request to the council (at most 100).")
@click.option("--lease", type=click.IntRange(5), default=60, show_default=True,
              help="Seconds a claimed batch is ours before another relay may take it over.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the council's answer.")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Batches in flight at once: one is claimed and settled while another is "
                   "on the wire (order per visit is kept by the outbox's claims).")
@click.option("--once", is_flag=True, help="Run one pass and stop (for scripts).")
def relay(interval: float, batch_size: int, lease: int, timeout: float, workers: int,
          once: bool) -> None:
    """Deliver queued council records to ECC_API_URL (Procfile `relay`). Stop with Ctrl-C."""
    from ivr_gateway.ecc.relay import RelayNotConfigured, build_relay, run_relay
    from ivr_gateway.outbox.relay import worker_name

    cli = cli_context()
    settings, database, clock = cli.settings, cli.database, cli.clock
    try:
        relays = [build_relay(settings, database, clock, batch_size=batch_size,
                              lease=timedelta(seconds=lease), timeout=timeout,
                              worker=f"{worker_name()}/{n}") for n in range(workers)]
    except RelayNotConfigured as error:
        raise click.ClickException(str(error)) from None
    stop = threading.Event()
    with contextlib.suppress(ValueError):  # not the main thread (tests): no signal handler
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"Relay delivering to {settings.ecc_api_url} every {interval:g} s when idle, "
               f"{workers} batch(es) in flight.")
    threads = [threading.Thread(target=run_relay, args=(r, database, clock), daemon=True,
                                kwargs={"interval": interval, "stop": stop,
                                        "max_passes": 1 if once else None}) for r in relays]
    for thread in threads:
        thread.start()
    with contextlib.suppress(KeyboardInterrupt):
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    stop.set()


def _outage(_ctx: Any, _param: Any, values: tuple[str, ...]) -> list[tuple[float, float]]:
    windows = []
    for value in values:
        try:
            start, end = (float(part) for part in value.split(":"))
        except ValueError:
            raise click.BadParameter(f"{value!r}: give START:END in seconds after the mock "
                                     "starts, e.g. 30:90") from None
        windows.append((start, end))
    return windows


@click.command("mock-ecc")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5050, show_default=True, type=int)
@click.option("--db", "db_path", default=":memory:", show_default=True,
              help="SQLite file to keep what it receives (default: memory).")
@click.option("--token", default=None, help="Bearer token it expects (default ECC_API_TOKEN, "
              "else 'dev-ecc-token').")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of requests answered 500.")
@click.option("--rate-limit", type=click.FloatRange(0, 1), default=0.0,
              help="Share of requests answered 429 with Retry-After.")
@click.option("--retry-after", type=int, default=1, show_default=True,
              help="Seconds in Retry-After (429 and outages).")
@click.option("--latency-ms", type=int, default=0, help="Added to every request.")
@click.option("--outage", multiple=True, callback=_outage,
              help="START:END seconds after start answered 503 (repeatable).")
@click.option("--reject", multiple=True, help="A record_id refused as invalid (repeatable).")
@click.option("--seed", type=int, default=None, help="Seed for the random faults.")
def mock_ecc(host: str, port: int, db_path: str, token: str | None, error_rate: float,
             rate_limit: float, retry_after: int, latency_ms: int,
             outage: list[tuple[float, float]], reject: tuple[str, ...],
             seed: int | None) -> None:
    """Run the mock council API; change its faults live with PUT /admin/faults."""
    from werkzeug.serving import make_server

    from ivr_gateway.ecc.mock_server import Faults, MockStore, create_mock_app

    token = token or cli_context().settings.ecc_api_token or "dev-ecc-token"
    faults = Faults(error_rate=error_rate, rate_limit=rate_limit, retry_after=retry_after,
                    latency_ms=latency_ms, outages=list(outage), reject=list(reject))
    app = create_mock_app(MockStore(db_path), token, faults, seed=seed)
    server = make_server(host, port, app, threaded=True)
    click.echo(f"Mock council API at http://{host}:{port}/api/v1 (token {token!r}).")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@click.group()
def report() -> None:
    """Reports for the council and the office."""


@report.command("kpi")
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Last local day, YYYY-MM-DD (inclusive).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True, help="Directory for the files.")
def report_kpi(first: Any, last: Any, out_dir: Path) -> None:
    """KPI report (contract KPI 3, reason codes, verification mix) as CSV and HTML."""
    from ivr_gateway.ecc.kpi import build_kpi_report
    from ivr_gateway.ecc.kpi_report import write_kpi_files

    first_day: date = first.date()
    last_day: date = last.date()
    if last_day < first_day:
        raise click.BadParameter(f"--to {last_day} is before --from {first_day}")
    if (last_day - first_day).days > 366:
        raise click.BadParameter("a report covers at most a year; split the range")
    cli = cli_context()
    with cli.unit_of_work() as session:
        kpi = build_kpi_report(session, first_day, last_day, cli.settings, cli.clock.now())
    for path in write_kpi_files(kpi, out_dir):
        click.echo(str(path))
    t = kpi.total
    rate = f"{t.kpi3_rate * 100:.1f}%" if t.kpi3_rate is not None else "n/a"
    click.echo(f"{t.visits} visits: {t.on_time} on time, {t.late} late, {t.missed} missed, "
               f"{t.short_of_carer} double-up short of a carer, {t.cancelled} cancelled; "
               f"KPI 3 met {rate}.")


@click.group()
def outbox() -> None:
    """What is waiting to leave the building (council records, texts, calls)."""


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def outbox_status(as_json: bool) -> None:
    """Pending, oldest pending age, dead letters (by kind); the newest dead letters."""
    from ivr_gateway.ecc.operations import dead_letters, outbox_figures

    cli = cli_context()
    with cli.unit_of_work() as session:
        figures = outbox_figures(session, cli.clock.now())
        dead = [(m.id, m.kind, m.idempotency_key, m.attempts, m.last_error or "")
                for m in dead_letters(session, 20)]
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    age = figures["oldest_pending_age_seconds"]
    click.echo(f"pending {figures['pending']} (oldest {'-' if age is None else f'{age:.0f} s'}),"
               f" dead {figures['dead']}, sent {figures['sent']}, "
               f"forwarding failures open {figures['forwarding_failures_open']}")
    for kind, f in figures["kinds"].items():
        click.echo(f"  {kind}: pending {f['pending']}, dead {f['dead']}, sent {f['sent']}")
    for message_id, kind, key, attempts, error in dead:
        click.echo(f"  dead #{message_id} {kind} {key} after {attempts} attempt(s): {error}")
    if dead:
        click.echo("Fix the cause, then `ivr-gateway outbox retry ID` or `--dead` for all.")


@outbox.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--dead", "all_dead", is_flag=True, help="Requeue every dead letter.")
def outbox_retry(message_id: int | None, all_dead: bool) -> None:
    """Requeue a dead letter by ID (see `outbox status`), or all of them with --dead."""
    from ivr_gateway.ecc.operations import retry_dead_letters

    if (message_id is None) == (not all_dead):
        raise click.UsageError("Give one message ID, or --dead for every dead letter.")
    cli = cli_context()
    with cli.unit_of_work() as session:
        count = retry_dead_letters(session, cli.clock.now(), message_id)
    if message_id is not None and count == 0:
        raise click.ClickException(f"Outbox message {message_id} is not a dead letter; see "
                                   "`ivr-gateway outbox status`.")
    click.echo(f"Requeued {count} message(s); the relay sends them on its next pass.")


@click.command("ecc-schema")
def ecc_schema() -> None:
    """Print the JSON Schema of the council records (docs/ecc-schema/ holds a copy)."""
    from ivr_gateway.ecc.schemas import batch_schema

    click.echo(json.dumps(batch_schema(), indent=2, sort_keys=True))


commands: list[click.Command] = [relay, mock_ecc, report, outbox, ecc_schema]
