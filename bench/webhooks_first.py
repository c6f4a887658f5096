"""Webhooks first: do API readers on `web` slow the carers' calls on `web_twilio`?

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/webhooks_first.py --calls 30 --readers 16

What it does, all on 127.0.0.1, on its own PostgreSQL database (default bench_ops):
1. Writes a rota with bench/ivr_load.py's set-up (one carer, client and planned visit per call,
   three groups of carers, one per phase, and a few for warm-up calls) and an API token.
2. Starts the Procfile's two web process types under gunicorn (gthread, --workers x --threads
   each): `web_twilio` ('ivr_gateway.wsgi:twilio_app()') and `web` (ivr_gateway.wsgi:app).
3. Plays the calls (a full log-in then log-out each, concurrently, signed, TwiML followed) three
   times, with a fresh group of carers each time:
   A. to web_twilio, nothing else running (the baseline);
   B. to web_twilio while --readers threads read /api/v1/visits from `web` as fast as it answers;
   C. to `web` itself under the same readers (what a single process type gives).
4. Prints p50/p99 of every webhook in each phase, the readers' throughput, and the p99 ratios
   B/A (webhooks first: near 1 on a machine with cores to spare) and C/A.
The ratio B/A measures only what the separate workers cannot remove: the CPU and the database
the two process types still share (on a 2-core machine with 16 readers, some of it).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ivr_load import (
    HOST,
    AppRun,
    Gunicorn,
    free_port,
    percentile,
    play_calls,
    setup_database,
)
from ivr_gateway.api.models import ApiToken
from ivr_gateway.config import normalise_database_url
from ivr_gateway.hashing import hash_api_token


class Readers:
    """Threads reading the day's visits from /api/v1 as fast as the server answers."""

    def __init__(self, base_url: str, token: str, count: int) -> None:
        self.stop = threading.Event()
        self.seconds: list[float] = []
        self.failures = 0
        self.lock = threading.Lock()
        day = datetime.now(UTC).date().isoformat()
        self.url = f"{base_url}/api/v1/visits?date={day}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.threads = [threading.Thread(target=self._read, daemon=True) for _ in range(count)]

    def _read(self) -> None:
        http = requests.Session()
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                ok = http.get(self.url, headers=self.headers, timeout=60).status_code == 200
            except requests.RequestException:
                ok = False
            with self.lock:
                self.seconds.append(time.perf_counter() - started)
                self.failures += 0 if ok else 1
        http.close()

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        time.sleep(2)  # let them fill the web workers' threads
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=65)


def summary(run: AppRun) -> tuple[float, float]:
    """p50 and p99 over every webhook of a phase, in seconds."""
    values = [s.seconds for s in run.samples]
    return percentile(values, 50), percentile(values, 99)


def main(argv: list[str] | None = None) -> int:
    """Run the three phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=30, help="concurrent calls per phase (30)")
    parser.add_argument("--readers", type=int, default=16, help="API reader threads (16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers each (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--server", default=f"postgresql://postgres@{HOST}:5432")
    parser.add_argument("--database", default="bench_ops", help="the bench's own database")
    args = parser.parse_args(argv)

    now = datetime.now(UTC)
    warmup = 4  # calls to each server first, so phase A does not pay for cold workers
    url, carers = setup_database(args.server, args.database, 3 * args.calls + 2 * warmup, now)
    groups = [carers[i * args.calls:(i + 1) * args.calls] for i in range(3)]
    warm = carers[3 * args.calls:]
    api_token = "ivr_bench_" + secrets.token_urlsafe(24)
    engine = create_engine(normalise_database_url(url))
    with Session(engine) as session:
        session.add(ApiToken(name="bench", token_hash=hash_api_token(api_token), created_at=now))
        session.commit()
    engine.dispose()

    twilio_token = secrets.token_hex(16)
    env_base = {"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": twilio_token,
                "IVR_GATEWAY_ENV": "test", "PYTHONDONTWRITEBYTECODE": "1", "LOG_FORMAT": "json",
                "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    log_dir = Path(tempfile.mkdtemp(prefix="webhooks-first-"))
    started: list[Gunicorn] = []
    try:
        servers = {}
        for name, app in (("web_twilio", "ivr_gateway.wsgi:twilio_app()"),
                          ("web", "ivr_gateway.wsgi:app")):
            port = free_port()
            env = {**env_base, "PUBLIC_BASE_URL": f"http://{HOST}:{port}"}
            server = Gunicorn(name, app, port, env, args.workers, args.threads, log_dir)
            started.append(server)
            servers[name] = server
        for server in started:
            server.wait_ready(twilio_token, timeout=60)
        print(f"web_twilio and web: {args.workers} workers x {args.threads} threads each "
              f"(gthread); {args.calls} concurrent calls a phase; {args.readers} API readers; "
              f"logs in {log_dir}")

        play_calls("gateway", servers["web_twilio"].base_url, twilio_token, warm[:warmup],
                   None, 120)
        play_calls("gateway", servers["web"].base_url, twilio_token, warm[warmup:], None, 120)
        phases: list[tuple[str, AppRun, Readers | None]] = []
        run = AppRun("A")
        play_calls("gateway", servers["web_twilio"].base_url, twilio_token, groups[0], run, 300)
        phases.append(("A  web_twilio, nothing else", run, None))
        for label, target, group in (("B  web_twilio, readers on web", "web_twilio", groups[1]),
                                     ("C  web, readers on web", "web", groups[2])):
            run = AppRun(label[0])
            with Readers(servers["web"].base_url, api_token, args.readers) as readers:
                play_calls("gateway", servers[target].base_url, twilio_token, group, run, 300)
            phases.append((label, run, readers))
    finally:
        for server in started:
            server.stop()

    print(f"\n{'phase':34} {'webhooks':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  readers")
    p99s = {}
    for label, run, readers in phases:
        p50, p99 = summary(run)
        p99s[label[0]] = p99
        reads = "" if readers is None else (
            f"{len(readers.seconds)} reads, p50 {percentile(readers.seconds, 50) * 1000:.0f} ms, "
            f"{readers.failures} failed")
        print(f"{label:34} {len(run.samples):8d} {p50 * 1000:8.1f} {p99 * 1000:8.1f} "
              f"{len(run.errors):6d}  {reads}")
    print(f"\np99 ratio B/A (webhooks on their own workers, readers on web): "
          f"{p99s['B'] / p99s['A']:.2f}")
    print(f"p99 ratio C/A (webhooks sharing web's workers with the readers): "
          f"{p99s['C'] / p99s['A']:.2f}")
    errors = sum(len(run.errors) for _label, run, _readers in phases)
    if errors:
        for _label, run, _readers in phases:
            for message in run.errors[:5]:
                print(f"  {run.name}: {message}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
