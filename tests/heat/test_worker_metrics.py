"""The metrics of a worker inside heat-engine: a stack's alarm that evaluates shows in its
worker's figures; the runtime serves them while it runs, worker n of the host on
metrics_port + n, and closes them when it stops."""
import socket
import uuid

import pytest
import requests
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine.metrics import WorkerMetrics
from heat_alarming.resources.embedded import user_context
from heat_alarming.resources.runtime import Runtime
from tests.support.http_servers import free_port, free_ports
from tests.support.worker_metrics import scrape, value

ALARM = """
heat_template_version: 2016-10-14
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: cpu_util
      threshold: 50
      comparison_operator: gt
      period: 60
"""


def test_a_stack_alarm_that_fires_shows_in_its_workers_metrics(heat_engine):
    engine = heat_engine
    project = f"metrics-{uuid.uuid4().hex[:8]}"
    ctx = user_context(project)
    ident = engine.create(f"metrics{uuid.uuid4().hex[:8]}", ALARM, ctx=ctx)
    metrics = WorkerMetrics(engine.runtime.worker, port=free_port()).start()
    try:
        before = scrape(metrics.address)
        assert before["workers"] == {engine.runtime.worker.worker_id}
        assert value(before, "heat_alarming_alarms", project=project,
                     state="insufficient data") == 1
        start = engine.clock()
        engine.client.resource_signal(ctx, ident, "alarm", {"samples": [
            {"meter": "cpu_util", "value": 90.0, "resource_id": "metrics-vm",
             "timestamp": start + s} for s in range(0, 60, 10)]}, sync_call=True)
        engine.clock.set(start + 61)
        engine.runtime.evaluator.evaluate()
        after = scrape(metrics.address)
    finally:
        metrics.stop()
    assert value(after, "heat_alarming_alarms", project=project, state="alarm") == 1
    assert value(after, "heat_alarming_alarms", 0.0, project=project,
                 state="insufficient data") == 0
    assert value(after, "heat_alarming_series", project=project) == 1
    rounds = "heat_alarming_evaluation_rounds_total"
    assert value(after, rounds) == value(before, rounds) + 1
    accepted = "heat_alarming_samples_accepted_total"
    assert value(after, accepted) == value(before, accepted) + 6
    assert value(after, "heat_alarming_owned_projects") >= 1


def refused(address) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return False
    except OSError:
        return True


def test_the_runtime_serves_each_workers_metrics_while_it_runs(tmp_path):
    base = free_ports(2)
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    for name, setting in (("alarm_database", str(tmp_path / "alarms.sqlite")),
                          ("snapshot_path", str(tmp_path / "store")),
                          ("metrics_port", base)):
        conf.set_override(name, setting, opts.GROUP)
    runtimes = [Runtime(conf, join_grace=False) for _ in range(2)]
    try:
        for runtime in runtimes:
            runtime.start()
        host = socket.gethostname()
        for n, runtime in enumerate(runtimes):
            assert runtime.metrics.address == ("127.0.0.1", base + n), \
                "worker n of the host, its snapshot slot n, on metrics_port + n"
            assert scrape(runtime.metrics.address)["workers"] == {f"{host}:slot{n}"}
    finally:
        for runtime in runtimes:
            runtime.stop()
    for n in range(2):
        assert refused(("127.0.0.1", base + n)), "a stopped runtime serves no metrics"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{base}/metrics", timeout=2)
