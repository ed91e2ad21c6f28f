"""Per-period statistics agree with a direct computation over the raw samples."""
import numpy as np
import pytest

from heat_alarming.metering import RollingStore, Sample, StatisticsError, StatisticsRequest

from .conftest import T0


def oracle(times, values, start, period, n_periods):
    """Every statistic per period, computed from the raw samples with numpy."""
    out = []
    for p in range(n_periods):
        lo = start + p * period
        v = values[(times >= lo) & (times < lo + period)]
        t = times[(times >= lo) & (times < lo + period)]
        out.append(None if v.size == 0 else {
            "count": v.size, "sum": v.sum(), "avg": v.mean(), "min": v.min(),
            "max": v.max(), "std": v.std(ddof=1) if v.size > 1 else np.nan,
            "last": v[np.argmax(t)], "p50": np.percentile(v, 50),
            "p95": np.percentile(v, 95)})
    return out


AGGS = ["count", "sum", "avg", "min", "max", "std", "last", "p50", "p95"]


def check_against_oracle(stats, expected):
    for p, want in enumerate(expected):
        if want is None:
            assert stats.count[p] == 0
            assert all(np.isnan(stats.values[a][p]) for a in AGGS if a != "count")
            continue
        assert stats.count[p] == want["count"]
        for a in AGGS:
            np.testing.assert_allclose(stats.values[a][p], want[a], rtol=1e-9, atol=1e-9,
                                       err_msg=f"period {p} {a}")


def test_every_statistic_matches_the_raw_samples_even_when_shuffled(clock):
    store = RollingStore(10, 3600, clock=clock, raw_capacity=4096)
    store.track_raw("cpu")
    rng = np.random.default_rng(1)
    times = T0 - 1800 + np.sort(rng.uniform(0, 1800, 2000))
    values = rng.normal(50, 15, times.size)
    order = rng.permutation(times.size)  # samples arrive out of order
    result = store.ingest(Sample("cpu", float(values[i]), "vm", timestamp=float(times[i]))
                          for i in order)
    assert result.accepted == times.size
    stats = store.statistics("cpu", period=120, start=T0 - 1800, end=T0, aggregates=AGGS)
    assert len(stats) == 15 and stats.exact.all()
    check_against_oracle(stats, oracle(times, values, T0 - 1800, 120, 15))


def test_a_group_is_aggregated_over_all_member_samples_not_as_an_avg_of_avgs(store):
    # server a: one sample of 100; server b: three samples of 0 -> avg 25, not 50
    store.add(Sample("cpu", 100.0, "a", timestamp=T0 - 50,
                     resource_metadata={"metering.server_group": "g"}))
    for t in (T0 - 40, T0 - 30, T0 - 20):
        store.add(Sample("cpu", 0.0, "b", timestamp=t,
                         resource_metadata={"user_metadata": {"server_group": "g"}}))
    stats = store.statistics("cpu", period=60, start=T0 - 60, end=T0,
                             aggregates=["avg", "count", "max", "std"],
                             matching_metadata={"server_group": "g"})
    assert stats.series == 2
    assert stats.values["avg"].tolist() == [25.0]
    assert stats.count.tolist() == [4]
    np.testing.assert_allclose(stats.values["std"], [50.0])


def test_periods_are_aligned_to_the_epoch_and_the_range_is_widened(store):
    store.add(Sample("cpu", 1.0, "vm", timestamp=T0 - 65))
    stats = store.statistics("cpu", period=60, start=T0 - 100, end=T0 - 1)
    assert stats.period_start.tolist() == [T0 - 120, T0 - 60]
    assert stats.period_end.tolist() == [T0 - 60, T0]
    assert stats.rows() == [{"period_start": T0 - 120, "period_end": T0 - 60, "period": 60,
                             "count": 1, "avg": 1.0, "exact": True}]


def test_a_late_sample_within_retention_lands_in_its_own_period(store, clock):
    store.add(Sample("cpu", 10.0, "vm", timestamp=T0 - 5))
    store.add(Sample("cpu", 30.0, "vm", timestamp=T0 - 3000))  # 50 minutes late
    stats = store.statistics("cpu", period=600, start=T0 - 3600, end=T0,
                             aggregates=["sum"])
    assert stats.values["sum"][stats.count > 0].tolist() == [30.0, 10.0]


def test_last_is_the_newest_by_timestamp_not_by_arrival(store):
    store.add(Sample("cpu", 2.0, "vm", timestamp=T0 - 51))
    store.add(Sample("cpu", 1.0, "vm", timestamp=T0 - 55))
    store.add(Sample("cpu", 9.0, "other", timestamp=T0 - 52))
    stats = store.statistics("cpu", period=60, start=T0 - 60, end=T0, aggregates=["last"])
    assert stats.values["last"].tolist() == [2.0]


def test_the_window_wraps_around_without_leaking_old_buckets(clock):
    store = RollingStore(10, 600, clock=clock)  # 60 buckets
    store.add(Sample("cpu", 1.0, "vm", timestamp=T0 - 595))
    for step in range(1, 200):  # three times round the ring
        clock.advance(10)
        store.add(Sample("cpu", float(step), "vm", timestamp=clock() - 1))
    now = clock()
    # the ring holds the retention plus the clock skew's worth (and one) of buckets
    assert store.n_buckets == 60 + 30 + 1
    stats = store.statistics("cpu", period=600, start=now - 3000, end=now,
                             aggregates=["count", "min", "sum"])
    held = stats.count > 0
    assert stats.count.sum() == store.n_buckets, "exactly one ring's worth of buckets remains"
    assert stats.values["min"][held].min() == 199 - store.n_buckets + 1
    old = store.statistics("cpu", period=10, start=T0 - 600, end=T0, aggregates=["count"])
    assert old.count.sum() == 0, "buckets reused by newer data must read as empty"


