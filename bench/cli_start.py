"""Benchmark: how long a CLI command takes to start and answer (`codes now` in particular).

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/cli_start.py [--repeat 7]

The target (issue "one verdict per visit", item 8): a command answers in under half a second,
so that `codes now` does not say "valid for 15 more seconds" about a code that has aged while
the command started. In a temporary folder it migrates a SQLite database and registers a
visit-code token, then runs, --repeat times each and in turn (so a load that changes during the
run weighs on all alike):

- `python -c pass`: the interpreter alone;
- `python -c "import sqlalchemy.orm"`: the floor of any command that reads the database;
- `ivr-gateway --help`: the CLI with no command imported;
- `ivr-gateway codes now SERIAL`: a whole command, a database read included (through the
  driver, sms/code_now.py);
- the same through the ORM, as before the driver path: the database's URL with a SQLite option
  (`?timeout=10`), a form the driver path leaves to the ORM; the baseline of the change.

With `--postgresql URL` (a database of your own: it is migrated, and a token registered in it) it
also times `import psycopg` and `codes now` on PostgreSQL.

It prints the median wall time and CPU time (user + system, from the child's rusage) of each, and
each command's ratio to the SQLAlchemy floor measured in the same run: on a busy machine the wall
times move with the load, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5
VENV_BIN = Path(sys.executable).parent


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    """Set up a token, time the commands in turn, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgresql", metavar="URL", default=None,
                        help="Also time codes now on this PostgreSQL database (migrated here).")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cli-start-"))
    sqlite_url = f"sqlite:///{folder}/gateway.sqlite3"
    env = {**os.environ, "DATABASE_URL": sqlite_url, "IVR_GATEWAY_ENV": "test"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user runs it: bytecode cached
    cli = str(VENV_BIN / "ivr-gateway")
    register_token(cli, env, folder)
    orm_env = {**env, "DATABASE_URL": f"{sqlite_url}?timeout=10"}
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "import sqlalchemy.orm": ([sys.executable, "-c", "import sqlalchemy.orm"], env),
        "ivr-gateway --help": ([cli, "--help"], env),
        "ivr-gateway codes now": ([cli, "codes", "now", "BENCH1"], env),
        "codes now, ORM path": ([cli, "codes", "now", "BENCH1"], orm_env),
    }
    if args.postgresql:
        pg_env = {**env, "DATABASE_URL": args.postgresql}
        register_token(cli, pg_env, folder)
        commands["import psycopg"] = ([sys.executable, "-c", "import psycopg"], env)
        commands["codes now, PostgreSQL"] = ([cli, "codes", "now", "BENCH1"], pg_env)
    for command, command_env in commands.values():  # warm: bytecode, the page cache
        run(command, command_env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    load_before = os.getloadavg()
    for _ in range(args.repeat):
        for name, (command, command_env) in commands.items():
            wall, cpu = run(command, command_env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load = os.getloadavg()
    print(f"median of {args.repeat} runs each, in turn; load average (1, 5, 15 min) "
          f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} before, "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after, on {os.cpu_count()} cores")
    floor_wall = statistics.median(walls["import sqlalchemy.orm"])
    floor_cpu = statistics.median(cpus["import sqlalchemy.orm"])
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:>25}: wall {wall:.3f} s (best {min(walls[name]):.3f}), CPU {cpu:.3f} s; "
              f"x{wall / floor_wall:.2f} wall, x{cpu / floor_cpu:.2f} CPU of the SQLAlchemy floor")
    for name in ("ivr-gateway codes now", "codes now, PostgreSQL"):
        if name in walls:
            best, median = min(walls[name]), statistics.median(walls[name])
            print(f"{name}: best wall {best:.3f} s, median {median:.3f} s "
                  f"(target < {TARGET_SECONDS} s) "
                  f"{'PASS' if median < TARGET_SECONDS else 'FAIL'}")


def register_token(cli: str, env: dict[str, str], folder: Path) -> None:
    """Migrate the database of `env` and register token BENCH1 in it (unassigned)."""
    subprocess.run([cli, "migrate"], env=env, check=True, capture_output=True)
    seeds = folder / "seeds.csv"
    seeds.write_text("serial,secret\nBENCH1,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n", encoding="utf-8")
    subprocess.run([cli, "codes", "token", "import", str(seeds)], env=env, check=True,
                   capture_output=True)


if __name__ == "__main__":
    main()
