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
- `ivr-gateway codes now SERIAL`: a whole command, a database read included.

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
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cli-start-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/gateway.sqlite3",
           "IVR_GATEWAY_ENV": "test"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user runs it: bytecode cached
    cli = str(VENV_BIN / "ivr-gateway")
    subprocess.run([cli, "migrate"], env=env, check=True, capture_output=True)
    seeds = folder / "seeds.csv"
    seeds.write_text("serial,secret\nBENCH1,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n", encoding="utf-8")
    subprocess.run([cli, "codes", "token", "import", str(seeds)], env=env, check=True,
                   capture_output=True)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import sqlalchemy.orm": [sys.executable, "-c", "import sqlalchemy.orm"],
        "ivr-gateway --help": [cli, "--help"],
        "ivr-gateway codes now": [cli, "codes", "now", "BENCH1"],
    }
    for command in commands.values():  # warm: bytecode written, files in the page cache
        run(command, env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            wall, cpu = run(command, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load = os.getloadavg()[0]
    print(f"median of {args.repeat} runs each, in turn; load average {load:.1f} "
          f"on {os.cpu_count()} cores")
    floor_wall = statistics.median(walls["import sqlalchemy.orm"])
    floor_cpu = statistics.median(cpus["import sqlalchemy.orm"])
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:>24}: wall {wall:.3f} s (best {min(walls[name]):.3f}), CPU {cpu:.3f} s; "
              f"x{wall / floor_wall:.2f} wall, x{cpu / floor_cpu:.2f} CPU of the SQLAlchemy floor")
    codes = walls["ivr-gateway codes now"]
    best, median = min(codes), statistics.median(codes)
    print(f"codes now: best wall {best:.3f} s, median {median:.3f} s "
          f"(target < {TARGET_SECONDS} s) {'PASS' if median < TARGET_SECONDS else 'FAIL'}")


if __name__ == "__main__":
    main()
