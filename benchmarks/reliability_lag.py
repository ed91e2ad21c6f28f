"""Round lag behind the period close, under load, while another project misbehaves.

Library level, in real time: a RollingStore, an Evaluator running its own loop
(rounds at each period close plus ``period_close_delay``, and every
``evaluation_interval``) and an AlarmStore on SQLite (``--database`` takes a
PostgreSQL URL too), with the Dispatcher delivering notifications on its threads.

* 10,000 alarms of 50 well-behaved projects, over periods of 10, 30 and 60 s, each on
  its own server's cpu_util; 1 % of them hover around the threshold and flap, sending
  in-process notifications.
* 20,000 samples/s ingested for ``--seconds`` (60) by a feeder thread, in batches of
  2,000 every 0.1 s, stamped with the current time.
* Project ``evil`` holds 20 alarms that fire and repeat every round into webhooks that
  take 5 s to answer, and one bad alarm (``--bad-alarm``): ``never-firing`` is a time
  constraint that never fires (``0 0 31 2 *``), which made a whole round raise on the
  code this benchmark was written against; ``none`` leaves it out.

A round's lag is how long after a period closed the first round that evaluated that
period finished (period_close_delay, 0.5 s, included). Every close of every period in
the measured interval counts; a close that no round decided (the round raised) is
counted in ``round_failures`` and the lag figures then read ``inf``.

Prints ``RESULT round_lag_max_s``, ``RESULT round_lag_median_s``,
``RESULT round_failures`` and ``RESULT ingest_samples_per_s``. Target: max <= 5 s.
Run with ``python benchmarks/reliability_lag.py`` (about two minutes). The slow
webhooks listen on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import progress, result  # noqa: E402

from heat_alarming.engine import Alarm, AlarmStore, Evaluator  # noqa: E402
from heat_alarming.engine.notifiers.dispatcher import Dispatcher  # noqa: E402
from heat_alarming.metering import RollingStore  # noqa: E402
from tests.support.http_servers import Webhook, loopback_notifiers  # noqa: E402

PERIODS = (10, 30, 60)
EVALUATION_PERIODS = 3
PROJECTS = 50
RATE = 20_000          # samples per second
TICK = 0.1             # seconds between feeder batches
EVIL_ALARMS = 20
SLOW_WEBHOOK_S = 5.0
BAD_ALARMS = {
    "never-firing": [{"name": "never", "start": "0 0 31 2 *", "duration": 60}],
    "none": None,
}


class TimedEvaluator(Evaluator):
    """Records when each round finished, its ``now`` and the periods it evaluated."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.finished: list[tuple[float, float, tuple | None]] = []
        self.raised = 0

    def evaluate(self, now=None, periods=None):
        now = self.clock() if now is None else float(now)
        try:
            out = super().evaluate(now, periods)
        except Exception:
            self.raised += 1
            raise
        self.finished.append((time.time(), now, None if periods is None else tuple(periods)))
        return out


