"""Benchmark of the rolling-window store beside pandas and Gnocchi's carbonara.

Run with ``tox -e bench`` (which installs the peers) or, in an environment
that has them, ``python benchmarks/bench_store.py``.  Every figure is a
median of several runs in this one process; the memory figure is read in a
fresh child process so that memory freed by earlier runs cannot hide in it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_seconds, progress, ratio, result  # noqa: E402

from heat_alarming.metering import ManualClock, RollingStore, Sample  # noqa: E402

T0 = 1_700_000_000.0


def bench_aggregation(n: int, repeat: int) -> None:
    """1,000,000 samples at 1 s into 60 s means: ours, pandas, carbonara."""
    import pandas as pd
    from gnocchi import carbonara

    rng = np.random.default_rng(42)
    times = T0 + np.arange(n, dtype=np.float64)
    values = rng.normal(50.0, 10.0, n)
    times64 = (times * 1e9).astype("datetime64[ns]")
    retention = -(-(n + 120) // 60) * 60
    clock = ManualClock(T0 + n)
    answers: dict[str, np.ndarray] = {}
    holder: dict[str, RollingStore] = {}

    def new_store() -> None:
        holder["store"] = RollingStore(60, retention, clock=clock, capacity=1)
        row = holder["store"].series_id("cpu_util", "server-0", "p")
        holder["rows"] = np.full(n, row)

    def ours() -> None:
        store = holder["store"]
        store.ingest_arrays(holder["rows"], times, values)
        stats = store.statistics("cpu_util", period=60, start=T0, end=T0 + n,
                                 aggregates=["avg"])
        answers["ours"] = stats.values["avg"][stats.count > 0]

    def with_pandas() -> None:
        series = pd.Series(values, index=pd.DatetimeIndex(times64))
        answers["pandas"] = series.resample("60s").mean().to_numpy()

    def with_carbonara() -> None:
        granularity = np.timedelta64(60, "s")
        bound = carbonara.BoundTimeSerie.from_data(times64, values)
        agg = carbonara.AggregatedTimeSerie.from_grouped_serie(
            bound.group_serie(granularity),
            carbonara.Aggregation("mean", granularity, None))
        answers["carbonara"] = agg.values

    progress(f"aggregation: {n:,} samples at 1 s into 60 s means, {repeat} runs each")
    t_ours = median_seconds(ours, repeat, setup=new_store)
    t_pandas = median_seconds(with_pandas, repeat)
    t_carbonara = median_seconds(with_carbonara, repeat)
    for peer in ("pandas", "carbonara"):
        if not np.allclose(answers["ours"], answers[peer], rtol=1e-12, atol=1e-9):
            raise SystemExit(f"our means differ from {peer}'s: the comparison is void")
    progress(f"  ours {t_ours * 1e3:.2f} ms, pandas {t_pandas * 1e3:.2f} ms, "
             f"carbonara {t_carbonara * 1e3:.2f} ms (all three agree on every mean)")
    result("agg_1m_single_series_ms", t_ours * 1e3)
    ratio("store_vs_pandas", t_pandas / t_ours)
    ratio("store_vs_carbonara", t_carbonara / t_ours)


def bench_batch_ingest(n_series: int, per_series: int, repeat: int) -> None:
    """n_series x per_series samples per call, as a collector's batch."""
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock, capacity=n_series)
    progress(f"batch ingest: registering {n_series:,} series")
    rows = np.array([store.series_id("cpu_util", f"server-{i}", "p")
                     for i in range(n_series)])
    batch_rows = np.tile(rows, per_series)
    rng = np.random.default_rng(7)
    volumes = rng.random(batch_rows.size) * 100
    state = {"t": T0}

    def next_round() -> None:
        # each run stamps its samples in the next per_series buckets
        start = state["t"]
        state["t"] += per_series * 10.0
        clock.set(state["t"])
        state["times"] = np.repeat(start + np.arange(per_series) * 10.0 + 1.0, n_series)

    def ingest() -> None:
        res = store.ingest_arrays(batch_rows, state["times"], volumes)
        assert res.accepted == batch_rows.size, res.rejected[:3]

    next_round()
    ingest()  # the first batch also maps the ring's pages; not counted
    progress(f"batch ingest: {batch_rows.size:,} samples over {n_series:,} series, "
             f"{repeat} runs")
    t = median_seconds(ingest, repeat, setup=next_round)
    shuffle = rng.permutation(batch_rows.size)
    shuffled_rows, shuffled_volumes = batch_rows[shuffle], volumes[shuffle]

    def ingest_shuffled() -> None:
        store.ingest_arrays(shuffled_rows, state["times"][shuffle], shuffled_volumes)

    t_shuffled = median_seconds(ingest_shuffled, repeat, setup=next_round)
    progress(f"  in collector order {batch_rows.size / t / 1e6:.2f} M/s; "
             f"shuffled order {batch_rows.size / t_shuffled / 1e6:.2f} M/s")
    result("ingest_batch_msamples_per_s", batch_rows.size / t / 1e6, "{:.2f}")


