"""One project's future-stamped samples cannot erase another project's data (library level).

The store is shared by every project.  A sample may be stamped up to ``max_clock_skew``
in the future, and a batch moves the ring's head to its newest bucket; the ring must
still hold the whole retention behind the clock, so that project A's sample at
``now + skew`` neither retires project B's buckets inside ``now - retention`` nor makes
B's in-retention samples "older than the store's window".
"""
import numpy as np
import pytest

from heat_alarming.metering import ManualClock, RollingStore, Sample
from heat_alarming.metering.snapshot import restore_store, write_snapshot

T0 = 1_699_999_200.0  # a whole hour
RETENTION, SKEW, PERIOD = 3600, 300, 600


def sample(project, ts, resource="r", volume=1.0):
    return Sample("cpu_util", volume, resource, project_id=project, timestamp=ts)


def b_counts(store, clock):
    """Project B's per-period counts over its alarm's look-back (6 periods of 600 s)."""
    now = clock()
    end = (now // PERIOD) * PERIOD
    stats = store.statistics("cpu_util", period=PERIOD, start=end - RETENTION, end=end,
                             aggregates=("count",), project_id="B")
    return stats.count.tolist()


@pytest.fixture
def world():
    clock = ManualClock(T0)
    store = RollingStore(10, RETENTION, max_clock_skew=SKEW, clock=clock)
    # B: ten samples in each of the six whole periods before now, the oldest at now - 3590
    times = T0 - RETENTION + 10 + np.arange(60) * 60.0
    assert store.ingest([sample("B", float(t), volume=2.0) for t in times]).accepted == 60
    return store, clock


def test_a_future_sample_of_one_project_keeps_another_projects_counts(world):
    store, clock = world
    before = b_counts(store, clock)
    assert before == [10] * 6

    result = store.ingest([sample("A", T0 + SKEW - 1, resource="a")])

    assert result.accepted == 1 and not result.rejected
    assert b_counts(store, clock) == before


def test_another_projects_in_retention_sample_is_still_taken_after_a_future_sample(world):
    store, clock = world
    store.ingest([sample("A", T0 + SKEW - 1, resource="a")])

    late = [sample("B", T0 - 3400, resource="late")]
    assert store.check(late) == []
    result = store.ingest(late)
    assert result.accepted == 1 and not result.rejected
    single = sample("B", T0 - RETENTION, resource="single")
    store.add(single)  # the single-sample path too, at the very edge of the retention
    rows = store.series_id("cpu_util", "late", "B"), store.series_id("cpu_util", "single", "B")
    result = store.ingest_arrays(np.array(rows), np.array([T0 - 3300.0, T0 - 3599.0]),
                                 np.array([1.0, 1.0]))
    assert result.accepted == 2 and not result.rejected
    stats = store.statistics("cpu_util", period=RETENTION + PERIOD, start=T0 - RETENTION,
                             end=T0, aggregates=("count",), project_id="B")
    assert int(stats.count.sum()) == 60 + 4


def test_a_batch_spanning_the_whole_window_is_taken_whole(world):
    store, _ = world
    batch = [sample("A", T0 + SKEW, resource="a"), sample("A", T0 - RETENTION, resource="a")]
    assert store.check(batch) == []
    assert store.ingest(batch).accepted == 2


def test_a_snapshot_of_a_ring_without_the_skew_restores_its_data(world, tmp_path):
    """Snapshots written before the ring covered the skew (360 columns for 3600 s)."""
    store, clock = world
    meta, arrays = store.export_state()
    old = dict(arrays)
    n_old = RETENTION // 10
    head = int(meta["head"])
    buckets = np.arange(head - n_old + 1, head + 1)
    columns = buckets % store.n_buckets
    for f in ("count", "total", "sumsq", "vmin", "vmax", "last", "last_tick"):
        cells = np.zeros((n_old,) + arrays[f].shape[1:], dtype=arrays[f].dtype)
        cells[buckets % n_old] = arrays[f][columns]
        old[f] = cells
    old["bucket_of_column"] = np.full(n_old, -1, dtype=np.int64)
    old["bucket_of_column"][buckets % n_old] = buckets

    restored = RollingStore.from_state(meta, old, clock=clock)

    assert b_counts(restored, clock) == b_counts(store, clock) == [10] * 6
    restored.ingest([sample("A", T0 + SKEW - 1, resource="a")])
    assert b_counts(restored, clock) == [10] * 6
    path = str(tmp_path / "snap")
    write_snapshot(restored, path)
    assert b_counts(restore_store(path, clock=clock), clock) == [10] * 6


def test_a_snapshot_restored_under_a_larger_configured_skew_gets_a_ring_for_it(world, tmp_path):
    """A restored store takes the configured skew, and its ring the size that skew needs."""
    from oslo_config import cfg

    from heat_alarming import opts

    store, clock = world
    path = str(tmp_path / "snap")
    write_snapshot(store, path)
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([])
    conf.set_override("max_clock_skew", 900, "heat_alarming")
    restored, _ = opts.restore_from_conf(conf, path, clock)

    assert restored.validator.max_clock_skew == 900
    assert restored.n_buckets == RETENTION // 10 + 90 + 1
    assert b_counts(restored, clock) == [10] * 6
    restored.ingest([sample("A", T0 + 899, resource="a")])
    assert b_counts(restored, clock) == [10] * 6
