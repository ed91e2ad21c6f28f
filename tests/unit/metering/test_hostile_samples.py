"""Hostile samples through the library: every door of the sample model is a named refusal.

These are attacks on the store's input (issue 13, items 9-12); the signal-level
twins are in tests/security/test_sample_input.py.
"""
import math
from collections.abc import Mapping

import numpy as np
import pytest

from heat_alarming.metering import ManualClock, RollingStore, Sample, SampleError
from heat_alarming.metering.query import Query

from .conftest import T0

MAX_ABS_VOLUME = 1e100  # the documented bound on |volume|


def good(**changes):
    fields = dict(name="cpu_util", volume=42.0, resource_id="server-1", project_id="p1",
                  timestamp=T0 - 5, resource_metadata={"metering.server_group": "web"})
    fields.update(changes)
    return Sample(**fields)


def nested(depth):
    value = {}
    for _ in range(depth):
        value = {"k": value}
    return value


HOSTILE = [  # each of these raised, or was accepted, before issue 13
    (dict(volume=10 ** 400), "volume", "finite"),
    (dict(volume=-(10 ** 400)), "volume", "finite"),
    (dict(volume=1e308), "volume", "within"),
    (dict(volume=-2 * MAX_ABS_VOLUME), "volume", "within"),
    (dict(volume="9" * 100_000), "volume", "must be a number"),
    (dict(timestamp=10 ** 400), "timestamp", "epoch seconds"),
    (dict(timestamp="2023-11-14T21:59:15Z" + " " * 100_000), "timestamp", "ISO 8601"),
    (dict(type=["gauge"]), "type", "must be one of"),
    (dict(type={"gauge": 1}), "type", "must be one of"),
    (dict(name="m" * 256), "name", "longer than 255"),
    (dict(resource_id="r" * 10_000_000), "resource_id", "longer than 255"),
    (dict(resource_id="vm\x00-1"), "resource_id", "NUL"),
    (dict(resource_id="vm-\ud800"), "resource_id", "surrogate"),
    (dict(name="cpu\udfff"), "name", "surrogate"),
    (dict(project_id="p" * 256), "project_id", "longer than 255"),
    (dict(project_id="p\x00"), "project_id", "NUL"),
    (dict(user_id="u\x00"), "user_id", "NUL"),
    (dict(unit="%" * 256), "unit", "longer than 255"),
    (dict(resource_metadata=nested(3000)), "resource_metadata", "nested deeper than 16"),
    (dict(resource_metadata={"l": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}),
     "resource_metadata", "nested deeper"),
]


@pytest.mark.parametrize("changes, field, words", HOSTILE)
def test_each_hostile_field_is_a_sample_error_naming_it(store, changes, field, words):
    with pytest.raises(SampleError) as caught:
        store.add(good(**changes))
    assert caught.value.field == field
    assert words in str(caught.value)
    assert len(store) == 0, "a refused sample must not register a series"


@pytest.mark.parametrize("changes, field, words", HOSTILE)
def test_a_hostile_row_is_refused_alone_by_batch_ingest_and_check(store, changes, field, words):
    batch = [good(resource_id="before"), good(**changes), good(resource_id="after")]
    [rejection] = store.check(batch)
    assert (rejection.index, rejection.field) == (1, field)
    assert words in rejection.reason
    result = store.ingest(batch)
    assert result.rejected == [rejection], "check and ingest must agree"
    assert result.accepted == 2
    assert sorted(store.index.keys[r][1] for r in store.select("cpu_util")) == \
        ["after", "before"]


def test_from_dict_with_hostile_shapes_is_refused_not_raised(store):
    rows = ["a string", None, 7, ["meter", "value"],
            {"meter": "m", "value": 10 ** 400, "resource_id": "r"},
            {"meter": {"deep": nested(3000)}, "value": 1.0, "resource_id": "r"},
            {"meter": "m", "value": 1.0, "resource_id": "r", "type": ["gauge"]},
            {"meter": "m", "value": 1.0, "resource_id": "r", "metadata": nested(3000)}]
    result = store.ingest(rows)
    assert result.accepted == 0
    assert [r.index for r in result.rejected] == list(range(len(rows)))
    assert [r.field for r in result.rejected] == [
        "sample", "sample", "sample", "sample", "volume", "name", "type", "resource_metadata"]
    assert len(store) == 0


