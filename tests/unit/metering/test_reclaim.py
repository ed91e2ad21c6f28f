"""Series without a sample for a retention are forgotten; their rows serve new series.

Issue 13, item 8: 100,000 one-off series stayed indexed forever.  The store
sweeps every quarter retention (from ingest and from the evaluator's reads);
a released row is reused only after one more sweep, and the index version
moves on every sweep so that no selection reads a recycled row as its old series.
"""
import numpy as np

from heat_alarming.metering import RollingStore, Sample
from heat_alarming.metering.query import Query

from .conftest import T0

RETENTION = 600


def one_offs(prefix, n, at, value=1.0, project="p", group="web"):
    return [Sample("cpu", value, f"{prefix}-{i}", project_id=project, timestamp=at,
                   resource_metadata={"metering.server_group": group}) for i in range(n)]


def keep_alive(store, clock, minutes, value=5.0):
    """One sample of the series "live" a minute, for ``minutes`` minutes of the clock."""
    for _ in range(minutes):
        clock.advance(60)
        result = store.ingest([Sample("cpu", value, "live", project_id="q",
                                      timestamp=clock())])
        assert result.accepted == 1


def test_one_off_series_are_forgotten_after_a_retention_and_their_rows_reused(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    assert store.ingest(one_offs("once", 10_000, T0)).accepted == 10_000
    keep_alive(store, clock, 1)
    assert len(store) == 10_001
    rows = store.index.n_rows
    keep_alive(store, clock, 2 * RETENTION // 60)  # two retentions
    assert len(store) == 1, "only the series that kept sending is left"
    assert store.select("cpu", [{"field": "resource_id", "op": "eq", "value": "once-7"}]).size \
        == 0
    assert store.ingest(one_offs("again", 10_000, clock())).accepted == 10_000
    assert len(store) == 10_001
    assert store.index.n_rows == rows, "the new series took the forgotten rows"
    stats = store.statistics("cpu", period=60, start=clock() - 600, end=clock() + 60,
                             aggregates=["avg", "count"], query=[
                                 {"field": "resource_id", "op": "eq", "value": "live"}])
    held = stats.count > 0
    assert stats.values["avg"][held].tolist() == [5.0] * int(held.sum())
    again = store.select("cpu", project_id="p")
    assert sorted(store.index.keys[r][1] for r in again) == \
        sorted(f"again-{i}" for i in range(10_000))


def test_silence_alone_ages_series_out(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    store.ingest(one_offs("once", 100, T0))
    clock.advance(2 * RETENTION)
    assert store.reclaim() == 100
    assert len(store) == 0


def test_a_series_registered_without_samples_gets_a_retention_of_grace(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    row = store.series_id("cpu", "registered", "p")
    clock.advance(RETENTION / 2)
    assert store.reclaim() == 0
    assert store.ingest_arrays(np.array([row]), np.array([clock()]), np.array([3.0])).accepted \
        == 1
    clock.advance(2 * RETENTION)
    store.reclaim()
    result = store.ingest_arrays(np.array([row]), np.array([clock()]), np.array([3.0]))
    assert [r.field for r in result.rejected] == ["series"], \
        "a forgotten series id is refused, never written into a reused row"


def test_a_selection_taken_before_a_sweep_never_reads_a_new_series(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    store.ingest(one_offs("old", 50, T0, value=1.0))
    selection = store.select_many([("cpu", Query(), "p")])
    clock.advance(2 * RETENTION)
    assert store.reclaim() == 50  # the old rows are released, not yet reusable
    assert store.index_version != selection.version, "selections must be recomputed"
    store.ingest(one_offs("new", 50, clock(), value=99.0))
    first = int(clock() // 60)
    counts, values, _ = store.aggregate(selection, 60, first, 1, ["avg"])
    assert counts.sum() == 0, "the stale selection reads released rows, empty ones"
    fresh = store.select_many([("cpu", Query(), "p")])
    assert {store.index.keys[r][1] for r in fresh.rows} == {f"new-{i}" for i in range(50)}
    counts, values, _ = store.aggregate(fresh, 60, first, 1, ["avg"])
    assert counts.tolist() == [[50]] and values["avg"].tolist() == [[99.0]]
    clock.advance(RETENTION / 4)
    store.reclaim()  # the quarantine ends: the old rows serve the next series
    rows = store.index.n_rows
    store.ingest(one_offs("newer", 50, clock()))
    assert store.index.n_rows == rows


def test_forgotten_series_free_their_project_quota(clock):
    store = RollingStore(10, RETENTION, clock=clock, max_series_per_project=10)
    assert store.ingest(one_offs("once", 12, T0)).accepted == 10
    clock.advance(2 * RETENTION)
    store.reclaim()
    assert store.ingest(one_offs("later", 10, clock())).accepted == 10


def test_percentile_rings_of_forgotten_series_are_reused(clock):
    store = RollingStore(10, RETENTION, clock=clock, raw_capacity=8)
    store.track_raw("cpu")
    store.ingest(one_offs("once", 100, T0, value=7.0))
    slots = store.raw.slots_in_use
    clock.advance(2 * RETENTION)
    store.reclaim()
    clock.advance(RETENTION / 4)
    store.reclaim()
    store.ingest(one_offs("again", 100, clock(), value=3.0))
    assert store.raw.slots_in_use == slots
    stats = store.statistics("cpu", period=60, start=clock() - 60, end=clock() + 60,
                             aggregates=["p50", "count"], project_id="p")
    held = stats.count > 0
    assert stats.values["p50"][held].tolist() == [3.0], "no raw value of the old series"


def test_a_snapshot_after_reclaiming_restores_the_live_series(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    store.track_raw("cpu")
    store.ingest(one_offs("once", 30, T0))
    clock.advance(2 * RETENTION)
    store.reclaim()
    store.ingest(one_offs("kept", 5, clock(), value=4.0))
    restored = RollingStore.from_state(*store.export_state(), clock=clock)
    assert len(restored) == len(store) == 5
    for s in (store, restored):
        stats = s.statistics("cpu", period=60, start=clock() - 60, end=clock() + 60,
                             aggregates=["avg", "count", "p50"], project_id="p")
        held = stats.count > 0
        assert stats.count[held].tolist() == [5]
        assert stats.values["avg"][held].tolist() == [4.0]
        assert stats.values["p50"][held].tolist() == [4.0]
