"""Memory the series index holds for metadata: per series, and under metadata churn.

* ``index_metadata_kb_per_series_{flat,nested}``: traced memory per series of
  one project whose samples carry about 7.9 KB of metadata in 800 small keys
  (flat keys, or the same keys under one nested map), including the column of
  one key a query names.
* ``index_churn_held_mb``: memory still held after one live series received
  ``--churn`` samples, each with a new 7 KB value of a key a query names (the
  texts of values no row uses any more must be dropped).

Usage: python benchmarks/bench_index_memory.py [--series N] [--churn N]
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import progress, result  # noqa: E402
from heat_alarming.metering import ManualClock, RollingStore, Sample  # noqa: E402

T0 = 1_700_000_000.0


def _metadata(i: int, nested: bool) -> dict:
    keys = {f"k{j:x}": j % 10 for j in range(800)}  # about 8 KB of JSON
    keys["k0"] = f"series-{i}"
    return {"tags": keys} if nested else keys


def per_series_kb(n: int, nested: bool) -> float:
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock, max_metadata_bytes=16384)
    query = [{"field": "metadata.tags.k7" if nested else "metadata.k7", "op": "eq",
              "value": "7"}]
    store.select("cpu", query)  # the column exists before the series arrive
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for start in range(0, n, 500):
        stored = store.ingest([Sample("cpu", 1.0, f"vm-{i}", project_id="A", timestamp=T0,
                             resource_metadata=_metadata(i, nested))
                               for i in range(start, min(n, start + 500))])
        assert not stored.rejected, stored.rejected[:1]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert store.select("cpu", query).size == n
    return held / n / 1024


def churn_held_mb(n: int) -> float:
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    store.ingest([Sample("cpu", 1.0, "vm", project_id="A", timestamp=T0,
                         resource_metadata={"x": "first"})])
    store.select("cpu", [{"field": "metadata.x", "op": "eq", "value": "first"}])
    big = "v" * 7000
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for start in range(0, n, 1000):
        clock.advance(1)
        store.ingest([Sample("cpu", 1.0, "vm", project_id="A", timestamp=clock(),
                             resource_metadata={"x": f"{i}-{big}"})
                      for i in range(start, min(n, start + 1000))])
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return held / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--churn", type=int, default=10000)
    args = parser.parse_args()
    for nested in (False, True):
        name = "nested" if nested else "flat"
        progress(f"{args.series} series with 800 {name} metadata keys")
        result(f"index_metadata_kb_per_series_{name}", per_series_kb(args.series, nested),
               "{:.1f}")
    progress(f"{args.churn} samples of one series, each a new 7 KB metadata value")
    result("index_churn_held_mb", churn_held_mb(args.churn), "{:.2f}")


if __name__ == "__main__":
    main()
