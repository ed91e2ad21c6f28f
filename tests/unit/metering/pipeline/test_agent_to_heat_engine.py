"""The example pipeline file, end to end, with real parts only.

``heat-alarming agent`` runs ``etc/pipeline.yaml`` against the real Prometheus
(scraping the real node exporter; tests/support/prometheus.py), publishes with
``notifier://`` over the real RabbitMQ (a vhost of this module), and heat-engine's
own :class:`~heat_alarming.engine.listener.MeteringListener`, with a telemetry
secret (so every signature is checked), delivers the samples; the tests wait on
those deliveries and the listener's counters, the committed facts.

The file under test is the example itself, loaded and changed in three values
only: the Prometheus URL (this machine's test server), every query's project (the
example's placeholder) and the broker (the ``--config-file``'s transport_url, as
an operator gives it; the publisher URL stays the example's).

The agent runs as its own process, the command an operator runs: it loads its
``--config-file`` into the process-wide ``cfg.CONF`` and picks oslo.service's
backend when oslo.messaging is first imported, both once per process, and as a
service it installs SIGTERM/SIGINT handlers, which only a main thread may do.

``rate_of_change`` needs two polls of the cumulative ``cpu`` for a rate, and its
state lives in the process: one ``--once`` (or any number of them, each a new
process) delivers ``memory_util`` but never ``cpu_util``.  The service, as systemd
runs it, delivers both from its second poll on.
"""
from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid

import numpy as np
import pytest
import yaml

from tests.support import rabbit
from tests.support.metering_listener import running_listener, wait_counts

ROOT = pathlib.Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "etc" / "pipeline.yaml"
SECRET = "agent-e2e-telemetry-secret"
#: seconds the agent's process may take to start, poll once and publish on this
#: shared machine (beyond the example's interval where it waits for a second poll)
STARTUP = 60.0
#: how far the agent's memory_util may be from Prometheus's own answer: the agent
#: divides MB (bytes / 1048576) by MB, the test bytes by bytes, so only float rounding
#: (about 1e-15 relative) separates two computations of one scrape
ROUNDING = 1e-9
DROPPED = ("forged", "unsigned", "no_project", "invalid", "oversized", "requeued")


@pytest.fixture(scope="module")
def broker():
    with rabbit.temporary_vhost("ha-agent-e2e") as url:
        yield url


@pytest.fixture
def project():
    return f"project-{uuid.uuid4().hex}"


@pytest.fixture
def example(tmp_path, prometheus, broker, project):
    """The example file, pointed at the test Prometheus with ``project`` for every
    query, and the agent's --config-file (the broker and heat-engine's secret):
    ``(pipeline path, config path, topic, interval)``."""
    prometheus.wait_for(f'up{{instance="{prometheus.node_instance}"}}', 1.0)
    definition = yaml.safe_load(EXAMPLE.read_text())
    (source,) = definition["sources"]
    source["parameters"]["url"] = prometheus.url
    for query in source["parameters"]["queries"].values():
        assert query["project"] == "REPLACE-WITH-THE-PROJECT-ID", "the example's placeholder"
        query["project"] = project
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(definition, sort_keys=False))
    conf = tmp_path / "agent.conf"
    conf.write_text(f"[oslo_messaging_notifications]\ntransport_url = {broker}\n"
                    f"[heat_alarming]\ntelemetry_secret = {SECRET}\n")
    (publisher,) = definition["sinks"][0]["publishers"]
    topic = urllib.parse.parse_qs(urllib.parse.urlsplit(publisher).query)["topic"][0]
    return pipeline, conf, topic, source["interval"]


def command(conf: pathlib.Path, pipeline: pathlib.Path, *mode: str) -> list[str]:
    """``heat-alarming --config-file CONF agent --pipeline FILE [mode]``: the venv's
    console script (this tree's package comes first on PYTHONPATH)."""
    script = pathlib.Path(sys.executable).with_name("heat-alarming")
    start = [str(script)] if script.exists() else [sys.executable, "-m", "heat_alarming.cli"]
    return start + ["--config-file", str(conf), "agent", "--pipeline", str(pipeline), *mode]


def environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)


def memory_util_answers(prometheus, instance: str, at: float) -> list[float]:
    """100 * used / total as Prometheus answers it for the scrapes of the seconds up
    to ``at``: a query at ``at`` gives the newest scrape stored by then, and one
    stamped just before ``at`` may have been stored after the agent asked."""
    selector = f'{{instance="{instance}"}}'
    promql = (f"100 * (node_memory_MemTotal_bytes{selector} - node_memory_MemAvailable_bytes"
              f"{selector}) / node_memory_MemTotal_bytes{selector}")
    client = prometheus.client(timeout=10.0)
    try:
        (answer,) = client.query_range(promql, at - 5.0, at, 0.25)
    finally:
        client.close()
    return answer.values.tolist()


def cores(prometheus, instance: str) -> int:
    client = prometheus.client(timeout=10.0)
    try:
        (answer,) = client.query(f'count(node_cpu_seconds_total{{mode="idle",'
                                 f'instance="{instance}"}})')
    finally:
        client.close()
    return int(answer.value)


