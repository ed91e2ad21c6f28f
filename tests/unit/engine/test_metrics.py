"""A worker's own metrics, as Prometheus reads them: the HTTP endpoint scraped and parsed
with prometheus-client's own parser, the figures those of a real round (a real store,
evaluator, alarm store on SQLite and worker); the node-exporter textfile; one port per
worker of a host; a port taken costs the metrics alone; and a scrape by the real
Prometheus of tools/ensure-prometheus.sh."""
from __future__ import annotations

import logging
import socket

import pytest
import sqlalchemy as sa
from oslo_config import cfg
from prometheus_client.parser import text_string_to_metric_families

from heat_alarming import opts
from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.engine.metrics import WorkerMetrics, metrics_from_conf
from heat_alarming.engine.worker import Worker
from heat_alarming.metering import RollingStore, Sample
from tests.support.http_servers import free_port, free_ports
from tests.support.waiting import wait_for
from tests.support.worker_metrics import NodeExporter, parsed, scrape, value

from .conftest import T0

PROJECT = "p-metrics"


@pytest.fixture
def worker(world):
    """The conftest's world (store, evaluator, in-memory SQLite alarm store, manual
    clock) run by a worker alone in its membership, evaluating at once."""
    worker = Worker(world.store, world.evaluator, worker_id="w-metrics",
                    heartbeat_interval=5.0, join_grace=False, clock=world.clock)
    world.alarm(project_id=PROJECT)
    worker.coordinate()
    return worker


@pytest.fixture
def metrics(worker):
    made = WorkerMetrics(worker, port=free_port()).start()
    yield made
    made.stop()


def test_the_endpoint_reports_what_a_real_round_did(world, worker, metrics):
    world.feed(90, 90, 90, project=PROJECT)  # three periods of 6 samples: the alarm fires
    refused = world.store.ingest([
        Sample("cpu_util", 1.0, "vm-1", project_id=PROJECT, timestamp=T0 + 86400),
        Sample("cpu_util", float("nan"), "vm-1", project_id=PROJECT),
        Sample("cpu_util", 2.0, "vm-1", project_id=PROJECT, timestamp=T0 + 86400)])
    assert [r.field for r in refused.rejected] == ["timestamp", "volume", "timestamp"]
    queued = world.evaluator.alarm_store.pending_count()
    assert queued >= 1, "the transition to alarm queued its action"

    before = scrape(metrics.address)
    assert before["workers"] == {"w-metrics"}
    assert value(before, "heat_alarming_evaluation_rounds_total") == 3
    assert value(before, "heat_alarming_evaluation_round_seconds_count") == 3
    seconds = world.evaluator.stats()["round_seconds"]
    assert value(before, "heat_alarming_evaluation_round_seconds_sum") == seconds > 0
    assert value(before, "heat_alarming_evaluation_failed_rounds_total") == 0
    assert 0 < value(before, "heat_alarming_evaluation_last_round_seconds") <= seconds
    assert value(before, "heat_alarming_alarms", project=PROJECT, state="alarm") == 1
    assert not [k for k in before if k != "workers" and k[0] == "heat_alarming_alarms"
                and dict(k[1])["state"] != "alarm"], "one alarm, in one state"
    assert value(before, "heat_alarming_series", project=PROJECT) == 1
    assert value(before, "heat_alarming_samples_accepted_total") == 18
    assert value(before, "heat_alarming_samples_rejected_total", reason="timestamp") == 2
    assert value(before, "heat_alarming_samples_rejected_total", reason="volume") == 1
    assert value(before, "heat_alarming_notifications_pending") == queued
    assert value(before, "heat_alarming_notifications_delivered_total") == 0
    assert value(before, "heat_alarming_owned_projects") == 1
    assert value(before, "heat_alarming_live_workers") == 1

    assert [n["current"] for n in world.delivered()][-1] == "alarm"
    after = scrape(metrics.address)
    assert value(after, "heat_alarming_notifications_pending") == 0
    assert value(after, "heat_alarming_notifications_delivered_total") == queued
    assert value(after, "heat_alarming_notifications_failed_total") == 0


