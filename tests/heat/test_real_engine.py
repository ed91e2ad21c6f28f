"""The real `heat-engine` command with 2 workers and the plugin in plugin_dirs.

Alarms are defined in the shared alarm database and samples are journalled all
along by a reporter thread, as pushes to any worker would journal them. Every
alarm is decided by exactly one worker (the engine's own log names the process
of each transition); after one worker is killed with SIGKILL its alarms are
decided by the live ones (heat-engine also respawns it, under a new id), and
none of them passes through insufficient data: the new owners replay the
journal before they evaluate (the committed history says so). The test waits on
the committed states in the alarm database, never on a log line. Messaging is
fake:// because the workers never call each other here; PostgreSQL holds
Heat's and the alarm database.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from heat_alarming.engine import UNKNOWN, AlarmStore, Evaluator
from heat_alarming.engine.alarm_store import STATE_TRANSITION
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


class Reporter(threading.Thread):
    """Journals one sample of ``value`` per project every 0.25 s, as the projects'
    servers would report all along, until stopped."""

    def __init__(self, journal: SampleJournal) -> None:
        super().__init__(name="reporter", daemon=True)
        self.journal, self.value = journal, 90.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            now = time.time()
            for project in PROJECTS:
                self.journal.append(project, SampleBatch.from_samples(
                    [Sample("cpu_util", self.value, "vm", project_id=project,
                            timestamp=now)], now))


def committed_states(alarms: AlarmStore) -> dict[str, str]:
    return {a.alarm_id: a.state for a in alarms.load_alarms()}


def all_in(alarms: AlarmStore, state: str) -> bool:
    states = committed_states(alarms)
    return len(states) == len(PROJECTS) and set(states.values()) == {state}


def end(engine: subprocess.Popen) -> None:
    """Stop heat-engine and every process of its group (its workers, a respawned one)."""
    try:
        os.killpg(engine.pid, signal.SIGTERM)
        engine.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(engine.pid, signal.SIGKILL)  # whatever did not stop
    except ProcessLookupError:
        pass
    if engine.poll() is None:
        engine.wait(timeout=30)


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
    reporter = Reporter(SampleJournal(alarms))
    reporter.start()
    # its own process group: the clean-up ends the workers heat-engine forks (and
    # respawns) by that group, whatever their command line says
    engine = subprocess.Popen([_bin("heat-engine"), "--config-file", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        def heartbeats():
            with alarms.engine.connect() as connection:
                return dict(connection.execute(sa.text(
                    "SELECT pid, heartbeat FROM ha_workers")).all())

        def live_workers():
            rows = [pid for pid, beat in heartbeats().items() if beat > time.time() - 2]
            return sorted(rows) if len(rows) == 2 else None

        pids = _wait(live_workers, 120, "two heat-engine workers to heartbeat")
        _wait(lambda: all_in(alarms, "alarm"), 60, "every alarm committed in alarm")
        deciders = transitions(str(log_path), "alarm")
        assert sorted(deciders) == sorted(f"alarm-{p}" for p in PROJECTS), deciders
        assert all(len(p) == 1 for p in deciders.values()), deciders
        by_worker = {pid: {a for a, p in deciders.items() if pid in p} for pid in pids}
        assert all(by_worker.values()), f"both workers own alarms: {by_worker}"
        hostname = __import__("socket").gethostname()
        for alarm_id, (pid,) in deciders.items():
            project = alarm_id[len("alarm-"):]
            assert owner(project, [f"{hostname}:{p}" for p in pids]) == f"{hostname}:{pid}"

        victim = pids[0]
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        # the survivors take the victim for dead two heartbeats after its last one
        _wait(lambda: heartbeats().get(victim, 0) < time.time() - 2.5, 30,
              "the killed worker's heartbeat to go stale")
        reporter.value = 10.0
        _wait(lambda: all_in(alarms, "ok"), 60, "every alarm committed back in ok")
        ok = transitions(str(log_path), "ok")
        orphaned = by_worker[victim]
        for alarm_id in orphaned:
            assert victim not in ok[alarm_id]
            assert len(ok[alarm_id]) == 1, ok[alarm_id]
        for alarm_id in deciders:
            recorded = [h.current for h in alarms.history(alarm_id)]
            assert "alarm" in recorded and "ok" in recorded, recorded
        for alarm_id in orphaned:
            gaps = [(h.timestamp - killed_at, h.reason) for h in alarms.history(alarm_id)
                    if h.type == STATE_TRANSITION and h.current == UNKNOWN
                    and h.timestamp >= killed_at]
            assert gaps == [], f"{alarm_id} went through insufficient data: {gaps}"
    finally:
        reporter.done.set()
        end(engine)
        reporter.join(timeout=10)
        alarms.close()
