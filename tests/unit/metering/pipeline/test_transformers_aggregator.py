"""aggregator: one value per group of resources and clock-aligned window, by hand."""
import numpy as np
import pytest

from heat_alarming.metering.pipeline.base import TRANSFORMERS, PipelineError, load
from heat_alarming.metering.pipeline.transformers import Aggregator
from tests.support.transformer_batches import T0, batch, copy_of, series, unchanged


def util(resource, group, project="p1", **kw):
    metadata = {"metering.server_group": group} if group is not None else {}
    return series("cpu_util", resource, unit="%", type="gauge", project_id=project,
                  metadata=metadata, **kw)


def aggregator(function="avg", **parameters):
    return Aggregator({"meters": ["cpu_util"], "group_by": "metering.server_group",
                       "function": function, "period": 60, **parameters})


S = (util("r1", "g1"), util("r2", "g1"), util("r3", "g2"))
# window [T0, T0 + 60): r1 10 and 30 (mean 20), r2 40, r3 50
ROWS = [(0, 10, T0 + 5), (1, 40, T0 + 20), (0, 30, T0 + 35), (2, 50, T0 + 59)]


def flushed(b):
    """(resource_id, project, volume, time - T0) per sample, sorted."""
    return sorted((b.series[c].resource_id, b.series[c].project_id, v, t - T0)
                  for c, v, t in zip(b.codes.tolist(), b.volumes.tolist(),
                                     b.timestamps.tolist()))


@pytest.mark.parametrize("function, g1, g2", [
    ("avg", 30.0, 50.0),    # (20 + 40) / 2
    ("sum", 60.0, 50.0),    # 20 + 40: each resource once, however often it reported
    ("min", 20.0, 50.0),
    ("max", 40.0, 50.0),
    ("count", 2.0, 1.0),    # resources reporting
])
def test_each_group_gives_one_sample_per_window(function, g1, g2):
    t = aggregator(function)
    t.transform(batch(S, ROWS), T0 + 59)
    assert len(t.flush(T0 + 59.9)) == 0  # the window is still open
    out = t.flush(T0 + 60)
    assert flushed(out) == [("g1", "p1", g1, 0.0), ("g2", "p1", g2, 0.0)]
    assert len(t.flush(T0 + 120)) == 0  # emitted once


def test_the_output_series_names_the_group_for_the_alarm_query():
    t = aggregator()
    t.transform(batch(S, ROWS), T0 + 59)
    out = t.flush(T0 + 60)
    d = out.series[out.codes[0]]
    assert (d.name, d.unit, d.type, d.metadata) == ("cpu_util", "%", "gauge",
                                                    {"metering.server_group": d.resource_id})


def test_samples_are_held_across_batches_until_the_window_closes():
    t = aggregator("sum")
    t.transform(batch(S, ROWS[:2]), T0 + 20)
    t.transform(batch(S, ROWS[2:] + [(0, 100, T0 + 61)]), T0 + 61)
    assert flushed(t.flush(T0 + 61)) == [("g1", "p1", 60.0, 0.0), ("g2", "p1", 50.0, 0.0)]
    assert flushed(t.flush(T0 + 120)) == [("g1", "p1", 100.0, 60.0)]


def test_the_source_samples_are_passed_on_unchanged():
    t = aggregator()
    b = batch(S + (series("cpu"),), ROWS + [(3, 1, T0)], ids=[1, 2, 3, 4, 5])
    before = copy_of(b)
    assert t.transform(b, T0) is b
    assert unchanged(b, before)
    out = aggregator(keep_source=False).transform(b, T0)
    assert [out.series[c].name for c in out.codes] == ["cpu"]
    assert unchanged(b, before)


@pytest.mark.parametrize("metadata", [
    {"metering.server_group": "g1"}, {"metering": {"server_group": "g1"}},
    {"user_metadata": {"server_group": "g1"}}, {"user_metadata.server_group": "g1"}])
def test_every_spelling_of_the_group_tag_is_one_group(metadata):
    s = (util("r1", "g1"), series("cpu_util", "r2", metadata=metadata, type="gauge"))
    t = aggregator("count")
    t.transform(batch(s, [(0, 1, T0), (1, 3, T0)]), T0)
    assert flushed(t.flush(T0 + 60)) == [("g1", "p1", 2.0, 0.0)]


def test_groups_never_mix_projects():
    s = (util("r1", "g1", project="p1"), util("r2", "g1", project="p2"))
    t = aggregator("sum")
    t.transform(batch(s, [(0, 1, T0), (1, 2, T0)]), T0)
    assert flushed(t.flush(T0 + 60)) == [("g1", "p1", 1.0, 0.0), ("g1", "p2", 2.0, 0.0)]


def test_group_by_project():
    s = (util("r1", None, project="p1"), util("r2", None, project="p1"),
         util("r3", None, project="p2"))
    t = Aggregator({"meters": "cpu_util", "group_by": "project_id", "function": "max",
                    "target": {"name": "cpu_util.max"}})
    t.transform(batch(s, [(0, 1, T0), (1, 7, T0), (2, 2, T0)]), T0)
    out = t.flush(T0 + 60)
    assert flushed(out) == [("p1", "p1", 7.0, 0.0), ("p2", "p2", 2.0, 0.0)]
    assert {d.name for d in out.series} == {"cpu_util.max"}