def bench_single_ingest(n: int, repeat: int) -> None:
    """The one-sample API, ``store.add(sample)``, on 1,000 series."""
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    state = {"t": T0}

    def make() -> None:
        start = state["t"]
        state["t"] += 60.0
        clock.set(state["t"])
        step = 60.0 / n
        state["samples"] = [Sample("cpu_util", float(i % 100), f"server-{i % 1000}",
                                   project_id="p", timestamp=start + i * step)
                            for i in range(n)]

    def add_all() -> None:
        add = store.add
        for sample in state["samples"]:
            add(sample)
        store.flush()

    progress(f"single-sample API: {n:,} add() calls, {repeat} runs")
    t = median_seconds(add_all, repeat, setup=make)
    result("ingest_single_ksamples_per_s", n / t / 1e3, "{:.0f}")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_probe(n_series: int, n_buckets: int) -> None:
    """Child process: fill every cell of n_series x n_buckets, print RSS growth."""
    clock = ManualClock(T0 + n_buckets * 10)
    before = _rss_bytes()
    store = RollingStore(10, n_buckets * 10, clock=clock, capacity=n_series)
    rows = np.array([store.series_id("cpu_util", f"server-{i}", "p",
                                     metadata={"user_metadata": {"server_group": f"g{i % 50}"}})
                     for i in range(n_series)])
    volumes = np.random.default_rng(3).random(n_series)
    for b in range(n_buckets):
        store.ingest_arrays(rows, np.full(n_series, T0 + 10.0 * b + 1.0), volumes)
    grown = _rss_bytes() - before
    # the ring also holds the clock skew's buckets (zeroed as the head moves): per ring bucket
    print(grown / (n_series * store.n_buckets))


def bench_memory(n_series: int, n_buckets: int) -> None:
    progress(f"memory: {n_series:,} series x {n_buckets} buckets, every cell written "
             "(fresh child process)")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-probe",
                          str(n_series), str(n_buckets)],
                         check=True, capture_output=True, text=True).stdout
    per_bucket = float(out.strip().splitlines()[-1])
    progress(f"  {per_bucket:.1f} bytes per series-bucket, index and arrays included "
             "(45 of them are the cell itself)")
    result("bytes_per_bucket", per_bucket, "{:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, for a smoke run (figures not comparable)")
    parser.add_argument("--memory-probe", nargs=2, type=int, metavar=("SERIES", "BUCKETS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    scale = 10 if args.quick else 1
    bench_aggregation(1_000_000 // scale, args.repeat)
    bench_batch_ingest(100_000 // scale, 10, args.repeat)
    bench_single_ingest(300_000 // scale, args.repeat)
    bench_memory(100_000 // scale, 360)


if __name__ == "__main__":
    main()
