"""Samples pushed to workers that do not own the project reach the owner's store exactly
once, even when the pushes commit to the journal in the other order than their ids."""
from __future__ import annotations

import threading

import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine.coordination import owner
from heat_alarming.metering import ManualClock, Sample
from heat_alarming.resources.runtime import Runtime
from tests.support.databases import DATABASES, database_url
from tests.support.journal_load import HeldCommit

T0 = 1_767_225_600.0
NAMES = ("w1", "w2", "w3")


# SQLite is left out: the held commit keeps its one writer's lock, so the owner's own
# heartbeat could not run while it is held (tests/unit/engine/test_journal_order.py
# covers its order)
@pytest.fixture(params=[kind for kind in DATABASES if kind != "sqlite"])
def workers(request, tmp_path):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", database_url(request.param, tmp_path, request),
                      opts.GROUP)
    clock = ManualClock(T0)
    runtimes = [Runtime(conf, clock=clock, worker_id=name, join_grace=False)
                for name in NAMES]
    yield clock, runtimes
    for runtime in runtimes:
        runtime.stop()


def test_pushes_committed_out_of_order_reach_the_owner_once(workers):
    # the owner is not the first live worker, the one that prunes: on MariaDB a prune
    # waits for the held append's row lock, as it would for any append in flight
    clock, (first_pusher, second_pusher, owning) = workers
    project = next(f"p{i}" for i in range(100) if owner(f"p{i}", NAMES) == "w3")
    owning.evaluator.define_many([{
        "alarm_id": "a", "name": "cpu", "project_id": project,
        "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                           "comparison_operator": "gt", "period": 60}}])
    for runtime in (owning, first_pusher, second_pusher):
        runtime.coordinate()
    for runtime in (owning, first_pusher, second_pusher):
        runtime.coordinate()  # every worker sees all three, and the alarm

    errors = []

    def push(runtime, value):
        try:
            runtime.push_samples(project, [Sample("cpu_util", value, f"vm-{k}",
                                                  timestamp=T0 - k) for k in range(5)])
        except Exception as exc:  # the test fails with it below
            errors.append(exc)

    with HeldCommit(first_pusher.evaluator.alarm_store.engine) as held:
        first = threading.Thread(target=push, args=(first_pusher, 90.0))
        first.start()
        assert held.holding.wait(30), "the first push reached its commit"
        second = threading.Thread(target=push, args=(second_pusher, 10.0))
        second.start()
        owning.coordinate()  # the owner tails while the first batch is uncommitted
        held.release()
        first.join(30)
        second.join(30)
    assert not errors
    owning.coordinate()
    stats = owning.store.statistics("cpu_util", period=60, start=T0 - 60, end=T0 + 60,
                                    aggregates=["count", "sum"], project_id=project)
    assert int(stats.count.sum()) == 10, "both batches, each once"
    assert float(stats.values["sum"][stats.count > 0].sum()) == 5 * 90.0 + 5 * 10.0
    assert len(first_pusher.store) == len(second_pusher.store) == 0, "they only journal"
