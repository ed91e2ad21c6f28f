"""Library demo: a synthetic load through the rolling-window store, per-period statistics.

A fleet of servers in two groups reports cpu_util every 10 seconds on a
simulated clock (the "web" group ramps up, holds and drops; "db" stays
level).  The samples go through the real validation and ingest paths,
then the store answers per-period statistics for each group the way an
alarm will ask for them, is snapshotted to disk and restored.  It runs as
``heat-alarming store-demo``; ``heat-alarming demo`` is the Heat demo.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np

from heat_alarming import opts
from heat_alarming.errors import CommandError
from heat_alarming.metering import (
    ManualClock,
    Sample,
    SampleError,
    StatisticsRequest,
    restore_store,
    write_snapshot,
)

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a whole hour
STEP = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", type=int, default=12,
                        help="servers in the fleet; two thirds are in group web (default 12)")
    parser.add_argument("--minutes", type=int, default=30,
                        help="simulated minutes of load (default 30; at most the "
                             "store retention)")
    parser.add_argument("--period", type=int, default=300,
                        help="statistics period in seconds (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--workdir", help="where the snapshot goes (default: a temporary "
                                          "directory, removed at the end)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def web_load(minute: np.ndarray, minutes: int) -> np.ndarray:
    """Ramp from 20 % to 85 % over the first third, hold, then drop to 15 %."""
    third = minutes / 3.0
    ramp = 20.0 + 65.0 * np.clip(minute / third, 0.0, 1.0)
    return np.where(minute < 2 * third, ramp, 15.0)


def _progress(done: int, total: int, samples: int, enabled: bool) -> None:
    if not enabled:
        return
    width = 30
    filled = int(width * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} min "
                     f"{samples:,} samples")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _fmt(value: float) -> str:
    return "     -" if math.isnan(value) else f"{value:6.1f}"


def run(args: argparse.Namespace, conf) -> int:
    clock = ManualClock(START)
    store = opts.store_from_conf(conf, clock=clock)
    if args.minutes * 60 > store.retention or args.minutes < 1:
        raise CommandError(f"--minutes {args.minutes} must be between 1 and the store "
                           f"retention ({store.retention // 60} min)", status=2)
    if args.period % store.resolution:
        raise CommandError(f"--period {args.period} must be a multiple of the store "
                           f"resolution ({store.resolution} s)", status=2)
    store.track_raw("cpu_util")
    rng = np.random.default_rng(args.seed)
    n_web = max(1, (2 * args.servers) // 3)
    servers = [(f"server-{i:02d}", "web" if i < n_web else "db") for i in range(args.servers)]
    print(f"heat-alarming store demo: {args.servers} servers ({n_web} web, "
          f"{args.servers - n_web} db), cpu_util every {STEP:.0f} s for {args.minutes} "
          f"simulated minutes")
    print(f"store: {store.resolution} s buckets, {store.retention} s retention; "
          f"web ramps 20% -> 85%, holds, then drops to 15%; db stays near 35%")

    started = time.perf_counter()
    ticks = int(args.minutes * 60 / STEP)
    accepted = 0
    for tick in range(ticks):
        now = START + tick * STEP
        clock.set(now + STEP)
        minute = np.full(len(servers), tick * STEP / 60.0)
        level = np.where([g == "web" for _, g in servers], web_load(minute, args.minutes), 35.0)
        volumes = np.clip(level + rng.normal(0.0, 4.0, len(servers)), 0.0, 100.0)
        batch = [Sample("cpu_util", float(v), rid, unit="%", project_id="demo-project",
                        timestamp=now + float(rng.uniform(0, STEP)),
                        resource_metadata={"user_metadata": {"server_group": group}})
                 for (rid, group), v in zip(servers, volumes)]
        accepted += store.ingest(batch).accepted
        if (tick + 1) % int(60 / STEP) == 0:
            _progress((tick + 1) * int(STEP) // 60, args.minutes, accepted,
                      not args.no_progress and sys.stderr.isatty())
    elapsed = time.perf_counter() - started
    print(f"ingested {accepted:,} samples into {len(store)} series in {elapsed:.2f} s "
          "(validated one by one, merged in batches)")

    bad = Sample("cpu_util", float("nan"), "server-00", project_id="demo-project")
    try:
        store.add(bad)
    except SampleError as exc:
        print(f"a bad sample is refused and nothing is stored: {exc}")

    end = START + args.minutes * 60
    requests = [StatisticsRequest("cpu_util", args.period, START, end,
                                  ("count", "avg", "max", "p95", "std"),
                                  matching_metadata={"metering.server_group": group},
                                  project_id="demo-project")
                for group in ("web", "db")]
    answers = store.statistics_many(requests)
    for group, stats in zip(("web", "db"), answers):
        print(f"\ncpu_util of group {group} ({stats.series} series, "
              f"matching_metadata server_group={group}), {args.period} s periods:")
        print("  period (UTC)   count    avg    max    p95    std")
        for i in range(len(stats)):
            begin = time.strftime("%H:%M", time.gmtime(stats.period_start[i]))
            finish = time.strftime("%H:%M", time.gmtime(stats.period_end[i]))
            v = {k: float(a[i]) for k, a in stats.values.items()}
            print(f"  {begin}-{finish}  {int(stats.count[i]):6d} {_fmt(v['avg'])} "
                  f"{_fmt(v['max'])} {_fmt(v['p95'])} {_fmt(v['std'])}")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, "store.snap")
        size = write_snapshot(store, path)
        restored = restore_store(path, clock=clock)
        again = restored.statistics_many(requests)
        same = all(np.array_equal(a.values[k], b.values[k], equal_nan=True)
                   for a, b in zip(answers, again) for k in a.values)
        print(f"\nsnapshot: {size / 1024:.0f} KiB to {path}; restored {len(restored)} "
              f"series; answers identical after restore: {'yes' if same else 'NO'}")
    return 0 if same else 1
