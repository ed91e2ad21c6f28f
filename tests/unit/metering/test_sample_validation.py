"""A sample that is wrong is refused with its field named, and nothing is half-written."""
import math

import pytest

from heat_alarming.metering import RollingStore, Sample, SampleError

from .conftest import T0


def good(**changes):
    fields = dict(name="cpu_util", volume=42.0, resource_id="server-1", project_id="p1",
                  timestamp=T0 - 5, resource_metadata={"metering.server_group": "web"})
    fields.update(changes)
    return Sample(**fields)


@pytest.mark.parametrize("changes, field, words", [
    (dict(name=""), "name", "meter name is required"),
    (dict(name=None), "name", "meter name is required"),
    (dict(resource_id=""), "resource_id", "resource_id is required"),
    (dict(resource_id=7), "resource_id", "resource_id is required"),
    (dict(type="counter"), "type", "must be one of cumulative, delta, gauge"),
    (dict(volume=float("nan")), "volume", "finite"),
    (dict(volume=float("inf")), "volume", "finite"),
    (dict(volume=-math.inf), "volume", "finite"),
    (dict(volume="lots"), "volume", "must be a number"),
    (dict(volume=None), "volume", "must be a number"),
    (dict(volume=True), "volume", "must be a number"),
    (dict(timestamp=T0 - 3601), "timestamp", "older than the retention"),
    (dict(timestamp=T0 + 301), "timestamp", "in the future"),
    (dict(timestamp="yesterday"), "timestamp", "ISO 8601"),
    (dict(timestamp=float("nan")), "timestamp", "finite"),
    (dict(resource_metadata=["not", "a", "map"]), "resource_metadata", "must be a mapping"),
    (dict(resource_metadata={"blob": "x" * 9000}), "resource_metadata", "larger than 8192"),
    (dict(resource_metadata={"obj": {1, 2}}), "resource_metadata", "JSON cannot carry"),
    (dict(project_id=12), "project_id", "must be text"),
    (dict(user_id=["u"]), "user_id", "must be text"),
    (dict(unit=5), "unit", "must be text"),
])
def test_each_bad_field_is_named_with_its_value(store, changes, field, words):
    with pytest.raises(SampleError) as caught:
        store.add(good(**changes))
    assert caught.value.field == field
    assert f"sample field '{field}'" in str(caught.value)
    assert any(w in str(caught.value) for w in words.split("|"))
    assert len(store) == 0, "a refused sample must not register a series"


def test_numeric_text_volume_and_iso_timestamps_are_accepted(store):
    store.add(good(volume="12.5", timestamp="2023-11-14T21:59:15Z"))
    store.add(good(volume=7, timestamp="2023-11-14T23:59:16+02:00"))
    stats = store.statistics("cpu_util", period=60, start=T0 - 600, end=T0,
                             aggregates=["sum", "count"])
    assert stats.values["sum"][stats.count > 0].tolist() == [19.5]


def test_a_future_sample_within_the_skew_is_accepted(store):
    store.add(good(timestamp=T0 + 299))
    assert len(store) == 1


def test_batch_keeps_good_rows_and_returns_bad_ones_with_index_and_reason(store):
    rows = [good(volume=1.0), good(volume=float("nan")), {"name": "cpu_util", "volume": 3,
                                                          "resource_id": ""},
            good(volume=4.0, resource_id="server-2"), "not a sample"]
    result = store.ingest(rows)
    assert result.accepted == 2
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "volume"), (2, "resource_id"), (4, "sample")]
    assert "finite" in result.rejected[0].reason
    stats = store.statistics("cpu_util", period=60, start=T0 - 60, end=T0,
                             aggregates=["sum", "count"])
    assert stats.values["sum"].tolist() == [5.0] and stats.count.tolist() == [2]


def test_a_refused_row_does_not_change_a_known_series_metadata(store):
    store.add(good())
    bad = good(volume=float("nan"), resource_metadata={"metering.server_group": "db"})
    with pytest.raises(SampleError):
        store.add(bad)
    assert store.select("cpu_util", matching_metadata={"server_group": "web"}).tolist() == [0]
    assert store.select("cpu_util", matching_metadata={"server_group": "db"}).tolist() == []


def test_ceilometer_counter_names_are_understood(store):
    result = store.ingest([{"counter_name": "cpu_util", "counter_volume": 5.0,
                            "counter_type": "gauge", "counter_unit": "%",
                            "resource_id": "r", "timestamp": T0 - 1}])
    assert result == (1, [])


def test_store_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="retention"):
        RollingStore(resolution=10, retention=3605)
    with pytest.raises(ValueError, match="resolution"):
        RollingStore(resolution=0)


@pytest.mark.parametrize("metadata", [
    {"a": {"b": {"c": 1}}},
    {"text": "[[[[{{{{" * 10},  # brackets inside texts are no nesting
    {"list": [[[[]]]] * 10},  # many lists, none deeper than 5
    {"d": {}},
    {"x": [1, 2, {"y": [3]}]},
])
def test_metadata_nesting_is_judged_by_depth_not_by_brackets(metadata):
    from heat_alarming.metering.sample import SampleValidator

    assert SampleValidator(3600, 300).check_metadata(metadata) is None  # accepted


def _dicts(levels):
    value = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def _lists(levels):
    value = [1]
    for _ in range(levels - 2):
        value = [value]
    return {"m": value}


@pytest.mark.parametrize("build", [_dicts, _lists])
def test_metadata_one_level_too_deep_is_refused_however_it_is_written(build):
    from heat_alarming.metering.sample import MAX_METADATA_DEPTH, SampleValidator

    validator = SampleValidator(3600, 300, max_metadata_bytes=10 ** 6)
    assert validator.check_metadata(build(MAX_METADATA_DEPTH)) is None
    with pytest.raises(SampleError, match="nested deeper"):
        validator.check_metadata(build(MAX_METADATA_DEPTH + 1))
