"""A county's day of rota through POST /api/v1/rota/batch and import-rota, against single PUTs.

    .venv/bin/python bench/rota_bulk.py [--database-url URL] [--scale 1.0] [--put-sample 0.05]

The day: 2,000 clients, 2,000 carers and 10,000 visits (times --scale). Each way starts from an
empty, migrated database (the bench's own, never `test`) and is timed whole, then the same day is
sent again unchanged and timed again:
- batch: real HTTP requests through the app's WSGI stack (Flask's test client, bearer token,
  JSON), 1,000 items a request: adults, then carers, then visits;
- import-rota: the CLI command in its own process (`ivr-gateway import-rota day.csv`, process
  start-up included), one CSV row per visit with each client's and carer's details on their
  first row;
- single PUTs: the same requests one record each, timed on a sample (--put-sample of the
  clients, with their carers and visits) and extrapolated per kind to the whole day.
Prints times, rates and the ratios; targets: batch >= 10x faster than single PUTs, the whole
day (first load or unchanged reload) < 15 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from ivr_gateway.api.models import ApiToken
from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings, normalise_database_url
from ivr_gateway.db import Database
from ivr_gateway.hashing import hash_api_token
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.rota.csv_import import COLUMNS
from ivr_gateway.rota.loading import MAX_BATCH_ITEMS

DAY = date(2026, 2, 3)
NOW = datetime(2026, 2, 2, 12, 0, tzinfo=UTC)
TOKEN = "ivr_bench-rota-bulk-token"  # noqa: S105 - a bench database's own token
VISITS_PER_CLIENT = 5
TARGET_RATIO, TARGET_SECONDS = 10.0, 15.0
CLI = [str(Path(sys.executable).with_name("ivr-gateway"))]


def reset_database(url: str) -> None:
    """Empty the bench database (creating it if missing) and migrate it."""
    name = url.rsplit("/", 1)[-1]
    if name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    server = url.rsplit("/", 1)[0]
    admin = create_engine(normalise_database_url(f"{server}/postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)


class Day:
    """The records of the day: client a has visits a, a + clients, ... with carer a."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.visits = clients * VISITS_PER_CLIENT

    def adult(self, a: int) -> dict[str, Any]:
        """Client a as a PUT body."""
        return {"given_name": "Joan", "family_name": f"Smith{a}",
                "landlines": [f"0113 {a // 10000 + 496} {a % 10000:04d}"], "rag": "green",
                "address": f"{a} High Street", "postcode": "CM1 1AA"}

    def carer(self, c: int) -> dict[str, Any]:
        """Carer c as a PUT body (no PIN: the rota file sends none either)."""
        return {"staff_number": f"{1000 + c}", "given_name": "Amy",
                "family_name": f"Jones{c}", "mobiles": [f"07400 {100000 + c:06d}"]}

    def times(self, n: int) -> tuple[datetime, datetime]:
        """Visit n's planned start and end (a carer's visits three hours apart, from 07:00)."""
        start = datetime(DAY.year, DAY.month, DAY.day, 7, tzinfo=UTC) + timedelta(
            hours=3 * (n // self.clients), minutes=(n % 12) * 5)
        return start, start + timedelta(minutes=30)

    def visit(self, n: int) -> dict[str, Any]:
        """Visit n as a PUT body."""
        start, end = self.times(n)
        a = n % self.clients
        return {"adult_ref": f"A{a}", "care_worker_refs": [f"C{a}"],
                "planned_start": start.isoformat(), "planned_end": end.isoformat()}

    def visit_numbers(self, clients: int) -> list[int]:
        """The visits of the first `clients` clients."""
        return [n for n in range(self.visits) if n % self.clients < clients]

    def items(self) -> list[dict[str, Any]]:
        """The whole day as batch items, adults, then carers, then visits."""
        return ([{"kind": "adult", "ref": f"A{a}", **self.adult(a)} for a in range(self.clients)]
                + [{"kind": "care_worker", "ref": f"C{c}", **self.carer(c)}
                   for c in range(self.clients)]
                + [{"kind": "planned_visit", "ref": f"V{n}", **self.visit(n)}
                   for n in range(self.visits)])

    def csv(self) -> str:
        """The whole day as a rota file (docs/rota-csv.md), details on first rows."""
        header = [c.name for c in COLUMNS]
        lines = [",".join(header)]
        for n in range(self.visits):
            a = n % self.clients
            start, end = self.times(n)
            row = dict.fromkeys(header, "")
            row.update(visit_ref=f"V{n}", adult_ref=f"A{a}", date=DAY.isoformat(),
                       start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
                       care_worker_refs=f"C{a}")
            if n < self.clients:  # the first row of client a and carer a
                adult, carer = self.adult(a), self.carer(a)
                row.update(adult_given_name=adult["given_name"],
                           adult_family_name=adult["family_name"],
                           adult_address=adult["address"], adult_postcode=adult["postcode"],
                           adult_landlines=adult["landlines"][0], adult_rag="green",
                           care_worker_staff_numbers=carer["staff_number"],
                           care_worker_given_names=carer["given_name"],
                           care_worker_family_names=carer["family_name"])
            lines.append(",".join(row[c] for c in header))
        return "\n".join(lines) + "\n"


def api_client(url: str) -> tuple[FlaskClient, Database]:
    """The gateway's app on the bench database, with a live API token."""
    database = Database(url)
    with database.unit_of_work() as session:
        session.add(ApiToken(name="bench", token_hash=hash_api_token(TOKEN), created_at=NOW))
    app = create_app(settings=Settings(database_url=url), database=database,
                     clock=FixedClock(NOW))
    return app.test_client(), database


def send(client: FlaskClient, method: str, path: str, body: Any) -> dict[str, Any]:
    """One request; stop the bench on anything but 200/201."""
    response = client.open("/api/v1" + path, method=method, json=body,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    if response.status_code not in (200, 201):
        raise SystemExit(f"{method} {path}: {response.status_code} {response.get_data()[:500]!r}")
    result: dict[str, Any] = response.get_json()
    return result


def run_batches(client: FlaskClient, items: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    """The day in batches of 1,000; seconds taken and the summed counts (and CPU, printed)."""
    totals: dict[str, int] = {}
    cpu = time.process_time()
    started = time.perf_counter()
    for first in range(0, len(items), MAX_BATCH_ITEMS):
        body = send(client, "POST", "/rota/batch",
                    {"items": items[first:first + MAX_BATCH_ITEMS]})
        for status, number in body["counts"].items():
            totals[status] = totals.get(status, 0) + number
    totals["gateway_cpu_ms"] = round((time.process_time() - cpu) * 1000)
    return time.perf_counter() - started, totals


def run_import(url: str, path: Path) -> tuple[float, str]:
    """import-rota in its own process; seconds and its summary."""
    env = {**os.environ, "IVR_GATEWAY_ENV": "test", "DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run([*CLI, "import-rota", str(path)], env=env, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import-rota failed: {done.stdout}\n{done.stderr}")
    return seconds, " / ".join(line.strip() for line in done.stdout.splitlines()[1:])


def run_single_puts(client: FlaskClient, day: Day, clients: int) -> dict[str, float]:
    """PUTs of the first `clients` clients, their carers and visits: seconds per PUT by kind."""
    per_put: dict[str, float] = {}
    for kind, path, numbers, body in (
            ("adult", "/adults/A{}", range(clients), day.adult),
            ("care_worker", "/care-workers/C{}", range(clients), day.carer),
            ("planned_visit", "/planned-visits/V{}", day.visit_numbers(clients), day.visit)):
        started = time.perf_counter()
        for n in numbers:
            send(client, "PUT", path.format(n), body(n))
        per_put[kind] = (time.perf_counter() - started) / len(numbers)
    return per_put


def main() -> None:
    """Run the three ways on the same day and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        default="postgresql://postgres@127.0.0.1:5432/bench_rota_bulk")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="size of the day (1.0: 2,000 clients and carers, 10,000 visits)")
    parser.add_argument("--put-sample", type=float, default=0.05,
                        help="share of the clients sent by single PUTs (0.05)")
    args = parser.parse_args()
    url = normalise_database_url(args.database_url)
    print(f"load average before the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    day = Day(max(1, round(2000 * args.scale)))
    records = {"adult": day.clients, "care_worker": day.clients, "planned_visit": day.visits}
    print(f"{url.rsplit('/', 1)[-1]}: a day of {day.clients:,} clients, {day.clients:,} carers, "
          f"{day.visits:,} visits")

    reset_database(url)
    client, database = api_client(url)
    items = day.items()
    batch_first, counts = run_batches(client, items)
    batch_again, counts_again = run_batches(client, items)
    database.dispose()
    print(f"batch, first load:      {batch_first:6.2f} s  {len(items) / batch_first:7.0f} "
          f"records/s  {counts}")
    print(f"batch, unchanged again: {batch_again:6.2f} s  {len(items) / batch_again:7.0f} "
          f"records/s  {counts_again}")

    reset_database(url)
    folder = Path(tempfile.mkdtemp())
    path = folder / "day.csv"
    path.write_text(day.csv(), encoding="utf-8")
    import_first, summary = run_import(url, path)
    import_again, summary_again = run_import(url, path)
    print(f"import-rota, first:     {import_first:6.2f} s  {day.visits / import_first:7.0f} "
          f"rows/s  {summary}")
    print(f"import-rota, unchanged: {import_again:6.2f} s  {day.visits / import_again:7.0f} "
          f"rows/s  {summary_again}")

    reset_database(url)
    client, database = api_client(url)
    sample = max(10, round(day.clients * args.put_sample))
    per_put = run_single_puts(client, day, sample)
    database.dispose()
    singles = sum(per_put[kind] * number for kind, number in records.items())
    print(f"single PUTs, sample of {sample} clients ({sample} carers, "
          f"{sample * VISITS_PER_CLIENT} visits): "
          + ", ".join(f"{kind} {seconds * 1000:.1f} ms" for kind, seconds in per_put.items())
          + f" a PUT; extrapolated to the day: {singles:.1f} s")

    ratio = singles / batch_first
    print(f"ratio single PUTs / batch (first load): {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x) "
          f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL'}")
    print(f"ratio single PUTs / import-rota (first): {singles / import_first:.1f}x")
    slowest = max(batch_first, batch_again, import_first, import_again)
    print(f"slowest whole day: {slowest:.2f} s (target < {TARGET_SECONDS:.0f} s) "
          f"{'PASS' if slowest < TARGET_SECONDS else 'FAIL'}")


if __name__ == "__main__":
    main()