def assert_memory_util_is_prometheus_own(prometheus, samples, project):
    for sample in samples:
        assert (sample.project_id, sample.unit, sample.type) == (project, "%", "gauge")
        answers = memory_util_answers(prometheus, sample.resource_id, sample.timestamp)
        assert any(abs(sample.volume - a) <= ROUNDING * a for a in answers), \
            (sample.volume, answers)


def test_the_example_run_as_a_service_delivers_cpu_util_and_memory_util_to_the_project(
        prometheus, broker, project, example):
    pipeline, conf, topic, interval = example
    instance = prometheus.node_instance
    name = f"heat-alarming-e2e-{uuid.uuid4().hex}"
    with running_listener(broker, topic, SECRET) as listener, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + name)
        notify.settimeout(STARTUP)
        agent = subprocess.Popen(command(conf, pipeline), env=environment(
            NOTIFY_SOCKET="@" + name), cwd=pipeline.parent, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            assert notify.recv(64) == b"READY=1"
            # the first poll gives memory_util, the second (interval s later) cpu_util
            got = listener.deliveries.wait_for(["cpu_util", "memory_util"], project,
                                               deadline=interval + STARTUP)
            agent.send_signal(signal.SIGTERM)  # as systemd stops it
            _, err = agent.communicate(timeout=STARTUP)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.communicate()
        counts = listener.counters()
    assert agent.returncode == 0, err
    assert "Traceback" not in err
    assert {k: counts[k] for k in DROPPED} == dict.fromkeys(DROPPED, 0), \
        "every sample signed with the secret, with its project"
    assert counts["accepted"] == len(listener.deliveries.samples)
    assert set(listener.deliveries.projects) == {project}
    assert {s.resource_id for s in listener.deliveries.samples} == {instance}
    limit = 100.0 * cores(prometheus, instance)
    for sample in got["cpu_util"]:
        assert (sample.project_id, sample.unit, sample.type) == (project, "%", "gauge")
        assert 0.0 <= sample.volume <= limit, (sample.volume, limit)
    assert_memory_util_is_prometheus_own(prometheus, got["memory_util"], project)
    assert {s.name for s in listener.deliveries.samples} == {
        "cpu_util", "memory_util", "memory", "memory.usage"}, \
        "rate_of_change replaces cpu (keep_source: false); memory_util keeps its sources"


def test_once_delivers_memory_util_and_never_cpu_util_since_each_run_polls_once(
        prometheus, broker, project, example):
    pipeline, conf, topic, _ = example
    with running_listener(broker, topic, SECRET) as listener:
        published = 0
        for _ in range(2):  # a second process starts without the first one's state
            done = subprocess.run(command(conf, pipeline, "--once"), env=environment(),
                                  cwd=pipeline.parent, capture_output=True, text=True,
                                  timeout=STARTUP)
            assert done.returncode == 0, done.stderr
            found = re.search(r"polled 1 source: 3 samples, (\d+) published$",
                              done.stdout.strip())
            assert found, done.stdout
            published += int(found.group(1))
            counts = wait_counts(listener, accepted=published)
    assert published == 6, "memory, memory.usage and memory_util, twice"
    assert counts["received"] == counts["accepted"] == published
    assert listener.deliveries.named("cpu_util") == [], \
        "one poll per process: rate_of_change has no earlier cpu to take a rate from"
    samples = listener.deliveries.named("memory_util", project)
    assert len(samples) == 2
    assert {s.resource_id for s in samples} == {prometheus.node_instance}
    assert_memory_util_is_prometheus_own(prometheus, samples, project)


def test_without_a_project_the_agent_leaves_the_samples_out_and_says_why(
        prometheus, broker, example, project):
    """heat-engine's listener drops samples without a project (an alarm is a project's):
    the agent's notifier:// leaves them out itself and logs the fix, instead of sending
    what nobody will read."""
    from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
    from heat_alarming.metering.pipeline.publishers import NotifierPublisher

    pipeline, conf, topic, _ = example
    definition = yaml.safe_load(pipeline.read_text())
    for query in definition["sources"][0]["parameters"]["queries"].values():
        del query["project"]  # the example before it named one
    pipeline.write_text(yaml.safe_dump(definition, sort_keys=False))
    with running_listener(broker, topic, SECRET) as listener:
        done = subprocess.run(command(conf, pipeline, "--once"), env=environment(),
                              cwd=pipeline.parent, capture_output=True, text=True,
                              timeout=STARTUP)
        assert done.returncode == 0, done.stderr
        assert "without a project" in done.stderr and "project_label" in done.stderr
        # a sentinel sent after the agent ended: once it is in, anything the agent had
        # sent before it on the same queue would be in too
        sentinel = NotifierPublisher("notifier://", {"transport_url": broker, "topic": topic,
                                                     "telemetry_secret": SECRET})
        try:
            series = (SeriesDescriptor("sentinel", "r", project, "gauge", "", None, "test",
                                       {}),)
            sentinel.publish(SampleBatch(series, np.zeros(1, np.uint32), np.ones(1),
                                         np.array([time.time()])))
        finally:
            sentinel.close()
        counts = wait_counts(listener, received=1)
    assert counts["received"] == 1 and counts["no_project"] == 0
    assert [s.name for s in listener.deliveries.samples] == ["sentinel"]