def test_series_without_the_group_key_or_another_meter_are_not_aggregated():
    s = (util("r1", None), util("r2", True), series("memory", "r3",
                                                    metadata={"metering.server_group": "g"}))
    t = aggregator()
    t.transform(batch(s, [(0, 1, T0), (1, 2, T0), (2, 3, T0)]), T0)
    assert len(t.flush(T0 + 60)) == 0


def test_hostile_samples_are_not_aggregated():
    t = aggregator("count")
    t.transform(batch(S, [(0, np.nan, T0), (1, np.inf, T0), (2, 1, np.nan),
                          (2, 5, T0 + 1e9), (2, 5, 1e300),  # times far ahead
                          (2, 5, -1e300), (2, 5, T0 - 1e6)]), T0)  # far behind
    assert len(t.flush(T0 + 60)) == 0
    assert (t.early, t.late) == (2, 2)


def test_a_late_sample_for_a_flushed_window_is_counted_not_aggregated():
    t = aggregator("count")
    t.transform(batch(S, ROWS), T0 + 59)
    t.flush(T0 + 60)
    t.transform(batch(S, [(0, 1, T0 + 10)]), T0 + 61)
    assert t.late == 1
    assert len(t.flush(T0 + 200)) == 0


def test_pending_partials_are_bounded_dropping_the_oldest_windows():
    t = aggregator("count", max_pending=2)
    s = S[:1]
    t.transform(batch(s, [(0, 1, T0 + 60 * k) for k in range(5)]), T0 + 250)
    out = t.flush(T0 + 300)
    assert flushed(out) == [("g1", "p1", 1.0, 180.0), ("g1", "p1", 1.0, 240.0)]
    assert t.dropped == 3


def test_its_counters_report_late_early_and_dropped():
    t = aggregator("count", max_pending=1)
    t.transform(batch(S, [(2, 5, T0 + 1e9), (0, 1, T0), (0, 1, T0 + 60)]), T0 + 60)
    t.flush(T0 + 120)  # the window at T0 was dropped (max_pending), the next emitted
    t.transform(batch(S, [(0, 1, T0 + 10)]), T0 + 121)
    assert t.counters() == {"late": 1, "early": 1, "dropped": 1}


def test_windows_still_open_at_close_are_counted_as_dropped_not_emitted():
    t = aggregator("count")
    t.transform(batch(S, ROWS + [(0, 7, T0 + 61)]), T0 + 61)
    assert flushed(t.flush(T0 + 61)) == [("g1", "p1", 2.0, 0.0), ("g2", "p1", 1.0, 0.0)]
    t.close()  # the window at T0 + 60 is open: r1's partial result is given up
    assert t.counters()["dropped"] == 1
    assert len(t.flush(T0 + 1000)) == 0


def test_idle_groups_are_forgotten():
    t = aggregator(max_age=100)
    t.transform(batch(S, ROWS), T0 + 59)
    t.flush(T0 + 60)
    assert len(t.groups) == 2
    t.transform(batch((util("r9", "g9"),), [(0, 1, T0 + 300)]), T0 + 300)
    assert len(t.groups) == 1


def test_one_group_and_window_per_sample_for_many_windows():
    t = aggregator("avg")
    # r1 in g1: 0, 60, 120 -> windows of one value each; r2 in g1 only in the middle one
    t.transform(batch(S, [(0, 1, T0), (0, 2, T0 + 60), (1, 4, T0 + 61), (0, 3, T0 + 120)]),
                T0 + 121)
    assert flushed(t.flush(T0 + 180)) == [("g1", "p1", 1.0, 0.0), ("g1", "p1", 3.0, 60.0),
                                          ("g1", "p1", 3.0, 120.0)]


@pytest.mark.parametrize("parameters, field", [
    ({"meters": "cpu_util"}, "group_by"),
    ({"meters": "cpu_util", "group_by": ""}, "group_by"),
    ({"meters": "cpu_util", "group_by": "project_id", "function": "median"}, "function"),
    ({"meters": "cpu_util", "group_by": "project_id", "period": 0}, "period"),
    ({"meters": "cpu_util", "group_by": "project_id", "period": 1e9}, "period"),
    ({"meters": "cpu_util", "group_by": "project_id", "max_pending": 0}, "max_pending"),
    ({"group_by": "project_id"}, "meters"),
    ({"meters": "cpu_util", "group_by": "project_id", "target": {"type": "x"}},
     "target.type"),
])
def test_bad_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        Aggregator(parameters)
    assert err.value.field == field


def test_the_entry_point_loads_it():
    t = load(TRANSFORMERS, "aggregator", {"meters": ["cpu_util"], "group_by": "project_id"})
    assert isinstance(t, Aggregator)
