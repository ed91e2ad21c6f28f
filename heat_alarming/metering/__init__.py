"""Samples and the numpy rolling-window store (no Heat imports).

The public names::

    from heat_alarming.metering import RollingStore, Sample
    store = RollingStore(resolution=10, retention=3600)
    store.add(Sample("cpu_util", 42.0, "server-1", project_id="p1"))
    store.statistics("cpu_util", period=60, start=t0, end=t1, aggregates=["avg"])
"""
from heat_alarming.metering.clock import ManualClock, system_clock
from heat_alarming.metering.query import Condition, Query, QueryError, build_query
from heat_alarming.metering.sample import (
                                           CUMULATIVE,
                                           DELTA,
                                           GAUGE,
                                           Rejection,
                                           Sample,
                                           SampleError,
                                           to_epoch,
)
from heat_alarming.metering.snapshot import (
                                           PeriodicSnapshotter,
                                           SnapshotError,
                                           read_snapshot,
                                           restore_store,
                                           write_snapshot,
)
from heat_alarming.metering.statistics import Statistics, StatisticsError
from heat_alarming.metering.store import IngestResult, RollingStore, Selection, StatisticsRequest

__all__ = [
    "CUMULATIVE", "DELTA", "GAUGE", "Condition", "IngestResult", "ManualClock",
    "PeriodicSnapshotter", "Query", "QueryError", "Rejection", "RollingStore", "Sample",
    "SampleError", "Selection", "SnapshotError", "Statistics", "StatisticsError",
    "StatisticsRequest",
    "build_query", "read_snapshot", "restore_store", "system_clock", "to_epoch",
    "write_snapshot",
]
