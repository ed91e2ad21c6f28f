"""The store's stats(): live series per project, and every ingest path's accepted and
refused samples, refusals counted by the field they name."""
import numpy as np
import pytest

from heat_alarming.metering import Sample, SampleError
from heat_alarming.metering.batch import SampleBatch

from .conftest import T0


def test_every_ingest_path_counts_what_it_took_and_refused(store, clock):
    clock.set(T0 + 100)
    store.add(Sample("cpu_util", 1.0, "vm-1", project_id="p1", timestamp=T0 + 1))
    with pytest.raises(SampleError):
        store.add(Sample("cpu_util", float("nan"), "vm-1", project_id="p1"))
    store.ingest([Sample("cpu_util", 2.0, "vm-2", project_id="p1", timestamp=T0 + 2),
                  Sample("cpu_util", 3.0, "vm-3", project_id="p2", timestamp=T0 + 9999)])
    store.ingest_batch(SampleBatch.from_samples(
        [Sample("mem", 4.0, "vm-1", timestamp=T0 + 3),
         Sample("mem", 5.0, "vm-1", timestamp=T0 - 7200)], now=clock(), project_id="p2"))
    row = store.series_id("disk", "vm-1", "p3")
    store.ingest_arrays(np.array([row, row, 999]), np.array([T0 + 4, T0 + 5, T0 + 6]),
                        np.array([1.0, 2.0, 3.0]))
    stats = store.stats()
    assert stats["samples_accepted"] == 1 + 1 + 1 + 2
    assert stats["samples_rejected"] == {"volume": 1, "timestamp": 2, "series": 1}
    assert stats["series_per_project"] == {"p1": 2, "p2": 1, "p3": 1}
    assert stats["series"] == 4


def test_stats_are_copies(store):
    store.add(Sample("cpu_util", 1.0, "vm-1", project_id="p1"))
    stats = store.stats()
    stats["series_per_project"]["p1"] = 99
    stats["samples_rejected"]["volume"] = 99
    assert store.stats()["series_per_project"] == {"p1": 1}
    assert store.stats()["samples_rejected"] == {}
