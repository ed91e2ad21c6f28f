"""heat-engine workers snapshot their stores and restore them on start, never counting a
sample twice against the journal that also holds it; a damaged snapshot never stops one.

Runtimes are built as heat-engine builds them (heat_alarming.resources.runtime.Runtime
from [heat_alarming] options), with a manual clock, on SQLite and PostgreSQL. A crash
after a snapshot is stood for by putting that snapshot's file back in place after the
worker stopped (the file on disk is then exactly what a SIGKILL would have left).
"""
from __future__ import annotations

import logging
import os
import shutil
import time

import numpy as np
import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.metering import ManualClock, RollingStore, Sample, write_snapshot
from heat_alarming.resources.runtime import Runtime
from tests.support.databases import DATABASES, database_url

T0 = 1_767_225_600.0
PROJECT = "p1"
ALARM = {"alarm_id": "alarm-sum", "name": "sum-high", "project_id": PROJECT,
         # 3 samples of 30 a period: a sum of 90 is ok; counted twice (180) it alarms
         "threshold_rule": {"meter_name": "cpu_util", "statistic": "sum", "threshold": 100,
                            "comparison_operator": "gt", "period": 60,
                            "evaluation_periods": 3}}


@pytest.fixture(params=DATABASES)
def conf(request, tmp_path):
    database = database_url(request.param, tmp_path, request)
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", database, opts.GROUP)
    conf.set_override("snapshot_path", str(tmp_path / "snapshots" / "store"), opts.GROUP)
    conf.set_override("snapshot_interval", 1, opts.GROUP)
    return conf


@pytest.fixture
def clock():
    return ManualClock(T0)


def worker(conf, clock):
    runtime = Runtime(conf, clock=clock, join_grace=False)
    runtime.coordinate()
    return runtime


def push_period(runtime, index: int) -> None:
    start = T0 + index * 60
    runtime.push_samples(PROJECT, [Sample("cpu_util", 30.0, "vm-1", timestamp=start + s)
                                   for s in (5, 25, 45)])


def sums(runtime) -> list:
    stats = runtime.store.statistics("cpu_util", period=60, start=T0, end=T0 + 180,
                                     aggregates=["sum", "count"], project_id=PROJECT)
    return [stats.count.tolist(), stats.values["sum"].tolist()]


def test_a_restarted_worker_restores_its_snapshot_plus_the_journal_after_it(conf, clock,
                                                                           caplog):
    first = worker(conf, clock)
    first.evaluator.define(ALARM)
    first.coordinate()
    push_period(first, 0)
    push_period(first, 1)
    first.coordinate()
    assert first.snapshot() > 0
    taken = first.snapshot_path + ".crash"
    shutil.copyfile(first.snapshot_path, taken)       # what is on disk at the crash
    push_period(first, 2)                             # after the snapshot: journal only
    first.coordinate()
    clock.set(T0 + 180.5)
    assert [t["current"] for t in first.evaluator.evaluate()] == ["ok"]
    expected = sums(first)
    assert expected == [[3, 3, 3], [90.0, 90.0, 90.0]]
    first.stop()
    os.replace(taken, first.snapshot_path)

    with caplog.at_level(logging.INFO):
        again = worker(conf, clock)
    assert again.snapshot_path == first.snapshot_path, "the freed slot is taken again"
    assert f"Restored a store of 1 series from {again.snapshot_path}" in caplog.text
    assert sums(again) == expected, "the journal added only what came after the snapshot"
    assert again.evaluator.evaluate(T0 + 180.5) == [], "it decides as before: still ok"
    assert again.evaluator.get("alarm-sum").state == "ok"
    again.stop()


def test_the_shutdown_snapshot_holds_everything_and_nothing_twice(conf, clock, caplog):
    first = worker(conf, clock)
    first.evaluator.define(ALARM)
    first.coordinate()
    for index in range(3):
        push_period(first, index)
    first.coordinate()
    expected = sums(first)
    first.stop()
    assert os.path.exists(first.snapshot_path), "stop() wrote the shutdown snapshot"
    with caplog.at_level(logging.INFO):
        again = worker(conf, clock)
    assert f"Restored a store of 1 series from {first.snapshot_path}" in caplog.text
    assert sums(again) == expected
    again.stop()


def test_workers_sharing_one_configuration_write_a_file_each(conf, clock):
    one, two = worker(conf, clock), worker(conf, clock)
    try:
        assert one.snapshot_path != two.snapshot_path
        assert one.worker.worker_id != two.worker.worker_id
        one.snapshot()
        two.snapshot()
        assert os.path.exists(one.snapshot_path) and os.path.exists(two.snapshot_path)
    finally:
        one.stop()
        two.stop()


def snapshot_on_disk(conf, runtime, clock):
    """(samples counted per period, the file's mtime) of the worker's snapshot file, or
    None while there is none."""
    if not os.path.exists(runtime.snapshot_path):
        return None
    mtime = os.stat(runtime.snapshot_path).st_mtime_ns
    store, _ = opts.restore_from_conf(conf, runtime.snapshot_path, clock)
    stats = store.statistics("cpu_util", period=60, start=T0, end=T0 + 180,
                             aggregates=["count"], project_id=PROJECT)
    return stats.count.tolist(), mtime