class Load:
    def __init__(self, n_alarms: int, database: str, bad_alarm: str) -> None:
        self.n = n_alarms
        self.store = RollingStore(10, 3600, capacity=n_alarms + 64)
        self.rows = np.array([self.store.series_id("cpu_util", f"server-{i}",
                                                   f"p{i % PROJECTS:02d}")
                              for i in range(n_alarms)])
        self.evil_rows = np.array([self.store.series_id("cpu_util", f"evil-{i}", "evil")
                                   for i in range(EVIL_ALARMS + 1)])
        rng = np.random.default_rng(7)
        self.levels = rng.uniform(10.0, 60.0, n_alarms)
        self.levels[rng.choice(n_alarms, n_alarms // 100, replace=False)] = 75.0  # flappers
        self.alarm_store = AlarmStore(database)
        self.slow = Webhook(delay=SLOW_WEBHOOK_S)
        manager = loopback_notifiers(timeout=10.0)
        self.received = 0
        self.dispatcher = Dispatcher(self.alarm_store, manager)
        self.evaluator = TimedEvaluator(self.store, self.alarm_store, notifiers=manager,
                                        dispatcher=self.dispatcher)
        self.evaluator.register_target("sink", self._sink)
        self.evaluator.define_many(self._alarms())
        bad = self._bad_alarm(bad_alarm)
        if bad is not None:
            # refused at definition today: written to the database as an older version
            # could have stored it, then read back as every worker does
            self.alarm_store.save_alarms([Alarm.from_dict(bad, checked=False)])
            self.evaluator.reload()
        self.ingested = 0
        self._stop = threading.Event()

    def _sink(self, payload: dict) -> None:
        self.received += 1

    def _alarms(self):
        for i in range(self.n):
            yield {"alarm_id": f"alarm-{i}", "name": f"cpu-high-{i}",
                   "project_id": f"p{i % PROJECTS:02d}", "alarm_actions": ["inproc://sink"],
                   "threshold_rule": {
                       "meter_name": "cpu_util", "statistic": "avg",
                       "period": PERIODS[i % len(PERIODS)],
                       "evaluation_periods": EVALUATION_PERIODS, "threshold": 75,
                       "comparison_operator": "gt",
                       "query": [{"field": "resource_id", "op": "eq",
                                  "value": f"server-{i}"}]}}
        for i in range(EVIL_ALARMS):
            yield {"alarm_id": f"evil-{i}", "name": f"evil-{i}", "project_id": "evil",
                   "alarm_actions": [self.slow.url], "repeat_actions": True,
                   "threshold_rule": {"meter_name": "cpu_util", "threshold": 0,
                                      "comparison_operator": "gt", "period": 10,
                                      "query": [{"field": "resource_id", "op": "eq",
                                                 "value": f"evil-{i}"}]}}

    @staticmethod
    def _bad_alarm(bad_alarm: str) -> dict | None:
        constraints = BAD_ALARMS[bad_alarm]
        if constraints is None:
            return None
        return {"alarm_id": "evil-bad", "name": "evil-bad", "project_id": "evil",
                "time_constraints": constraints,
                "threshold_rule": {"meter_name": "cpu_util", "threshold": 0,
                                   "comparison_operator": "gt", "period": 10,
                                   "query": [{"field": "resource_id", "op": "eq",
                                              "value": f"evil-{EVIL_ALARMS}"}]}}

    def batch(self, start: int, size: int, at: float) -> int:
        picks = (np.arange(start, start + size) % self.n)
        volumes = self.levels[picks] + np.random.default_rng(start).normal(0, 3, size)
        series = np.concatenate([self.rows[picks], self.evil_rows])
        stamps = np.full(series.size, at)
        volumes = np.concatenate([volumes, np.full(self.evil_rows.size, 50.0)])
        return self.store.ingest_arrays(series, stamps, volumes).accepted

    def warm_up(self) -> None:
        """The last look-back of samples, then one round: the alarms leave insufficient
        data before the measured interval starts."""
        now = time.time()
        span = (EVALUATION_PERIODS + 1) * max(PERIODS)
        per_second = RATE // 2
        for k in range(span):
            self.batch(k * per_second, per_second, now - span + k)
        self.evaluator.evaluate(now)

    def feed(self, seconds: float) -> None:
        size = int(RATE * TICK)
        start = 0
        deadline = time.monotonic() + seconds
        next_tick = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.ingested += self.batch(start, size, time.time())
            start += size
            next_tick += TICK
            self._stop.wait(max(0.0, next_tick - time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self.evaluator.stop()
        self.slow.close()
        self.alarm_store.close()


def lags(finished, start: float, end: float, delay: float) -> tuple[list[float], int]:
    """For every close in [start, end): seconds from the close to the end of the first
    round that evaluated its period at or after close + delay; and the closes missed."""
    out, missed = [], 0
    for period in PERIODS:
        for close in range(math.ceil(start / period) * period, int(end), period):
            done = [wall for wall, now, periods in finished
                    if now >= close + delay and (periods is None or period in periods)]
            if done:
                out.append(min(done) - close)
            else:
                missed += 1
    return out, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", help="alarm database URL (default: SQLite in a "
                                           "temporary directory)")
    parser.add_argument("--bad-alarm", choices=sorted(BAD_ALARMS), default="never-firing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or os.path.join(tmp, "alarms.sqlite")
        progress(f"{args.alarms:,} alarms over periods {PERIODS}, bad alarm: "
                 f"{args.bad_alarm}, database {database.split('@')[-1]}")
        load = Load(args.alarms, database, args.bad_alarm)
        try:
            progress("warming up (the look-back of samples, one round)")
            try:
                load.warm_up()
            except Exception as exc:  # today's round may fail with the bad alarm
                progress(f"warm-up round raised {exc.__class__.__name__}: {exc}")
            load.evaluator.start()
            started = time.time()
            progress(f"feeding {RATE:,} samples/s for {args.seconds:g} s")
            load.feed(args.seconds)
            ended = time.time()
            # the closes of the fed interval; the last ones get a moment to be decided
            time.sleep(2.0)
        finally:
            load.close()
        measured, missed = lags(load.evaluator.finished, started, ended - 1.0,
                                load.evaluator.period_close_delay)
        progress(f"{len(load.evaluator.finished)} rounds, {load.evaluator.raised} raised; "
                 f"{load.received} in-process notifications, {len(load.slow.requests)} "
                 "calls to the slow webhooks")
    worst = max(measured) if measured and not missed else float("inf")
    middle = statistics.median(measured) if measured and not missed else float("inf")
    result("round_lag_max_s", worst)
    result("round_lag_median_s", middle)
    result("round_failures", missed, "{:d}")
    result("ingest_samples_per_s", load.ingested / (ended - started), "{:.0f}")


if __name__ == "__main__":
    main()
