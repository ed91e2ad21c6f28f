"""Ceilometer's samples from the bus reach the worker that owns their project.

Two heat-engine worker runtimes share one alarm database and listen in one pool
on a RabbitMQ vhost of this test; Ceilometer 27's own ``notifier://`` publisher
sends signed samples of many projects. Whichever worker takes a notification,
each project's samples end up in its owner's store, once, and in no other; a
sample signed with another secret counts nowhere. (tests/functional drives the
same path into the real ``heat-engine`` command and sees a group scale.)
"""
from __future__ import annotations

import time

import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine.coordination import owner
from heat_alarming.resources.runtime import Runtime
from tests.support.ceilometer import CeilometerPublisher, meter
from tests.support.rabbit import temporary_vhost, wait_for

SECRET = "the operator's telemetry secret"
PROJECTS = [f"project-{i}" for i in range(8)]
TOPIC = "metering"
SAMPLES_PER_PROJECT = 30


@pytest.fixture
def bus():
    with temporary_vhost("ha-ingress") as url:
        yield url


def worker(alarm_database: str, bus: str, name: str) -> Runtime:
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    for option, value in {"alarm_database": alarm_database, "heartbeat_interval": 0.5,
                          "journal_poll_interval": 0.1, "metering_listener": True,
                          "metering_transport_url": bus, "metering_topic": TOPIC,
                          "telemetry_secret": SECRET, "metering_batch_timeout": 0.1}.items():
        conf.set_override(option, value, opts.GROUP)
    return Runtime(conf, worker_id=name, join_grace=False)


def counted(runtime: Runtime, project: str, since: float) -> int:
    stats = runtime.store.statistics("cpu_util", period=60, start=since - 60,
                                     end=time.time() + 60, aggregates=("count",),
                                     project_id=project)
    return int(stats.values["count"][stats.count > 0].sum())


def test_every_project_s_samples_reach_its_owner_once_whichever_worker_takes_them(
        tmp_path, bus):
    w1 = worker(str(tmp_path / "alarms.sqlite"), bus, "w1")
    w2 = worker(str(tmp_path / "alarms.sqlite"), bus, "w2")
    runtimes = {"w1": w1, "w2": w2}
    w1.evaluator.define_many(
        {"alarm_id": f"alarm-{p}", "name": f"cpu-{p}", "project_id": p,
         "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                            "comparison_operator": "gt", "period": 60}}
        for p in PROJECTS)
    for runtime in runtimes.values():
        runtime.start()
    publisher = CeilometerPublisher(bus, TOPIC, SECRET)
    forger = CeilometerPublisher(bus, TOPIC, "not the operator's secret")
    try:
        wait_for(lambda: all(r.worker.membership.live() == ("w1", "w2")
                             for r in runtimes.values()), 20, what="both workers live")
        owners = {p: runtimes[owner(p, ["w1", "w2"])] for p in PROJECTS}
        assert set(owners.values()) == {w1, w2}, "the projects are spread over both"
        alarms = {f"alarm-{p}" for p in PROJECTS}
        wait_for(lambda: all(r.evaluator.evaluated_ids() == {
            f"alarm-{p}" for p in PROJECTS if owners[p] is r} for r in runtimes.values()),
            20, what="each worker publishing its ownership")
        assert w1.evaluator.evaluated_ids() | w2.evaluator.evaluated_ids() == alarms
        start = time.time()
        for k in range(SAMPLES_PER_PROJECT // 10):
            publisher.publish(meter(p, volume=70.0, resource_id=f"vm-{p}",
                                    timestamp=start + k)
                              for p in PROJECTS for _ in range(10))
        forger.publish(meter(p, volume=99.0, resource_id=f"vm-{p}", timestamp=start)
                       for p in PROJECTS)

        wait_for(lambda: all(counted(owners[p], p, start) == SAMPLES_PER_PROJECT
                             for p in PROJECTS), 30, what="every sample at its owner")
        wait_for(lambda: sum(r.listener.counters()["forged"] for r in runtimes.values())
                 == len(PROJECTS), 20, what="the forged samples counted")
        for p in PROJECTS:
            other = w2 if owners[p] is w1 else w1
            assert counted(owners[p], p, start) == SAMPLES_PER_PROJECT, p
            assert counted(other, p, start) == 0, f"{p}'s samples only at its owner"
        taken = [r.listener.counters()["accepted"] for r in runtimes.values()]
        assert sum(taken) == len(PROJECTS) * SAMPLES_PER_PROJECT
    finally:
        publisher.close()
        forger.close()
        for runtime in runtimes.values():
            runtime.stop()