def wait_for(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:g} s")


def test_snapshots_are_taken_every_snapshot_interval_by_a_started_worker(conf, clock):
    """snapshot_interval 1: while the worker runs (no stop, which snapshots anyway), its
    file is rewritten, and a later snapshot holds the samples pushed after an earlier
    one."""
    runtime = worker(conf, clock)
    runtime.evaluator.define(ALARM)
    runtime.start()
    try:
        def snapshot_holding_period(index):
            found = snapshot_on_disk(conf, runtime, clock)
            return found if found and found[0][index] == 3 else None

        push_period(runtime, 0)
        first = wait_for(lambda: snapshot_holding_period(0), "no snapshot of the first period")
        push_period(runtime, 1)
        later = wait_for(lambda: snapshot_holding_period(1), "no snapshot of the second period")
        assert later[1] > first[1], "the file was written again"
        assert later[0] == [3, 3, 0] and first[0][0] == 3
    finally:
        runtime.stop()


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00not a snapshot at all" * 10,
    "flipped byte": lambda data: data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_snapshot_is_refused_with_a_clear_log_and_the_worker_runs(
        conf, clock, caplog, damage):
    first = worker(conf, clock)
    first.evaluator.define(ALARM)
    first.coordinate()
    for index in range(3):
        push_period(first, index)
    first.coordinate()
    expected = sums(first)
    first.stop()
    with open(first.snapshot_path, "rb") as handle:
        data = handle.read()
    with open(first.snapshot_path, "wb") as handle:
        handle.write(DAMAGE[damage](data))
    if os.path.exists(first.snapshot_path + ".prev"):
        os.remove(first.snapshot_path + ".prev")
    with caplog.at_level(logging.WARNING):
        again = worker(conf, clock)
    assert any("Skipping snapshot" in r.getMessage() and first.snapshot_path
               in r.getMessage() for r in caplog.records), caplog.text
    assert sums(again) == expected, "the windows were rebuilt from the journal alone"
    assert [t["current"] for t in again.evaluator.evaluate(T0 + 180.5)] == ["ok"]
    again.stop()


def test_a_snapshot_without_its_journal_position_is_not_restored(conf, clock, caplog):
    first = worker(conf, clock)
    first.evaluator.define(ALARM)
    first.coordinate()
    for index in range(3):
        push_period(first, index)
    first.coordinate()
    expected = sums(first)
    path = first.snapshot_path
    first.stop()
    # a store snapshot that does not say which journal batches it holds (written by
    # hand, or by an older version): restored as is, the journal would count it twice
    lone = RollingStore(10, 3600, clock=clock)
    lone.ingest_arrays(np.array([lone.series_id("cpu_util", "vm-1", PROJECT)]),
                       np.array([T0 + 5.0]), np.array([30.0]))
    write_snapshot(lone, path)
    with caplog.at_level(logging.WARNING):
        again = worker(conf, clock)
    assert "no usable journal position" in caplog.text
    assert sums(again) == expected
    again.stop()


@pytest.mark.parametrize("option,value", [("raw_samples_per_series", 64),
                                          ("store_retention", 1800)])
def test_a_snapshot_of_other_array_settings_is_not_restored(tmp_path, caplog, option,
                                                            value):
    """Settings that an operator changes take effect on workers with snapshots too: a
    snapshot of other buckets or raw rings is set aside (the journal rebuilds); one of
    another clock skew is re-placed in a ring sized for the new skew
    (tests/security/test_store_window.py)."""
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    path = str(tmp_path / "store")
    store = opts.store_from_conf(conf, ManualClock(T0))
    store.add(Sample("cpu_util", 1.0, "vm-1", timestamp=T0 - 10))
    write_snapshot(store, path, {"journal_position": 0})
    conf.set_override(option, value, opts.GROUP)
    with caplog.at_level(logging.WARNING):
        assert opts.restore_from_conf(conf, path, ManualClock(T0)) is None
    assert f"{option} " in caplog.text and "starting with an empty store" in caplog.text


def test_a_restored_snapshot_takes_the_configured_metadata_bound(tmp_path):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    path = str(tmp_path / "store")
    store = opts.store_from_conf(conf, ManualClock(T0))
    store.add(Sample("cpu_util", 1.0, "vm-1", timestamp=T0 - 10))
    write_snapshot(store, path, {"journal_position": 0})
    conf.set_override("max_metadata_bytes", 16, opts.GROUP)
    restored, _ = opts.restore_from_conf(conf, path, ManualClock(T0))
    assert len(restored) == 1
    with pytest.raises(ValueError, match="larger than 16 bytes"):
        restored.add(Sample("cpu_util", 1.0, "vm-2", timestamp=T0,
                            resource_metadata={"note": "x" * 40}))