def test_huge_numbers_in_metadata_are_kept_as_text_and_do_not_break_queries(store):
    store.add(good(resource_metadata={"big": 10 ** 400, "small": 3}))
    assert store.select("cpu_util", [{"field": "metadata.small", "op": "eq",
                                      "value": "3", "type": "integer"}]).size == 1
    assert store.select("cpu_util", [{"field": "metadata.big", "op": "gt",
                                      "value": "1", "type": "integer"}]).size == 0


class Exploding:
    """A volume whose conversion fails in a way no check names."""

    def __float__(self):
        raise RuntimeError("boom")


class BrokenRow(Mapping):
    """A row that raises while being read."""

    def __getitem__(self, key):
        raise RuntimeError("broken")

    def __contains__(self, key):
        return True

    def __iter__(self):
        raise RuntimeError("broken")

    def __len__(self):
        return 1


@pytest.mark.parametrize("poison", [good(resource_id="vm4", volume=Exploding()), BrokenRow()],
                         ids=["volume", "row"])
def test_a_row_failing_unforeseen_mid_batch_is_refused_alone(store, poison):
    batch = [good(resource_id=f"vm{i}", timestamp=T0 - 60 + i) for i in range(10)]
    batch[4] = poison
    result = store.ingest(batch)
    assert result.accepted == 9
    assert [r.index for r in result.rejected] == [4]
    stats = store.statistics("cpu_util", period=60, start=T0 - 60, end=T0,
                             aggregates=["count"])
    assert int(stats.count.sum()) == 9, "rows 6-10 are stored as well as rows 1-4"
    assert len(store) == 9


def test_values_beyond_the_bound_are_refused_and_those_within_aggregate_finitely(store):
    with pytest.raises(SampleError, match="within"):
        store.add(good(volume=1e308))
    volumes = [MAX_ABS_VOLUME, MAX_ABS_VOLUME, -MAX_ABS_VOLUME, MAX_ABS_VOLUME] * 50
    result = store.ingest([good(volume=v, timestamp=T0 - 50 + i * 0.1)
                           for i, v in enumerate(volumes)])
    assert result.rejected == []
    stats = store.statistics("cpu_util", period=60, start=T0 - 60, end=T0,
                             aggregates=["avg", "sum", "std", "count"])
    held = stats.count > 0
    for name in ("avg", "sum", "std"):
        assert np.isfinite(stats.values[name][held]).all(), name
    assert math.isclose(stats.values["avg"][held][0], MAX_ABS_VOLUME / 2, rel_tol=1e-9)


def test_ingest_arrays_refuses_volumes_beyond_the_bound(store):
    row = store.series_id("cpu_util", "vm")
    result = store.ingest_arrays(np.array([row, row, row]), np.array([T0 - 3.0] * 3),
                                 np.array([1.0, 1e308, -1e200]))
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [(1, "volume"), (2, "volume")]


def test_a_batch_within_the_retention_is_taken_whatever_its_newest_row(store):
    """The ring covers [now - retention, now + max_clock_skew]: a batch's future row
    cannot push its own (or anyone's) in-retention rows out of the window."""
    store.add(good(timestamp=T0 - 1))
    batch = [good(resource_id="future", timestamp=T0 + 290),
             good(resource_id="past", timestamp=T0 - 3530)]
    assert store.check(batch) == []
    result = store.ingest(batch)
    assert result.accepted == 2 and not result.rejected
    stats = store.statistics("cpu_util", period=3600, start=T0 - 7200, end=T0 + 3600,
                             aggregates=["count"])
    assert int(stats.count.sum()) == 3, "what ingest said it stored is stored"