def test_a_notification_given_up_counts_as_failed(world, worker, metrics):
    def broken(payload):
        raise RuntimeError("the receiver is down")
    world.evaluator.register_target("test", broken)
    dispatcher = world.evaluator.dispatcher
    dispatcher.max_attempts, dispatcher.backoff = 2, 0.0  # the retry is due at once
    world.feed(90, 90, 90, project=PROJECT)
    queued = world.evaluator.alarm_store.pending_count()
    assert dispatcher.deliver_due() == queued  # first attempts: each to be retried
    retry = scrape(metrics.address)
    assert value(retry, "heat_alarming_notifications_retried_total") == queued
    assert value(retry, "heat_alarming_notifications_pending") == queued
    assert dispatcher.deliver_due() == queued  # last attempts: given up
    gone = scrape(metrics.address)
    assert value(gone, "heat_alarming_notifications_failed_total") == queued
    assert value(gone, "heat_alarming_notifications_pending") == 0
    assert value(gone, "heat_alarming_notifications_delivered_total") == 0


def test_a_failed_round_counts_and_a_part_that_cannot_be_read_is_left_out(
        world, worker, metrics, caplog):
    world.feed(90, 90, project=PROJECT)
    with world.evaluator.alarm_store.engine.begin() as connection:  # the queue is gone
        connection.execute(sa.text("DROP TABLE ha_notifications"))
    with pytest.raises(sa.exc.DatabaseError):
        world.feed(90, project=PROJECT)  # the transition's notifications cannot be stored
    caplog.set_level(logging.WARNING, logger="heat_alarming.engine.metrics")
    for _ in range(2):
        served = scrape(metrics.address)
        assert value(served, "heat_alarming_evaluation_rounds_total") == 2
        assert value(served, "heat_alarming_evaluation_failed_rounds_total") == 1
        assert value(served, "heat_alarming_samples_accepted_total") == 18
        assert not [k for k in served if k[0].startswith("heat_alarming_notifications")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "dispatcher" in warnings[0], "logged once, not per scrape"


def test_a_stored_round_whose_history_prune_fails_is_not_a_failed_round(
        world, worker, metrics, caplog):
    with world.evaluator.alarm_store.engine.begin() as connection:  # the prune's table
        connection.execute(sa.text("DROP TABLE ha_alarm_history"))
    caplog.set_level(logging.WARNING, logger="heat_alarming.engine.evaluator")
    world.feed(90, project=PROJECT)  # one period of three: no transition, no history row
    served = scrape(metrics.address)
    assert value(served, "heat_alarming_evaluation_rounds_total") == 1
    assert value(served, "heat_alarming_evaluation_failed_rounds_total") == 0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "Pruning the alarm history failed"]
    world.feed(90, project=PROJECT)  # the next prune waits for the next hour
    assert len(caplog.records) == 1


def test_the_textfile_is_written_whole_rewritten_and_removed(world, worker, tmp_path):
    world.feed(90, project=PROJECT)
    metrics = WorkerMetrics(worker, slot=3, textfile=str(tmp_path / "heat-alarming"),
                            interval=0.05)
    path = tmp_path / "heat-alarming.3.prom"
    assert metrics.write_textfile() == str(path)
    written = parsed(path.read_text())
    assert value(written, "heat_alarming_evaluation_rounds_total") == 1
    assert value(written, "heat_alarming_samples_accepted_total") == 6
    assert written["workers"] == {"w-metrics"}
    assert [p.name for p in tmp_path.iterdir()] == ["heat-alarming.3.prom"], \
        "no temporary file is left beside it"
    metrics.start()  # from here a thread rewrites it every interval
    try:
        world.feed(90, project=PROJECT)
        wait_for(lambda: path.exists() and value(
            parsed(path.read_text()), "heat_alarming_evaluation_rounds_total") == 2,
            what="the file to show the second round")
    finally:
        metrics.stop()
    assert not path.exists(), "a stopped worker's file is removed"


def configured(**options) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    for name, setting in options.items():
        conf.set_override(name, setting, opts.GROUP)
    return conf


def test_two_workers_of_a_host_take_two_ports_and_two_files(tmp_path):
    base = free_ports(2)
    conf = configured(metrics_port=base,
                               metrics_textfile=str(tmp_path / "worker"))
    url = f"sqlite:///{tmp_path / 'alarms.sqlite'}"
    alarm_stores, exposed = [], []
    try:
        for name in ("w1", "w2"):
            alarm_store = AlarmStore(url)
            alarm_stores.append(alarm_store)
            store = RollingStore(10, 3600)
            worker = Worker(store, Evaluator(store, alarm_store), worker_id=name,
                            join_grace=False)
            worker.coordinate()
            exposed.append(metrics_from_conf(conf, worker).start())
        assert [m.slot for m in exposed] == [0, 1], "each worker took the first free slot"
        assert [m.address for m in exposed] == [("127.0.0.1", base), ("127.0.0.1", base + 1)]
        for metrics, name in zip(exposed, ("w1", "w2")):
            assert scrape(metrics.address)["workers"] == {name}
            assert value(scrape(metrics.address), "heat_alarming_live_workers") >= 1
            assert parsed(open(metrics.write_textfile()).read())["workers"] == {name}
        assert {p.name for p in tmp_path.glob("*.prom")} == {"worker.0.prom", "worker.1.prom"}
    finally:
        for metrics in exposed:
            metrics.stop()
        for alarm_store in alarm_stores:
            alarm_store.close()


