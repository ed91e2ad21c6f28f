"""One writer and several readers at once: readers always see whole batches."""
import threading

import numpy as np

from heat_alarming.metering import ManualClock, RollingStore, Sample

from .conftest import T0


def test_readers_never_see_a_half_written_batch_while_a_writer_ingests():
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    rows = np.array([store.series_id("cpu", f"vm{i}", "p",
                                     metadata={"metering.server_group": "web"})
                     for i in range(200)])
    batches = 300
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def write():
        for b in range(batches):
            # every batch: each series gets the value 1.0, alternately through
            # the array API and the one-sample API
            stamp = T0 - 3000 + b * 10 + 1
            if b % 2:
                store.ingest_arrays(rows, np.full(rows.size, stamp), np.ones(rows.size))
            else:
                store.ingest([Sample("cpu", 1.0, f"vm{i}", project_id="p", timestamp=stamp,
                                     resource_metadata={"metering.server_group": "web"})
                              for i in range(rows.size)])
        stop.set()

    def read():
        last = 0
        while not stop.is_set():
            stats = store.statistics("cpu", period=3600, start=T0 - 3600, end=T0,
                                     aggregates=["count", "avg", "min"],
                                     matching_metadata={"server_group": "web"})
            count = int(stats.count.sum())
            if count % rows.size:
                problems.append(f"saw {count} samples: not whole batches")
            if count < last:
                problems.append(f"count went back from {last} to {count}")
            held = stats.count > 0
            if held.any() and not (stats.values["avg"][held] == 1.0).all():
                problems.append("a partially merged cell was visible")
            last = count
            seen.append(count)

    readers = [threading.Thread(target=read) for _ in range(3)]
    writer = threading.Thread(target=write)
    for thread in readers + [writer]:
        thread.start()
    for thread in readers + [writer]:
        thread.join(timeout=120)
    assert not problems, problems[:5]
    assert len(seen) > 10, "the readers ran while the writer wrote"
    final = store.statistics("cpu", period=3600, start=T0 - 3600, end=T0,
                             aggregates=["count"])
    assert int(final.count.sum()) == batches * rows.size
