"""Evaluation rounds at 100,000 and 1,000,000 threshold alarms, beside Aodh's evaluator.

Each alarm watches its own server's cpu_util (avg over 5 periods of 60 s,
samples every 10 s). Our figure is a whole round of :meth:`Evaluator.evaluate`:
statistics from the store for every alarm, the decision and the state machine.
Aodh's figure runs ``aodh.evaluator.gnocchi.GnocchiResourceThresholdEvaluator``
(the ``aodh`` package from PyPI) on the same alarms, with the same statistics
handed to it in-process by a stub in place of the Gnocchi client, so it
measures evaluation logic alone. Both run in this one process, interleaved:
each of our rounds is followed by one Aodh batch, and the ratio reported is the
median of the per-pair ratios (machine noise moves both alike), after warm-up
rounds that are not counted.

The cases (``--only``):

* ``round``: ``eval_round_100k_ms`` and ``RATIO evaluator_vs_aodh``;
* ``new_series``: one new series of the meter every alarm watches, then the
  next round (``round_after_new_series_100k_ms``): a scale-out creates one;
* ``million``: 1,000,000 alarms on a store of 1,000,000 series (retention 600 s,
  so the ring fits in memory): ``compile_1m_alarms_s`` (the first round after the
  alarms are defined, over an empty window so that nothing changes state:
  compiling them into arrays, matching their series, one decision),
  ``eval_round_1m_ms`` and ``rss_per_alarm_bytes`` (the resident memory the
  alarms add, the store's already counted before they are defined; the alarm
  database is a SQLite file, outside the process as a server would be);
* ``transition_storm`` (no aodh needed): the round in which every one of 10,000
  alarms changes state (each ``evaluation_periods`` 1 with an alarm and an ok
  action, its server's load crossing the threshold every period): the decisions,
  then the round's commit of 10,000 states, history rows and queued
  notifications, per alarm, on a SQLite file and on PostgreSQL (that of
  tests/support/databases.py, 127.0.0.1; skipped, saying so, when it does not
  answer).

Run with ``tox -e bench -- bench_evaluator`` or, where aodh is installed,
``python benchmarks/bench_evaluator.py`` (``--only`` one case).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no threaded numpy kernels

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_seconds, progress, ratio, result  # noqa: E402

from heat_alarming.engine import AlarmStore, Evaluator, Limits  # noqa: E402
from heat_alarming.metering import ManualClock, RollingStore  # noqa: E402
from heat_alarming.metering.query import build_query  # noqa: E402

T0 = 1_767_225_600.0
PERIOD, N, STEP = 60, 5, 10.0


class World:
    """A store with n servers and one alarm per server, fed period by period."""

    def __init__(self, n: int, retention: int = 3600, alarm_url: str = "sqlite://") -> None:
        self.n = n
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, retention, clock=self.clock, capacity=n)
        self.rows = np.array([self.store.series_id("cpu_util", f"server-{i}", "p")
                              for i in range(n)])
        self.levels = np.random.default_rng(1).uniform(10.0, 60.0, n)  # all below 75
        self.evaluator = Evaluator(self.store, AlarmStore(alarm_url), clock=self.clock,
                                   limits=Limits(alarms_per_project=n))
        self.extra = 0  # series added since (new_series)

    def define(self) -> None:
        self.evaluator.define_many(
            {"alarm_id": f"alarm-{i}", "name": f"cpu-high-{i}", "project_id": "p",
             "threshold_rule": {"meter_name": "cpu_util", "statistic": "avg",
                                "period": PERIOD, "evaluation_periods": N, "threshold": 75,
                                "comparison_operator": "gt",
                                "query": [{"field": "resource_id", "op": "eq",
                                           "value": f"server-{i}"}]}}
            for i in range(self.n))

    def next_period(self) -> None:
        """Ingest one period of samples (6 per server) and move to its close."""
        start = self.clock()
        for k in range(int(PERIOD / STEP)):
            noise = np.random.default_rng(int(start) + k).normal(0, 2, self.n)
            self.store.ingest_arrays(self.rows, np.full(self.n, start + k * STEP + 1.0),
                                     self.levels + noise)
        self.clock.set(start + PERIOD)

    def new_series(self) -> None:
        """A server the alarms do not watch starts reporting (a scale-out's new member)."""
        row = self.store.series_id("cpu_util", f"new-server-{self.extra}", "p")
        self.extra += 1
        self.store.ingest_arrays(np.array([row]), np.array([self.clock() + 1.0]),
                                 np.array([50.0]))

    def warm_up(self) -> None:
        """Rounds until every alarm is ok and the window is full (not timed)."""
        for _ in range(N + 2):
            self.next_period()
            self.evaluator.evaluate()
        states = {a.state for a in self.evaluator.alarms()}
        assert states == {"ok"}, states
        # the warm-up's transitions copied from SQLite's log into its file first (the
        # store's own thread does that after a round): the timed rounds start quiet
        checkpointer = self.evaluator.alarm_store.checkpointer
        if checkpointer is not None:
            checkpointer.wait_idle()

    def steady_round(self) -> float:
        """One round over the next period, timed; nothing changes state."""
        self.next_period()
        started = time.perf_counter()
        changes = self.evaluator.evaluate()
        took = time.perf_counter() - started
        assert changes == []
        return took

    def measures(self, first: int, count: int) -> dict[str, list]:
        """Each server's per-period averages as Gnocchi returns measures."""
        selection = self.store.select_many([
            ("cpu_util", build_query([{"field": "resource_id", "op": "eq",
                                       "value": f"server-{i}"}]), "p")
            for i in range(self.n)])
        counts, values, _ = self.store.aggregate(selection, PERIOD, first, count, ["avg"])
        stamps = [dt.datetime.fromtimestamp((first + p) * PERIOD, dt.timezone.utc).isoformat()
                  for p in range(count)]
        avg = values["avg"]
        return {f"server-{i}": [(stamps[p], float(PERIOD), float(avg[p, i]))
                                for p in range(count) if counts[p, i]]
                for i in range(self.n)}


def aodh_batch(world: World, n_alarms: int) -> Callable[[], float]:
    """Aodh's evaluator over ``n_alarms`` of the world's alarms: returns a callable
    that evaluates them all once and answers the seconds per alarm."""
    from aodh.evaluator import gnocchi as aodh_gnocchi

    first = int(world.clock() // PERIOD) - (N + 1)
    measures = world.measures(first, N + 1)

    class StubbedGnocchi(aodh_gnocchi.GnocchiResourceThresholdEvaluator):
        def __init__(self) -> None:  # no keystone, no HTTP: statistics come from memory
            self.conf = types.SimpleNamespace(additional_ingestion_lag=0,
                                              enable_evaluation_results_metrics=False)

        def _statistics(self, rule, start, end):
            return measures[rule["resource_id"]]

        def _refresh(self, alarm, state, reason, reason_data, always_record=False):
            alarm.state = state
            alarm.refreshed += 1

    evaluator = StubbedGnocchi()
    alarms = [types.SimpleNamespace(
        alarm_id=f"alarm-{i}", project_id="p", state="ok", repeat_actions=False,
        time_constraints=[], refreshed=0,
        rule={"metric": "cpu_util", "resource_id": f"server-{i}", "granularity": PERIOD,
              "aggregation_method": "mean", "evaluation_periods": N, "threshold": 75.0,
              "comparison_operator": "gt"}) for i in range(n_alarms)]

    def evaluate_all() -> float:
        started = time.perf_counter()
        for alarm in alarms:
            evaluator.evaluate(alarm)
        took = time.perf_counter() - started
        assert all(a.state == "ok" and a.refreshed == 0 for a in alarms)
        return took / n_alarms

    return evaluate_all


def bench_round(n: int, aodh_alarms: int, repeat: int) -> None:
    progress(f"round: {n:,} alarms; warming up (first rounds record the ok transitions)")
    world = World(n)
    world.define()
    world.warm_up()
    aodh = aodh_batch(world, min(aodh_alarms, n))
    for _ in range(2):  # warm-up pairs, not counted
        world.steady_round()
        aodh()
    ours, ratios = [], []
    for _ in range(repeat):
        took = world.steady_round()
        per_alarm_aodh = aodh()
        ours.append(took)
        ratios.append(per_alarm_aodh / (took / n))
    t = statistics.median(ours)
    progress(f"  one round over {n:,} alarms: {t * 1e3:.2f} ms ({t / n * 1e9:.0f} ns/alarm); "
             f"aodh pairs: {', '.join(f'{r:.0f}' for r in ratios)}")
    result("eval_round_100k_ms" if n == 100_000 else f"eval_round_{n}_ms", t * 1e3)
    ratio("evaluator_vs_aodh", statistics.median(ratios))


def bench_new_series(n: int, repeat: int) -> None:
    progress(f"new series: {n:,} alarms; each time one new series, then the next round")
    world = World(n)
    world.define()
    world.warm_up()
    world.steady_round()
    times = []
    for _ in range(repeat):
        world.new_series()
        times.append(world.steady_round())
    t = statistics.median(times)
    progress(f"  the round after a new series: {t * 1e3:.1f} ms "
             f"(rounds: {', '.join(f'{x * 1e3:.1f}' for x in times)})")
    result("round_after_new_series_100k_ms" if n == 100_000
           else f"round_after_new_series_{n}_ms", t * 1e3)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_million(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        progress(f"million: a store of {n:,} series, fed a whole ring's lap")
        world = World(n, retention=600, alarm_url=os.path.join(tmp, "alarms.sqlite"))
        for _ in range(world.store.n_buckets // int(PERIOD / world.store.resolution) + 1):
            world.next_period()  # every ring page written once: the store's memory is in
        gc.collect()
        before = rss_bytes()
        progress(f"  defining {n:,} alarms")
        started = time.perf_counter()
        world.define()
        defined = time.perf_counter() - started
        # the first round where the window is empty (the clock moved on past it): no
        # alarm changes state, so it times the compilation, the series matching and
        # one decision, plus the first 1,000 alarms' first reasons; with data it would
        # be a million transitions (the storm's cost, measured on its own below)
        world.clock.set(world.clock() + (N + 1) * PERIOD)
        started = time.perf_counter()
        world.evaluator.evaluate()
        compiled = time.perf_counter() - started
        progress(f"  defined in {defined:.1f} s; the first round, compiling them, "
                 f"{compiled:.1f} s")
        started = time.perf_counter()
        world.warm_up()
        progress(f"  warm-up rounds (a million transitions to ok) took "
                 f"{time.perf_counter() - started:.0f} s")
        gc.collect()
        grown = rss_bytes() - before
        times = [world.steady_round() for _ in range(repeat)]
        t = statistics.median(times)
        progress(f"  one round over {n:,} alarms: {t * 1e3:.1f} ms; the alarms added "
                 f"{grown / 2**20:.0f} MiB of resident memory")
        suffix = "1m" if n == 1_000_000 else str(n)
        result(f"compile_{suffix}_alarms_s", compiled)
        result(f"eval_round_{suffix}_ms", t * 1e3)
        result("rss_per_alarm_bytes", grown / n, "{:.0f}")


class Storm:
    """n alarms whose servers' load crosses the threshold every period: each round,
    every alarm changes state (alarm, ok, alarm ...) and queues one notification."""

    def __init__(self, url: str, n: int) -> None:
        self.n = n
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, 3600, clock=self.clock, capacity=n)
        self.rows = np.array([self.store.series_id("cpu_util", f"server-{i}", "p")
                              for i in range(n)])
        self.alarm_store = AlarmStore(url)
        self.evaluator = Evaluator(self.store, self.alarm_store, clock=self.clock,
                                   limits=Limits(alarms_per_project=n))
        self.evaluator.define_many(
            {"alarm_id": f"alarm-{i}", "name": f"cpu-high-{i}", "project_id": "p",
             "alarm_actions": ["log://"], "ok_actions": ["log://"],
             "threshold_rule": {"meter_name": "cpu_util", "statistic": "avg",
                                "period": PERIOD, "evaluation_periods": 1, "threshold": 75,
                                "comparison_operator": "gt",
                                "query": [{"field": "resource_id", "op": "eq",
                                           "value": f"server-{i}"}]}}
            for i in range(n))
        self.level = 30.0

    def next_period(self) -> None:
        """One period of samples on the other side of the threshold, then its close."""
        start = self.clock()
        for k in range(int(PERIOD / STEP)):
            self.store.ingest_arrays(self.rows, np.full(self.n, start + k * STEP + 1.0),
                                     np.full(self.n, self.level))
        self.clock.set(start + PERIOD)
        self.level = 90.0 if self.level == 30.0 else 30.0

    def round_seconds(self, repeat: int) -> tuple[float, float]:
        """Medians of the whole round and of its commit alone, every alarm moving."""
        self.next_period()
        self.evaluator.evaluate()  # the first round: insufficient data -> ok
        commits: list[float] = []
        commit_round = self.alarm_store.commit_round

        def timed(*args, **kwargs) -> None:
            started = time.perf_counter()
            commit_round(*args, **kwargs)
            commits.append(time.perf_counter() - started)

        self.alarm_store.commit_round = timed

        def one_round() -> None:
            changes = self.evaluator.evaluate()
            assert len(changes) == self.n and all(c["transition"] for c in changes)

        try:
            whole = median_seconds(one_round, repeat, setup=self.next_period)
        finally:
            del self.alarm_store.commit_round
            self.alarm_store.close()
        return whole, statistics.median(commits)


def bench_transition_storm(n: int, repeat: int) -> None:
    from tests.support.databases import ADMIN_URLS, answers, temporary_database

    def one(url: str, name: str, what: str) -> None:
        progress(f"transition storm: {n:,} alarms all changing state, on {what}")
        whole, commit = Storm(url, n).round_seconds(repeat)
        progress(f"  the round {whole * 1e3:.0f} ms, of which its commit {commit * 1e3:.0f} ms"
                 f" ({commit / n * 1e6:.1f} us per alarm)")
        result(name, whole / n * 1e6, "{:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        one(os.path.join(tmp, "alarms.sqlite"), "transition_storm_us_per_alarm", "SQLite")
    if not answers(ADMIN_URLS["postgresql"]):
        print(f"# PostgreSQL does not answer at {ADMIN_URLS['postgresql']}: "
              "no transition_storm_us_per_alarm_postgresql", flush=True)
        return
    with temporary_database(ADMIN_URLS["postgresql"], "ha_bench_storm") as url:
        one(url, "transition_storm_us_per_alarm_postgresql", "PostgreSQL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--aodh-alarms", type=int, default=20_000,
                        help="alarms Aodh evaluates per batch (its per-alarm time is "
                             "constant)")
    parser.add_argument("--million", type=int, default=1_000_000,
                        help="alarms (and series) of the million case")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--storm-alarms", type=int, default=10_000,
                        help="alarms of the transition storm, all changing state each round")
    parser.add_argument("--only", choices=("round", "new_series", "million",
                                           "transition_storm"),
                        help="run one case (see the module's docstring)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.only in (None, "round"):
        bench_round(args.alarms, args.aodh_alarms, args.repeat)
    if args.only in (None, "new_series"):
        bench_new_series(args.alarms, args.repeat)
    if args.only in (None, "million"):
        bench_million(args.million, max(3, args.repeat // 2))
    if args.only in (None, "transition_storm"):
        bench_transition_storm(args.storm_alarms, max(3, args.repeat))
    progress(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
