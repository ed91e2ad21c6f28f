"""PrometheusClient against the real Prometheus (tools/ensure-prometheus.sh), and against
a stand-in only for the answers a real server never gives (ill-formed, huge, slow)."""
from __future__ import annotations

import math
import subprocess
import time

import numpy as np
import pytest

from heat_alarming.metering.collectors.prometheus import PrometheusClient, PromSeries
from heat_alarming.metering.pipeline.base import CollectError
from tests.support.http_servers import free_port
from tests.support.prometheus import DIRECTORY, SCRIPT, StandIn


def test_an_instant_query_answers_the_value_the_exporter_set(prometheus, exporter):
    gauge = exporter.gauge("ha_client_level", labels=["room"])
    gauge.labels(room="a").set(41.5)
    gauge.labels(room="b").set(-3)
    selector = f'ha_client_level{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 2)

    before = time.time()
    answer = prometheus.client().query(selector)

    by_room = {s.labels["room"]: s for s in answer}
    assert {room: s.value for room, s in by_room.items()} == {"a": 41.5, "b": -3.0}
    assert by_room["a"].labels == {"__name__": "ha_client_level", "room": "a",
                                   "exporter": exporter.id, "instance": exporter.address,
                                   "job": "test"}
    # an instant query's timestamp is its evaluation time: the server's now
    assert before - 1 <= by_room["a"].timestamp <= time.time() + 1


def test_an_instant_query_at_a_time_is_evaluated_then(prometheus, exporter):
    gauge = exporter.gauge("ha_client_then")
    selector = f'ha_client_then{{exporter="{exporter.id}"}}'
    gauge.set(1)
    prometheus.wait_for(selector, 1.0)
    first = time.time()
    gauge.set(2)
    prometheus.wait_for(selector, 2.0)

    (series,) = prometheus.client().query(selector, at=first)

    assert series.value == 1.0 and series.timestamp == pytest.approx(first, abs=0.001)


def test_a_scalar_answer_is_one_series_without_labels(prometheus):
    assert prometheus.client().query("scalar(vector(6)) * 7", at=1_796_000_000.0) == [
        PromSeries({}, 42.0, 1_796_000_000.0)]


def test_nan_and_infinities_are_read_as_floats(prometheus):
    answer = prometheus.client().query(
        'label_replace(vector(0/0), "v", "nan", "", "") or '
        'label_replace(vector(1/0), "v", "inf", "", "") or '
        'label_replace(vector(-1/0), "v", "-inf", "", "")')
    values = {s.labels["v"]: s.value for s in answer}
    assert math.isnan(values["nan"]) and values["inf"] == math.inf \
        and values["-inf"] == -math.inf


def test_a_range_query_answers_every_step_of_what_was_scraped(prometheus, exporter):
    gauge = exporter.gauge("ha_client_steps")
    selector = f'ha_client_steps{{exporter="{exporter.id}"}}'
    gauge.set(10)
    prometheus.wait_for(selector, 10.0)
    start = time.time()
    gauge.set(20)
    prometheus.wait_for(selector, 20.0)
    # one step past now: the last step is after the scrape that read 20, however close
    # to now that scrape was
    end = time.time() + 0.25

    (series,) = prometheus.client().query_range(selector, start, end, 0.25)

    assert series.labels["__name__"] == "ha_client_steps"
    assert series.timestamps.dtype == np.float64 and series.values.dtype == np.float64
    np.testing.assert_allclose(np.diff(series.timestamps), 0.25)
    assert series.timestamps[0] == pytest.approx(start, abs=0.001)
    # the value seen at each step is what the last scrape before it read: 10, then 20
    assert series.values[0] == 10.0 and series.values[-1] == 20.0
    changes = np.flatnonzero(np.diff(series.values))
    assert len(changes) == 1 and set(series.values.tolist()) == {10.0, 20.0}


def test_node_exporter_is_read_through_prometheus(prometheus):
    prometheus.wait_for(f'node_memory_MemAvailable_bytes{{instance="'
                        f'{prometheus.node_instance}"}}', lambda answer: len(answer) == 1)
    (memory,) = prometheus.client().query(
        f'node_memory_MemAvailable_bytes{{instance="{prometheus.node_instance}"}}')
    assert memory.value > 0 and memory.labels["job"] == "node"


def test_a_server_that_is_down_is_a_collect_error():
    with pytest.raises(CollectError, match="cannot reach Prometheus .*connection refused"):
        PrometheusClient(f"http://127.0.0.1:{free_port()}").query("up")


def test_a_promql_syntax_error_carries_prometheus_message(prometheus):
    with pytest.raises(CollectError, match=r"HTTP 400: bad_data: .*parse error"):
        prometheus.client().query("sum(up{")


def test_a_range_selector_in_an_instant_query_is_refused_with_the_reason(prometheus):
    with pytest.raises(CollectError, match="range vector to an instant query"):
        prometheus.client().query("up[1m]")


def test_an_answer_of_more_series_than_allowed_is_refused(prometheus, exporter):
    gauge = exporter.gauge("ha_client_many", labels=["n"])
    for n in range(30):
        gauge.labels(n=str(n)).set(n)
    selector = f'ha_client_many{{exporter="{exporter.id}"}}'
    prometheus.wait_for(selector, lambda answer: len(answer) == 30)
    assert len(prometheus.client(max_series=30).query(selector)) == 30
    with pytest.raises(CollectError, match=r"30 series, more than max_series \(29\)"):
        prometheus.client(max_series=29).query(selector)
    with pytest.raises(CollectError, match=r"more than max_series \(29\)"):
        prometheus.client(max_series=29).query_range(selector, time.time() - 5,
                                                     time.time(), 1)