def test_a_batch_is_checked_against_the_window_it_leaves(store, clock):
    """Only when the clock has stepped back behind the ring's head (a batch stamped at
    the skew of a later clock) can a row within the retention lie outside the buckets the
    ring still holds: it is refused, naming the window, and nothing else is lost."""
    clock.set(T0 + 600)
    store.add(good(resource_id="ahead", timestamp=T0 + 890))
    clock.set(T0)
    batch = [good(resource_id="recent", timestamp=T0 - 1),
             good(resource_id="past", timestamp=T0 - 3530)]
    rejections = store.check(batch)
    assert [(r.index, r.field) for r in rejections] == [(1, "timestamp")]
    assert "once this batch is in" in rejections[0].reason
    result = store.ingest(batch)
    assert result.rejected == rejections
    assert result.accepted == 1
    stats = store.statistics("cpu_util", period=3600, start=T0 - 7200, end=T0 + 3600,
                             aggregates=["count"])
    assert int(stats.count.sum()) == 2, "what ingest said it stored is stored"


def test_check_and_ingest_agree_on_random_batches():
    rng = np.random.default_rng(5)
    for trial in range(20):
        store = RollingStore(10, 600, clock=ManualClock(T0))
        store.add(good(timestamp=T0 - rng.uniform(0, 200)))  # stays in any window
        batch = [good(resource_id=f"vm{i}", timestamp=float(T0 + rng.uniform(-700, 350)))
                 for i in range(30)]
        expected = store.check(batch)
        result = store.ingest(batch)
        assert result.rejected == expected, trial
        assert result.accepted + len(expected) == 30
        stats = store.statistics("cpu_util", period=600, start=T0 - 1200, end=T0 + 600,
                                 aggregates=["count"])
        assert int(stats.count.sum()) == result.accepted + 1, trial


def test_a_series_quota_refuses_new_series_of_that_project_only(clock):
    store = RollingStore(10, 600, clock=clock, max_series_per_project=3)
    result = store.ingest([good(project_id="a", resource_id=f"vm{i}") for i in range(5)])
    assert result.accepted == 3
    assert [(r.index, r.field) for r in result.rejected] == [(3, "resource_id"),
                                                             (4, "resource_id")]
    assert "quota of 3 series" in result.rejected[0].reason
    assert store.ingest([good(project_id="a", resource_id="vm0")]).accepted == 1, \
        "an existing series still takes samples"
    assert store.ingest([good(project_id="b", resource_id=f"vm{i}")
                         for i in range(3)]).accepted == 3, "other projects are unaffected"
    with pytest.raises(SampleError, match="quota of 3 series"):
        store.add(good(project_id="a", resource_id="vm9"))
    with pytest.raises(SampleError, match="quota of 3 series"):
        store.series_id("cpu_util", "vm9", "a")
    assert store.select("cpu_util", Query(), project_id="a").size == 3



def test_a_foreign_volume_failing_while_read_is_a_sample_error(store):
    with pytest.raises(SampleError) as caught:
        store.add(good(volume=Exploding()))
    assert caught.value.field == "volume"
    assert len(store) == 0


def test_distinct_metadata_keys_cost_no_column_until_a_query_names_one(store):
    # one signal's worth: 1,000 series with 60 keys each that no other series has; with a
    # capacity-sized column per key this took 8.4 GB
    rows = [good(resource_id=f"vm{r}", resource_metadata={f"k{r}_{j}": j for j in range(60)})
            for r in range(1000)]
    assert store.ingest(rows).accepted == 1000
    assert len(store.index.columns) < 10, "no column per distinct metadata key"
    query = [{"field": "metadata.k7_3", "op": "eq", "value": "3"}]
    assert [store.index.keys[r][1] for r in store.select("cpu_util", query)] == ["vm7"]
    store.add(good(resource_id="late", resource_metadata={"k7_3": 3}))
    assert sorted(store.index.keys[r][1] for r in store.select("cpu_util", query)) == \
        ["late", "vm7"], "a column once built follows new series"
    store.add(good(resource_id="vm7", resource_metadata={"other": 1}))
    assert [store.index.keys[r][1] for r in store.select("cpu_util", query)] == ["late"], \
        "and metadata changes"