def test_a_node_exporter_reads_two_workers_textfiles_side_by_side(tmp_path):
    """node-exporter refuses series that two files both hold; the ``worker`` label
    keeps the workers' apart."""
    directory = tmp_path / "textfiles"
    directory.mkdir()
    url = f"sqlite:///{tmp_path / 'alarms.sqlite'}"
    alarm_stores, exposed = [], []
    exporter = NodeExporter(str(directory))
    try:
        for slot, name in enumerate(("w1", "w2")):
            alarm_store = AlarmStore(url)
            alarm_stores.append(alarm_store)
            store = RollingStore(10, 3600)
            evaluator = Evaluator(store, alarm_store)
            worker = Worker(store, evaluator, worker_id=name, join_grace=False)
            worker.coordinate()
            for _ in range(slot + 1):
                evaluator.evaluate()
            metrics = WorkerMetrics(worker, slot=slot, textfile=str(directory / "engine"))
            exposed.append(metrics)
            metrics.write_textfile()
        text = exporter.text()
    finally:
        exporter.close()
        for alarm_store in alarm_stores:
            alarm_store.close()
    read = parsed(text)
    assert value(read, "node_textfile_scrape_error") == 0
    assert read["workers"] == {"w1", "w2"}
    for metrics in exposed:
        assert value(read, "node_textfile_mtime_seconds", file=metrics.textfile) > 0
    rounds = {s.labels["worker"]: s.value for family in text_string_to_metric_families(text)
              for s in family.samples if s.name == "heat_alarming_evaluation_rounds_total"}
    assert rounds == {"w1": 1, "w2": 2}


def test_metrics_are_off_unless_configured(worker):
    assert metrics_from_conf(configured(), worker) is None


def test_a_textfile_directory_that_cannot_be_written_turns_only_the_metrics_off(
        worker, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    caplog.set_level(logging.ERROR, logger="heat_alarming.engine.metrics")
    conf = configured(metrics_textfile=str(blocker / "metrics" / "heat-alarming"))
    assert metrics_from_conf(conf, worker) is None
    (record,) = caplog.records
    assert record.getMessage().startswith("Worker metrics are off: cannot claim a slot at ")
    assert worker.stats()["owned_projects"] == 1  # the worker goes on owning its project


def test_a_port_taken_is_one_line_in_the_log_and_the_worker_runs_on(world, worker, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        caplog.set_level(logging.ERROR, logger="heat_alarming.engine.metrics")
        metrics = WorkerMetrics(worker, port=port).start()
        try:
            assert metrics.address is None
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and "\n" not in errors[0]
            assert f"127.0.0.1:{port}" in errors[0] and "w-metrics" in errors[0]
            world.feed(90, 90, 90, project=PROJECT)
            worker.coordinate()
            assert world.evaluator.get(world.evaluator.alarms()[0].alarm_id).state == "alarm"
            assert b"heat_alarming_evaluation_rounds_total" in metrics.text()
        finally:
            metrics.stop()


def test_the_real_prometheus_scrapes_a_worker(prometheus, world, worker, metrics):
    world.feed(90, 90, 90, project=PROJECT)
    host, port = metrics.address
    label = f"worker-metrics-{port}"
    target = prometheus.add_target(f"{host}:{port}", {"exporter": label})
    try:
        prometheus.wait_for(f'up{{exporter="{label}"}}', 1.0)
        answer = prometheus.wait_for(
            f'heat_alarming_evaluation_rounds_total{{exporter="{label}"}}',
            lambda series: any(s.value > 0 for s in series))
        assert [s.value for s in answer] == [3.0]
        prometheus.wait_for(f'heat_alarming_alarms{{exporter="{label}",state="alarm",'
                            f'project="{PROJECT}",worker="w-metrics"}}', 1.0)
    finally:
        target.remove()
