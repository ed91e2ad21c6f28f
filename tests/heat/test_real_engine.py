"""The real `heat-engine` command with 2 workers and the plugin in plugin_dirs.

Alarms are defined in the shared alarm database, samples are journalled as
a push to any worker would journal them, and the engine's own log says
which worker process decided each transition: every alarm is decided by
exactly one worker, and after one worker is killed with SIGKILL its alarms
are decided by the live ones. Messaging is fake:// because the workers
never call each other here; PostgreSQL holds Heat's and the alarm database.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.engine.coordination import owner
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering import RollingStore, Sample
from heat_alarming.metering.batch import SampleBatch
from tests.support.databases import temporary_database

PROJECTS = [f"proj-{i}" for i in range(12)]
TRANSITION = re.compile(r"^\S+ \S+ (\d+) INFO heat_alarming\.engine\.evaluator \[.*?\] Alarm "
                        r"(\S+) \((\S+)\) transitioning to (alarm|ok) ")


def _bin(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    assert found, f"{name} is installed with openstack-heat / heat-alarming"
    return found


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def databases(postgres_server):
    with temporary_database(postgres_server, "ha_real_heat") as heat, \
            temporary_database(postgres_server, "ha_real_alarm") as alarm:
        yield heat, alarm


def transitions(log_path: str, state: str) -> dict[str, set[int]]:
    """alarm id -> pids of the workers that logged a transition to ``state``."""
    found: dict[str, set[int]] = {}
    with open(log_path) as handle:
        for line in handle:
            match = TRANSITION.match(line)
            if match and match.group(4) == state:
                found.setdefault(match.group(3), set()).add(int(match.group(1)))
    return found


def push(journal: SampleJournal, value: float) -> None:
    now = time.time()
    for project in PROJECTS:
        journal.append(project, SampleBatch.from_samples(
            [Sample("cpu_util", value, "vm", project_id=project, timestamp=now - k * 0.25)
             for k in range(12)], now))


def test_two_real_workers_split_the_alarms_and_take_over_from_a_killed_one(
        tmp_path, databases):
    heat_db, alarm_db = databases
    plugins, env_dir = tmp_path / "plugins", tmp_path / "environment.d"
    env_dir.mkdir()
    log_path = tmp_path / "engine.log"
    conf = tmp_path / "heat.conf"
    conf.write_text(f"""[DEFAULT]
transport_url = fake://
num_engine_workers = 2
plugin_dirs = {plugins}
environment_dir = {env_dir}
log_file = {log_path}
[database]
connection = {heat_db}
[heat_alarming]
alarm_database = {alarm_db}
store_resolution = 1
store_retention = 600
evaluation_interval = 1
period_close_delay = 0.1
heartbeat_interval = 1
journal_poll_interval = 0.2
""")
    subprocess.run([_bin("heat-manage"), "--config-file", str(conf), "db_sync"], check=True,
                   capture_output=True, timeout=300)
    subprocess.run([_bin("heat-alarming"), "install-plugin", "--heat-conf", str(conf)],
                   check=True, capture_output=True, timeout=120)
    alarms = AlarmStore(alarm_db)
    Evaluator(RollingStore(1, 600), alarms).define_many(
        {"alarm_id": f"alarm-{p}", "name": f"cpu-{p}", "project_id": p,
         "alarm_actions": ["log://"], "ok_actions": ["log://"],
         "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                            "comparison_operator": "gt", "period": 2}}
        for p in PROJECTS)
    journal = SampleJournal(alarms)
    engine = subprocess.Popen([_bin("heat-engine"), "--config-file", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def live_workers():
            with alarms.engine.connect() as connection:
                rows = connection.execute(sa.text(
                    "SELECT pid FROM ha_workers WHERE heartbeat > :t"),
                    {"t": time.time() - 2}).scalars().all()
            return sorted(rows) if len(rows) == 2 else None

        pids = _wait(live_workers, 120, "two heat-engine workers to heartbeat")
        time.sleep(3)  # the joining grace: two heartbeats
        push(journal, 90.0)
        deciders = _wait(lambda: (lambda t: t if len(t) == len(PROJECTS) else None)(
            transitions(str(log_path), "alarm")), 60, "every alarm to go to alarm")
        assert all(len(p) == 1 for p in deciders.values()), deciders
        by_worker = {pid: {a for a, p in deciders.items() if pid in p} for pid in pids}
        assert all(by_worker.values()), f"both workers own alarms: {by_worker}"
        hostname = __import__("socket").gethostname()
        for alarm_id, (pid,) in deciders.items():
            project = alarm_id[len("alarm-"):]
            assert owner(project, [f"{hostname}:{p}" for p in pids]) == f"{hostname}:{pid}"

        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(3)  # two heartbeats for the survivors to see it gone
        push(journal, 10.0)
        ok = _wait(lambda: (lambda t: t if len(t) == len(PROJECTS) else None)(
            transitions(str(log_path), "ok")), 60, "every alarm to go back to ok")
        orphaned = by_worker[victim]
        for alarm_id in orphaned:
            assert victim not in ok[alarm_id]
            assert len(ok[alarm_id]) == 1, ok[alarm_id]
        for alarm_id in deciders:
            recorded = [h.current for h in alarms.history(alarm_id)]
            assert "alarm" in recorded and "ok" in recorded, recorded
    finally:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.kill()
            engine.wait()
        subprocess.run(["pkill", "-9", "-f", f"--config-file {conf}"], check=False)
        alarms.close()