def test_a_sample_within_the_retention_is_taken_after_a_future_one(clock):
    store = RollingStore(10, 600, clock=clock, max_clock_skew=300)
    store.add(Sample("cpu", 1.0, "vm", timestamp=T0 + 290))  # head moves ahead of now
    result = store.ingest([Sample("cpu", 1.0, "vm", timestamp=T0 - 590)])
    assert result.accepted == 1 and not result.rejected


def test_a_sample_older_than_the_window_is_refused_even_if_the_clock_lags(clock):
    store = RollingStore(10, 600, clock=clock, max_clock_skew=300)
    clock.set(T0 + 600)
    store.add(Sample("cpu", 1.0, "vm", timestamp=T0 + 890))  # at the skew of a later clock
    clock.set(T0)  # the clock steps back: the ring's head is now beyond now + skew
    result = store.ingest([Sample("cpu", 1.0, "vm", timestamp=T0 - 590)])
    assert result.accepted == 0
    assert result.rejected[0].field == "timestamp"
    assert "window" in result.rejected[0].reason


def test_std_needs_two_samples_and_is_the_sample_standard_deviation(store):
    store.add(Sample("cpu", 3.0, "vm", timestamp=T0 - 70))
    for v in (1.0, 2.0, 3.0, 4.0):
        store.add(Sample("cpu", v, "vm", timestamp=T0 - 30))
    stats = store.statistics("cpu", period=60, start=T0 - 120, end=T0, aggregates=["std"])
    assert np.isnan(stats.values["std"][0])
    np.testing.assert_allclose(stats.values["std"][1], np.std([1, 2, 3, 4], ddof=1))


def test_percentiles_are_exact_within_the_raw_ring_and_flagged_beyond_it(clock):
    store = RollingStore(10, 3600, clock=clock, raw_capacity=50)
    store.track_raw("lat")
    values = np.arange(100, dtype=float)
    for i, v in enumerate(values):  # 100 samples in the older period; the ring holds 50
        store.add(Sample("lat", v, "lb", timestamp=T0 - 600 + i))
    for i, v in enumerate(values[:40]):
        store.add(Sample("lat", v, "lb", timestamp=T0 - 60 + i))
    stats = store.statistics("lat", period=300, start=T0 - 600, end=T0,
                             aggregates=["p50", "p99", "max"])
    older, newer = 0, 1
    assert stats.exact[newer] and not stats.exact[older]
    assert stats.values["p50"][newer] == np.percentile(values[:40], 50)
    assert stats.values["max"][older] == 99.0, "bucket statistics stay exact"


def test_gnocchi_spellings_of_statistics_are_accepted(store):
    store.track_raw("*")
    store.add(Sample("cpu", 5.0, "vm", timestamp=T0 - 5))
    stats = store.statistics("cpu", period=10, start=T0 - 10, end=T0,
                             aggregates=["mean", "95pct"])
    assert set(stats.values) == {"avg", "p95"}


@pytest.mark.parametrize("kwargs, words", [
    (dict(period=15), "period"),
    (dict(period=0), "period"),
    (dict(aggregates=["median"]), "aggregate: 'median'"),
    (dict(aggregates=["p95"]), "track_raw"),
    (dict(start=T0, end=T0 - 1), "time range"),
    (dict(query=[{"field": "flavor", "op": "eq", "value": "x"}]), "query[0].field"),
])
def test_bad_requests_name_the_argument(store, kwargs, words):
    args = dict(period=60, start=T0 - 600, end=T0, aggregates=["avg"])
    args.update(kwargs)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        store.statistics("cpu", **args)


def test_many_requests_in_one_call_equal_one_call_each(store):
    rng = np.random.default_rng(5)
    for i in range(300):
        store.add(Sample("cpu", float(rng.uniform(0, 100)), f"vm{i % 7}",
                         project_id=f"p{i % 2}", timestamp=T0 - 3000 + i * 10,
                         resource_metadata={"metering.role": "web" if i % 3 else "db"}))
    requests = [
        StatisticsRequest("cpu", 60, T0 - 900, T0, ("avg", "max", "last")),
        StatisticsRequest("cpu", 60, T0 - 900, T0, ("min",), matching_metadata={"role": "db"}),
        StatisticsRequest("cpu", 300, T0 - 3000, T0, ("sum", "count"), project_id="p1"),
        StatisticsRequest("cpu", 60, T0 - 900, T0, ("avg",),
                          query=[{"field": "resource_id", "op": "eq", "value": "vm3"}]),
        StatisticsRequest("cpu", 60, T0 - 900, T0, ("avg",),
                          query=[{"field": "resource_id", "op": "eq", "value": "nope"}]),
        StatisticsRequest("disk", 60, T0 - 900, T0, ("avg",)),
    ]
    together = store.statistics_many(requests)
    for request, got in zip(requests, together):
        alone = store.statistics(request.meter, period=request.period, start=request.start,
                                 end=request.end, aggregates=request.aggregates,
                                 query=request.query,
                                 matching_metadata=request.matching_metadata,
                                 project_id=request.project_id)
        assert got.count.tolist() == alone.count.tolist()
        for name in alone.values:
            np.testing.assert_array_equal(got.values[name], alone.values[name])
    assert together[4].series == 0 and together[4].count.sum() == 0
    assert together[5].series == 0


def test_statistics_error_is_a_value_error():
    assert issubclass(StatisticsError, ValueError)