def test_an_answer_larger_than_allowed_is_refused_while_it_is_read(prometheus):
    with pytest.raises(CollectError, match=r"more than max_bytes \(200\)"):
        prometheus.client(max_bytes=200).query("up")
    big = StandIn(b'{"status":"success","data":{"resultType":"vector","result":[' +
                  b'{"metric":{},"value":[1,"1"]},' * 100_000 + b']}}',
                  declare_length=False, pieces=50)
    try:
        with pytest.raises(CollectError, match=r"larger than max_bytes \(100000\)"):
            PrometheusClient(big.url, max_bytes=100_000).query("up")
    finally:
        big.close()


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_timeout():
    slow = StandIn({"status": "success", "data": {"resultType": "vector", "result": []}},
                   pieces=40, pause=0.1)
    try:
        started = time.monotonic()
        with pytest.raises(CollectError, match=r"did not (finish its answer|answer) within "
                                               r"1 s"):
            PrometheusClient(slow.url, timeout=1.0).query("up")
        assert time.monotonic() - started < 2.5
    finally:
        slow.close()


def test_the_query_timeout_is_passed_to_prometheus():
    stand_in = StandIn({"status": "success", "data": {"resultType": "vector", "result": []}})
    try:
        assert PrometheusClient(stand_in.url, timeout=2.0).query("up", at=5.0) == []
        assert stand_in.requests == [{"query": "up", "time": "5.000", "timeout": "1800ms"}]
    finally:
        stand_in.close()


@pytest.mark.parametrize("body, reason", [
    (b"not json", "not a JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, "not a JSON object"),
    ({"status": "weird"}, "neither success nor error"),
    ({"status": "success"}, "no data object"),
    ({"status": "success", "data": {"resultType": "histogram", "result": []}},
     "unknown resultType"),
    ({"status": "success", "data": {"resultType": "vector", "result": {}}}, "not a list"),
    ({"status": "success", "data": {"resultType": "vector", "result": [7]}},
     r"result\[0\] is a int"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}},
     "not a map of texts"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [1, 1]}]}},
     "not a number's text"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [1, "lots"]}]}},
     "not a number"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": ["1", "1"]}]}},
     "timestamp"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [1, "1", 2]}]}},
     r"not a \[timestamp, value\] pair"),
    ({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "histogram": [1, {"count": "1"}]}]}}, "native histogram"),
    ({"status": "success", "data": {"resultType": "scalar", "result": [1e999, "1"]}},
     "timestamp"),
    # an integer of 400 digits: too large for a float
    ({"status": "success", "data": {"resultType": "scalar", "result": [10 ** 400, "1"]}},
     "timestamp"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [-10 ** 400, "1"]}]}},
     "timestamp"),
])
def test_an_ill_formed_answer_is_refused_with_the_reason(body, reason):
    stand_in = StandIn(body)
    try:
        with pytest.raises(CollectError, match=reason):
            PrometheusClient(stand_in.url).query("up")
    finally:
        stand_in.close()


@pytest.mark.parametrize("values, reason", [
    ([[1, "1"], [1, "2"]], "not finite and increasing"),
    ([[2, "1"], [1, "2"]], "not finite and increasing"),
    ([[1, "1"], [2]], "pairs"),
    ([[1, "1"], [2, 3]], "not a number's text"),
    ([[1, "1"], [True, "3"]], "timestamp"),
    ([[1, "1"], [10 ** 400, "3"]], "timestamp too large"),  # 400 digits
    ([[1, "1"], [2, "x"]], "not a number"),
    ({"1": "1"}, "not a list"),
])
def test_an_ill_formed_range_is_refused_with_the_reason(values, reason):
    stand_in = StandIn({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "b"}, "values": [[0, "0"]]},
        {"metric": {"a": "c"}, "values": values}]}})
    try:
        with pytest.raises(CollectError, match=reason):
            PrometheusClient(stand_in.url).query_range("up", 0, 10, 1)
    finally:
        stand_in.close()


def test_an_error_answer_without_json_shows_the_status_and_text():
    stand_in = StandIn(b"upstream exploded", status=502)
    try:
        with pytest.raises(CollectError, match="HTTP 502: upstream exploded"):
            PrometheusClient(stand_in.url).query("up")
    finally:
        stand_in.close()


def test_bad_arguments_are_refused_before_asking():
    with pytest.raises(ValueError, match="url"):
        PrometheusClient("ftp://127.0.0.1:9090")
    with pytest.raises(ValueError, match="timeout"):
        PrometheusClient("http://127.0.0.1:9090", timeout=0)
    client = PrometheusClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ValueError, match="promql"):
        client.query("  ")
    with pytest.raises(ValueError, match="step"):
        client.query_range("up", 0, 10, 0)
    with pytest.raises(ValueError, match="end"):
        client.query_range("up", 10, 0, 1)


def test_the_set_up_script_leaves_a_running_server_alone(prometheus):
    pids = {name: (DIRECTORY / f"{name}.pid").read_text() for name in
            ("prometheus", "node-exporter") if (DIRECTORY / f"{name}.pid").exists()}
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing started, nothing said
    assert {name: (DIRECTORY / f"{name}.pid").read_text() for name in pids} == pids
    assert prometheus.client().query("vector(1)")[0].value == 1.0


def test_unknown_fields_of_an_answer_are_ignored():
    # newer servers add fields (warnings, infos, stats, per-series extras): not an error
    stand_in = StandIn({"status": "success", "warnings": ["w"], "infos": ["i"],
                        "data": {"resultType": "vector", "stats": {"x": 1}, "result": [
                            {"metric": {"a": "b"}, "value": [5, "2"], "extra": True}]}})
    try:
        assert PrometheusClient(stand_in.url).query("up") == [PromSeries({"a": "b"}, 2.0, 5.0)]
    finally:
        stand_in.close()
