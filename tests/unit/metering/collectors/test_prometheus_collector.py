"""PrometheusCollector against the real Prometheus and node exporter
(tools/ensure-prometheus.sh), with exporters of the test for exact values; a
stand-in only for answers a real server never gives."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.collectors.prometheus import (
    PrometheusCollector,
    PromRange,
    PromSeries,
)
from heat_alarming.metering.pipeline.base import COLLECTORS, CollectError, PipelineError, load
from tests.support.http_servers import free_port
from tests.support.prometheus import StandIn


def collector(prometheus, queries, **parameters) -> PrometheusCollector:
    return PrometheusCollector({"url": prometheus.url, "queries": queries, **parameters})


def by_resource(batch: SampleBatch) -> dict[str, list]:
    found: dict[str, list] = {}
    for s in batch.samples():
        found.setdefault(s.resource_id, []).append(s)
    return found


def test_the_entry_point_builds_the_collector(prometheus):
    built = load(COLLECTORS, "prometheus", {"url": prometheus.url,
                                            "queries": {"up": {"query": "up", "unit": "1"}}})
    assert isinstance(built, PrometheusCollector)
    built.close()


def test_an_instant_query_gives_one_sample_per_series_with_the_exact_value(prometheus,
                                                                           exporter):
    gauge = exporter.gauge("ha_load", labels=["host", "tenant", "zone"])
    gauge.labels(host="web-1", tenant="p1", zone="a").set(0.25)
    gauge.labels(host="web-2", tenant="p2", zone="b").set(1e6)
    selector = f'ha_load{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 2)
    made = collector(prometheus, {"load": {"query": selector, "unit": "req/s",
                                           "resource_label": "host",
                                           "project_label": "tenant"}})
    now = time.time()

    batch = made.collect(now)

    samples = by_resource(batch)
    assert sorted(samples) == ["web-1", "web-2"]
    (one,), (two,) = samples["web-1"], samples["web-2"]
    assert (one.name, one.volume, one.unit, one.type, one.project_id, one.source) == (
        "load", 0.25, "req/s", "gauge", "p1", "prometheus")
    assert (two.volume, two.project_id) == (1e6, "p2")
    # an instant query is evaluated at the poll's time
    assert one.timestamp == pytest.approx(now, abs=0.001)
    # every label but __name__ is metadata by default
    assert one.resource_metadata == {"host": "web-1", "tenant": "p1", "zone": "a",
                                     "exporter": exporter.id, "instance": exporter.address,
                                     "job": "test"}
    made.close()


def test_metadata_labels_choose_the_metadata_and_project_fixes_the_project(prometheus,
                                                                           exporter):
    gauge = exporter.gauge("ha_meta", labels=["zone", "flavor"])
    gauge.labels(zone="a", flavor="m1").set(3)
    selector = f'ha_meta{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, 3.0)
    made = collector(prometheus, {"meta": {"query": selector, "unit": "1",
                                           "project": "fixed",
                                           "metadata_labels": ["zone", "absent"]}})

    (sample,) = made.collect(time.time()).samples()

    assert sample.resource_id == exporter.address  # the instance label by default
    assert sample.project_id == "fixed" and sample.resource_metadata == {"zone": "a"}
    made.close()


def test_metadata_labels_may_rename_labels_to_heat_metadata_keys(prometheus, exporter):
    gauge = exporter.gauge("ha_group", labels=["server_group"])
    gauge.labels(server_group="stack-1").set(4)
    selector = f'ha_group{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, 4.0)
    made = collector(prometheus, {"group": {"query": selector, "unit": "1", "metadata_labels": {
        "server_group": "metering.server_group", "job": "job"}}})

    (sample,) = made.collect(time.time()).samples()

    # the key Heat's autoscaling alarms match (matching_metadata metering.server_group)
    assert sample.resource_metadata == {"metering.server_group": "stack-1", "job": "test"}
    made.close()


def test_series_without_the_resource_label_and_non_finite_values_are_skipped_and_counted(
        prometheus, exporter):
    gauge = exporter.gauge("ha_odd", labels=["host"])
    gauge.labels(host="ok").set(5)
    gauge.labels(host="nan").set(math.nan)
    gauge.labels(host="inf").set(math.inf)
    gauge.labels(host="").set(9)  # an empty label is no label in Prometheus
    selector = f'ha_odd{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 4)
    made = collector(prometheus, {"odd": {"query": selector, "unit": "1",
                                          "resource_label": "host"}})

    batch = made.collect(time.time())

    assert [(s.resource_id, s.volume) for s in batch.samples()] == [("ok", 5.0)]
    assert made.skipped == {"no_resource_label": 1, "not_finite": 2, "duplicate": 0,
                            "failed_queries": 0}
    made.close()


def test_the_series_tuple_is_the_same_object_while_the_label_sets_stay(prometheus, exporter):
    gauge = exporter.gauge("ha_stable", labels=["host"])
    gauge.labels(host="a").set(1)
    selector = f'ha_stable{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, 1.0)
    made = collector(prometheus, {
        "stable": {"query": selector, "unit": "1", "resource_label": "host"},
        "doubled": {"query": f"2 * {selector}", "unit": "1", "resource_label": "host"}})

    first = made.collect(time.time())
    gauge.labels(host="a").set(2)
    prometheus.wait_for(selector, 2.0)
    second = made.collect(time.time())
    gauge.labels(host="b").set(7)
    prometheus.wait_for(selector, lambda answer: len(answer) == 2)
    third = made.collect(time.time())

    assert second.series is first.series and second.volumes.tolist() == [2.0, 4.0]
    assert third.series is not first.series
    assert sorted(third.names) == ["doubled", "doubled", "stable", "stable"]
    # the descriptors of series answered before are the same objects
    assert first.series[0] in third.series and any(d is first.series[0]
                                                   for d in third.series)
    made.close()


def test_a_range_query_sends_each_step_once_across_polls(prometheus, exporter):
    gauge = exporter.gauge("ha_range")
    selector = f'ha_range{{exporter="{exporter.id}"}}'
    gauge.set(7)
    prometheus.wait_for(selector, 7.0)
    wait_for_a_step_after_the_scrape(prometheus, selector)
    made = collector(prometheus, {"ranged": {"query": selector, "unit": "1",
                                             "range": {"window": "30s", "step": 1}}})

    polled = time.time()
    first = made.collect(polled)
    gauge.set(8)
    prometheus.wait_for(selector, 8.0)
    wait_for_a_step_after_the_scrape(prometheus, selector)
    second = made.collect(time.time())

    assert len(first) >= 1 and set(first.volumes.tolist()) == {7.0}
    assert (first.timestamps == np.floor(first.timestamps)).all()  # steps of 1 s
    assert first.timestamps.max() == math.floor(polled)
    assert second.timestamps.min() > first.timestamps.max()  # nothing sent twice
    np.testing.assert_array_equal(np.diff(np.concatenate(
        [first.timestamps, second.timestamps])), 1.0)  # and no step missed
    assert second.volumes[-1] == 8.0
    made.close()


def wait_for_a_step_after_the_scrape(prometheus, selector: str) -> None:
    """Until the clock has passed a whole second beyond the newest scrape of
    ``selector`` (its timestamp() in Prometheus): the step that sees it has come."""
    (series,) = prometheus.client().query(f"timestamp({selector})")
    while math.floor(time.time()) <= math.floor(series.value):
        time.sleep(0.05)


def test_node_exporter_meters_are_read_through_prometheus(prometheus):
    node = prometheus.node_instance
    prometheus.wait_for(f'rate(node_cpu_seconds_total{{instance="{node}",mode="idle"}}[5s])',
                        lambda answer: len(answer) >= 1)
    made = collector(prometheus, {
        "cpu_util": {"query": f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total'
                              f'{{instance="{node}",mode="idle"}}[5s])))', "unit": "%"},
        "memory.available": {"query": f'node_memory_MemAvailable_bytes{{instance="{node}"}}',
                             "unit": "B"}})

    batch = made.collect(time.time())

    found = {s.name: s for s in batch.samples()}
    assert sorted(found) == ["cpu_util", "memory.available"]
    assert -1 <= found["cpu_util"].volume <= 101  # (rates of counters read apart)
    assert found["memory.available"].volume > 0
    assert {s.resource_id for s in found.values()} == {node}
    assert found["memory.available"].resource_metadata == {"instance": node, "job": "node"}
    made.close()


def test_two_series_of_one_resource_keep_the_first_and_count_the_duplicate(prometheus,
                                                                          exporter):
    gauge = exporter.gauge("ha_twice", labels=["cpu"])
    gauge.labels(cpu="0").set(1)
    gauge.labels(cpu="1").set(2)
    selector = f'ha_twice{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 2)
    made = collector(prometheus, {"twice": {"query": selector, "unit": "1"}})

    batch = made.collect(time.time())

    assert len(batch) == 1 and made.skipped["duplicate"] == 1
    made.close()


def test_a_server_that_is_down_fails_the_poll():
    made = PrometheusCollector({"url": f"http://127.0.0.1:{free_port()}",
                                "queries": {"up": {"query": "up", "unit": "1"}}})
    with pytest.raises(CollectError, match="up: cannot reach Prometheus.*connection refused"):
        made.collect(time.time())
    made.close()


def test_a_syntax_error_fails_the_poll_with_prometheus_message(prometheus):
    made = collector(prometheus, {"broken": {"query": "rate(up[1m]", "unit": "1"}})
    with pytest.raises(CollectError, match=r"broken: Prometheus answered HTTP 400: "
                                           r"bad_data: .*parse error"):
        made.collect(time.time())
    made.close()


def test_one_failing_query_leaves_the_others_samples_and_is_counted(prometheus, caplog):
    made = collector(prometheus, {
        "broken": {"query": "sum(", "unit": "1"},
        "up": {"query": f'up{{instance="{prometheus.node_instance}"}}', "unit": "1"}})

    batch = made.collect(time.time())

    assert batch.names == ["up"] and made.skipped["failed_queries"] == 1
    assert "meter broken failed" in caplog.text
    made.close()


def test_an_answer_of_too_many_series_is_refused(prometheus, exporter):
    gauge = exporter.gauge("ha_crowd", labels=["host"])
    for n in range(12):
        gauge.labels(host=f"h{n}").set(n)
    selector = f'ha_crowd{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 12)
    made = collector(prometheus, {"crowd": {"query": selector, "unit": "1",
                                            "resource_label": "host"}}, max_series=10)
    with pytest.raises(CollectError, match=r"12 series, more than max_series \(10\)"):
        made.collect(time.time())
    made.close()


def test_hostile_labels_and_values_of_a_stand_in_are_skipped():
    # answers no real Prometheus gives: a resource id too long to be one, a huge value
    stand_in = StandIn({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "x" * 100_000}, "value": [1.0, "1"]},
        {"metric": {"instance": "big"}, "value": [1.0, "1e300"]},
        {"metric": {"instance": "fine", "extra": "y"}, "value": [1.0, "-2.5"]}]}})
    made = PrometheusCollector({"url": stand_in.url,
                                "queries": {"m": {"query": "m", "unit": "1"}}})
    try:
        batch = made.collect(time.time())
        assert [(s.resource_id, s.volume) for s in batch.samples()] == [("fine", -2.5)]
        assert made.skipped["no_resource_label"] == 1 and made.skipped["not_finite"] == 1
    finally:
        made.close()
        stand_in.close()


@pytest.mark.parametrize("concurrency, at_least, below", [(4, 1.0, 3.0), (1, 4.0, 60.0)])
def test_the_queries_of_a_poll_wait_on_the_server_together(concurrency, at_least, below):
    # a stand-in that takes 1 s to answer each query: four meters wait about 1 s in
    # all when asked together, 4 s one after the other
    slow = StandIn({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "a"}, "value": [1.0, "1"]}]}}, delay=1.0)
    made = PrometheusCollector({"url": slow.url, "concurrency": concurrency, "queries": {
        f"m{i}": {"query": f"q{i}", "unit": "1"} for i in range(4)}})
    try:
        started = time.monotonic()
        batch = made.collect(time.time())
        took = time.monotonic() - started
        assert sorted(batch.names) == ["m0", "m1", "m2", "m3"]
        assert at_least <= took < below
        assert sorted(r["query"] for r in slow.requests) == ["q0", "q1", "q2", "q3"]
    finally:
        made.close()
        slow.close()


@pytest.mark.parametrize("parameters, field", [
    ({"queries": {"m": {"query": "up", "unit": "1"}}}, "url"),
    ({"url": "ftp://x", "queries": {"m": {"query": "up", "unit": "1"}}}, "url"),
    ({"url": "http://127.0.0.1:9090"}, "queries"),
    ({"url": "http://127.0.0.1:9090", "queries": {}}, "queries"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1"}},
      "colour": 1}, "colour"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up"}}}, "queries.m.unit"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "", "unit": "1"}}},
     "queries.m.query"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "type": "counter"}}},
     "queries.m.type"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "resource_label": "no-dash"}}},
     "queries.m.resource_label"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "project": "p",
                                                        "project_label": "t"}}},
     "queries.m.project"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "metadata_labels": "job"}}},
     "queries.m.metadata_labels"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "metadata_labels": {"job": ""}}}},
     "queries.m.metadata_labels.job"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "range": {"window": "5x",
                                                                  "step": 1}}}},
     "queries.m.range.window"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "range": {"window": 10,
                                                                  "step": "1m"}}}},
     "queries.m.range.window"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "range": {"window": 1e9,
                                                                  "step": 1}}}},
     "queries.m.range.window"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1",
                                                        "oops": 1}}}, "queries.m.oops"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1"}},
      "timeout": 0}, "timeout"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1"}},
      "max_series": True}, "max_series"),
    ({"url": "http://127.0.0.1:9090", "queries": {"m": {"query": "up", "unit": "1"}},
      "concurrency": 0}, "concurrency"),
])
def test_bad_parameters_are_refused_naming_the_field(parameters, field):
    with pytest.raises(PipelineError) as caught:
        PrometheusCollector(parameters)
    assert caught.value.field == field


def test_batch_of_maps_given_answers_without_asking_the_server():
    made = PrometheusCollector({"url": f"http://127.0.0.1:{free_port()}", "queries": {
        "load": {"query": "node_load1", "unit": "1"},
        "ranged": {"query": "node_load1", "unit": "1", "range": {"window": 30, "step": 15}}}})
    batch = made.batch_of({
        "load": [PromSeries({"instance": "a"}, 1.5, 100.0)],
        "ranged": [PromRange({"instance": "b"}, np.array([90.0, 105.0]),
                             np.array([2.0, math.nan]))]})
    assert [(s.name, s.resource_id, s.volume, s.timestamp) for s in batch.samples()] == [
        ("load", "a", 1.5, 100.0), ("ranged", "b", 2.0, 90.0)]
    with pytest.raises(ValueError, match="no meter 'other'"):
        made.batch_of({"other": []})
    made.close()
