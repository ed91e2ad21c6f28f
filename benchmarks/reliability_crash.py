"""Crash trials of the Heat path: SIGKILL heat-engine at random instants of a delivery.

Each trial is one start of heat-engine (the in-process engine of
heat_alarming.resources.embedded, in a child process; tests/support/crash_engine.py)
on a Heat SQLite file and an alarm database (a SQLite file, then PostgreSQL):
it first redelivers what the previous, killed, start left unconfirmed, then
creates a stack (a group of 1, a policy adding 1, an alarm signalling it),
makes the alarm fire once and delivers; the parent SIGKILLs it at a random
instant between the start and a little past the end of that delivery. A
last start only redelivers and reports. Every group must end at 2: a group
at 1 is a lost action, each member beyond 2 a duplicate one.

Prints ``RESULT crash_trials``, ``RESULT crash_lost_actions`` and
``RESULT crash_duplicate_actions`` (totals over both databases; both must be
0), and how many kills fell inside the delivery.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import progress, result  # noqa: E402

from tests.support.crash_runner import CrashRunner  # noqa: E402
from tests.support.databases import ADMIN_URL, temporary_database  # noqa: E402


def _delivery_seconds(runner: CrashRunner) -> float:
    """How long one delivery takes here (a trial that is killed only after it)."""
    child = runner.start("trial-0", "delivering")
    runner.wait_for(child, "delivering")
    began = time.monotonic()
    runner.wait_for(child, "delivered")
    took = time.monotonic() - began
    runner.kill(child)
    return took


def run_trials(runner: CrashRunner, trials: int, rng: random.Random) -> dict:
    span = 1.25 * _delivery_seconds(runner)
    progress(f"a delivery takes {span / 1.25:.2f} s; kills fall in the first {span:.2f} s")
    inside = 0
    for k in range(1, trials + 1):
        child = runner.start(f"trial-{k}", "delivering")
        runner.wait_for(child, "delivering")
        time.sleep(rng.uniform(0.0, span))
        inside += not os.path.exists(os.path.join(runner.workdir, "delivered"))
        runner.kill(child)
    report = runner.restart()
    sizes = [t["size"] for t in report.values()]
    return {"trials": trials, "inside": inside,
            "lost": sum(1 for s in sizes if s < 2),
            "duplicates": sum(s - 2 for s in sizes if s > 2),
            "stacks": len(sizes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=25,
                        help="crash trials per database (default 25: 50 in all)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    totals = {"trials": 0, "inside": 0, "lost": 0, "duplicates": 0}
    with tempfile.TemporaryDirectory(prefix="ha-crash-") as top:
        for backend in ("sqlite", "postgresql"):
            workdir = os.path.join(top, backend)
            os.makedirs(workdir)
            with open(os.path.join(workdir, "engine.log"), "w") as log, \
                    (temporary_database(ADMIN_URL, "ha_crash") if backend == "postgresql"
                     else contextlib.nullcontext(
                         "sqlite:///" + os.path.join(workdir, "alarms.sqlite"))) as alarms:
                began = time.monotonic()
                outcome = run_trials(CrashRunner(workdir, alarms, log=log), args.trials, rng)
                progress(f"{backend}: {outcome['trials']} trials ({outcome['inside']} killed "
                         f"inside the delivery), {outcome['lost']} lost, "
                         f"{outcome['duplicates']} duplicate(s), "
                         f"{time.monotonic() - began:.0f} s")
                # trial-0 (calibration) is a stack too: every group counts
                for key in ("lost", "duplicates", "inside", "trials"):
                    totals[key] += outcome[key]
    result("crash_trials", totals["trials"], "{:d}")
    result("crash_trials_killed_inside_delivery", totals["inside"], "{:d}")
    result("crash_lost_actions", totals["lost"], "{:d}")
    result("crash_duplicate_actions", totals["duplicates"], "{:d}")
    return 0 if totals["lost"] == 0 and totals["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
