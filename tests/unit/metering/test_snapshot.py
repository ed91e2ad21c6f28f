"""Snapshots restore the store exactly; a torn or corrupt file never stops a restore."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from heat_alarming.metering import (
    PeriodicSnapshotter,
    RollingStore,
    Sample,
    SnapshotError,
    read_snapshot,
    restore_store,
    write_snapshot,
)

from .conftest import T0

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def populated(clock):
    store = RollingStore(10, 3600, clock=clock, raw_capacity=64)
    store.track_raw("lat")
    rng = np.random.default_rng(3)
    for i in range(400):
        store.add(Sample("cpu" if i % 2 else "lat", float(rng.uniform(0, 100)), f"vm{i % 9}",
                         project_id="p", timestamp=T0 - 3500 + i * 8,
                         resource_metadata={"metering.server_group": f"g{i % 3}"}))
    return store


def answers(store):
    out = []
    for meter, aggs in (("cpu", ["avg", "max", "std", "last"]), ("lat", ["p90", "count"])):
        stats = store.statistics(meter, period=300, start=T0 - 3600, end=T0,
                                 aggregates=aggs, matching_metadata={"server_group": "g1"})
        out.append((stats.count, stats.values))
    return out


def same(a, b):
    np.testing.assert_equal(a, b)  # NaN equals NaN here
    return True


def test_a_restored_store_answers_exactly_as_the_original(tmp_path, clock):
    store = populated(clock)
    path = str(tmp_path / "store.snap")
    write_snapshot(store, path)
    restored = restore_store(path, clock=clock)
    assert len(restored) == len(store)
    assert same(answers(restored), answers(store))
    # and it keeps working: new samples and new series go on being accepted
    restored.add(Sample("cpu", 1.0, "vm-new", timestamp=T0 - 1))
    assert len(restored) == len(store) + 1


def test_a_torn_newest_snapshot_falls_back_to_the_previous_one(tmp_path, clock):
    store = populated(clock)
    path = str(tmp_path / "store.snap")
    write_snapshot(store, path)
    expected = answers(store)
    store.add(Sample("cpu", 500.0, "vm-late", timestamp=T0 - 1,
                     resource_metadata={"metering.server_group": "g1"}))
    write_snapshot(store, path)
    assert answers(restore_store(path, clock=clock))[0][1]["max"][-1] == 500.0
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(SnapshotError, match="torn"):
        read_snapshot(path)
    restored = restore_store(path, clock=clock)
    assert same(answers(restored), expected), "the previous snapshot was used"


@pytest.mark.parametrize("damage, words", [
    (lambda data: b"garbage" + data[7:], "bad magic"),
    (lambda data: data[:-10] + bytes(10), "checksum"),
    (lambda data: data[:5], "torn"),
])
def test_damaged_files_are_named_and_skipped(tmp_path, clock, damage, words):
    path = str(tmp_path / "store.snap")
    write_snapshot(populated(clock), path)
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(damage(data))
    with pytest.raises(SnapshotError, match=words):
        read_snapshot(path)
    assert restore_store(path, clock=clock) is None, "no usable snapshot: start empty"


def test_periodic_snapshots_run_and_stop_takes_a_last_one(tmp_path, clock):
    store = populated(clock)
    path = str(tmp_path / "store.snap")
    taken = []
    snapshotter = PeriodicSnapshotter(store, path, interval=0.05,
                                      on_snapshot=taken.append).start()
    deadline = time.monotonic() + 10
    while len(taken) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.add(Sample("cpu", 1.0, "vm-final", timestamp=T0 - 1))
    snapshotter.stop()
    assert len(taken) >= 3
    assert len(restore_store(path, clock=clock)) == len(store)


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from heat_alarming.metering import RollingStore, write_snapshot
    path = sys.argv[1]
    store = RollingStore(10, 3600)
    rows = np.array([store.series_id("cpu", f"vm{i}") for i in range(3000)])
    total = 0
    while True:
        now = time.time()
        store.ingest_arrays(rows, np.full(rows.size, now - 1.0), np.ones(rows.size))
        total += rows.size
        write_snapshot(store, path)
        print(total, flush=True)
""")


def test_sigkill_loses_at_most_the_last_interval_and_restore_never_fails(tmp_path):
    path = str(tmp_path / "store.snap")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE,
                             text=True, env=env)
    reported = []
    try:
        while len(reported) < 4:
            line = child.stdout.readline()
            assert line, "the child died before it was killed"
            reported.append(int(line))
        time.sleep(0.013)  # land the kill somewhere inside the next write
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    restored = restore_store(path)
    assert restored is not None
    stats = restored.statistics("cpu", period=3600, start=time.time() - 3600,
                                end=time.time() + 10, aggregates=["count"])
    total = int(stats.count.sum())
    assert total >= reported[-1], "a completed snapshot was lost"
    assert total <= reported[-1] + 3000, "more than one interval appeared from nowhere"
    assert total % 3000 == 0, "a snapshot holds whole batches only"
