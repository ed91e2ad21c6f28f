"""The vectorised ingest agrees with the one-sample API and refuses bad rows."""
import numpy as np
import pytest

from heat_alarming.metering import ManualClock, RollingStore, Sample, SampleError
from heat_alarming.metering.buckets import FIELDS, to_buckets

from .conftest import T0


def cells(store):
    store.flush()
    n = len(store)
    return {f: getattr(store.ring, f)[:, :n].copy() for f in FIELDS}


def filled(store_a, store_b):
    a, b = cells(store_a), cells(store_b)
    held = a["count"] > 0
    assert (held == (b["count"] > 0)).all()
    for field in FIELDS:
        np.testing.assert_allclose(a[field][held], b[field][held], rtol=1e-12,
                                   err_msg=field)


@pytest.mark.parametrize("layout", ["one ordered series", "many series shuffled"])
def test_arrays_and_single_samples_build_the_same_cells(layout):
    rng = np.random.default_rng(11)
    n_series = 1 if layout == "one ordered series" else 40
    n = 5000
    rows = rng.integers(0, n_series, n)
    times = T0 - 3000 + np.sort(rng.uniform(0, 3000, n))
    if layout != "one ordered series":
        shuffle = rng.permutation(n)
        rows, times = rows[shuffle], times[shuffle]
    volumes = rng.normal(10, 3, n)
    by_array = RollingStore(10, 3600, clock=ManualClock(T0))
    by_sample = RollingStore(10, 3600, clock=ManualClock(T0))
    for store in (by_array, by_sample):  # the same rows in both stores
        assert [store.series_id("m", f"r{i}") for i in range(n_series)] == list(range(n_series))
    result = by_array.ingest_arrays(rows, times, volumes)
    assert result.accepted == n and result.rejected == []
    for r, t, v in zip(rows, times, volumes):
        by_sample.add(Sample("m", float(v), f"r{r}", timestamp=float(t)))
    filled(by_array, by_sample)


def test_bad_rows_are_reported_by_index_and_good_rows_kept(store):
    row = store.series_id("cpu", "vm")
    result = store.ingest_arrays(
        np.array([row, 7, row, row, row, row]),
        np.array([T0 - 1, T0 - 1, T0 - 1, T0 - 4000, T0 + 400, np.nan]),
        np.array([1.0, 1.0, np.inf, 1.0, 1.0, 1.0]))
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "series"), (2, "volume"), (3, "timestamp"), (4, "timestamp"), (5, "timestamp")]
    assert "retention" in result.rejected[2].reason
    assert "future" in result.rejected[3].reason


def test_array_shapes_and_types_are_checked(store):
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        store.ingest_arrays(np.zeros(2, int), np.zeros(3), np.zeros(2))
    with pytest.raises(SampleError, match="series"):
        store.ingest_arrays(np.zeros(2), np.zeros(2), np.zeros(2))


def test_bucket_numbers_are_exact_floors_at_every_boundary():
    for resolution in (1, 7, 10, 60, 3600):
        edges = (T0 // resolution + np.arange(-50, 50)) * resolution
        times = np.concatenate([edges, np.nextafter(edges, -np.inf),
                                np.nextafter(edges, np.inf)])
        buckets, offsets = to_buckets(times, resolution)
        expected = np.floor_divide(times, resolution)
        assert (buckets == expected).all()
        assert ((offsets >= 0) & (offsets < resolution)).all()
