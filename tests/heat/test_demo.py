"""`heat-alarming demo`, the README's first command, tells what the engine did.

The demo runs as a user runs it (the installed command, in its own process)
on its default compressed clock, keeps its databases, and this test then
reads Heat's and the alarm store's own tables: the evaluator took the group
out and back in through the policies, and the group ended at its minimum.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys


def _command() -> list[str]:
    installed = shutil.which("heat-alarming", path=os.path.dirname(sys.executable))
    return [installed] if installed else [sys.executable, "-m", "heat_alarming.cli"]


def _signal_reasons(heat_db: str, policy: str) -> list[str]:
    with sqlite3.connect(heat_db) as db:
        return [row[0] for row in db.execute(
            "SELECT resource_status_reason FROM event WHERE resource_name = ? AND "
            "resource_action = 'SIGNAL' ORDER BY id", (policy,))]


def _group_members(heat_db: str) -> int:
    with sqlite3.connect(heat_db) as db:
        return db.execute(
            "SELECT count(*) FROM resource r JOIN stack s ON r.stack_id = s.id "
            "JOIN stack top ON s.owner_id = top.id WHERE top.name = 'autoscaling-demo' "
            "AND r.action != 'DELETE'").fetchone()[0]


def _members_ever_created(heat_db: str) -> int:
    with sqlite3.connect(heat_db) as db:
        return db.execute(
            "SELECT count(DISTINCT e.resource_name) FROM event e JOIN stack s "
            "ON e.stack_id = s.id JOIN stack top ON s.owner_id = top.id "
            "WHERE top.name = 'autoscaling-demo' AND e.resource_action = 'CREATE' "
            "AND e.resource_status = 'COMPLETE'").fetchone()[0]


def _transitions(alarm_db: str, alarm_name: str) -> list[tuple[str, str]]:
    with sqlite3.connect(alarm_db) as db:
        return db.execute(
            "SELECT h.previous, h.current FROM ha_alarm_history h JOIN ha_alarms a "
            "ON h.alarm_id = a.alarm_id WHERE a.name LIKE ? AND h.type = 'state transition' "
            "ORDER BY h.timestamp", (f"%{alarm_name}%",)).fetchall()


def test_the_demo_scales_the_group_out_and_back_in(tmp_path):
    workdir, plot = tmp_path / "demo", tmp_path / "demo.png"
    done = subprocess.run(_command() + ["demo", "--workdir", str(workdir), "--keep",
                                        "--plot", str(plot)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    heat_db, alarm_db = str(workdir / "heat.sqlite"), str(workdir / "alarms.sqlite")

    # the evaluator's decisions, from the alarm store
    assert ("ok", "alarm") in _transitions(alarm_db, "cpu_alarm_high") or \
        ("insufficient data", "alarm") in _transitions(alarm_db, "cpu_alarm_high")
    assert ("alarm", "ok") in _transitions(alarm_db, "cpu_alarm_high")
    assert ("ok", "alarm") in _transitions(alarm_db, "cpu_alarm_low")

    # Heat's own events: the policies were signalled with the alarm's details
    ups, downs = _signal_reasons(heat_db, "scale_up"), _signal_reasons(heat_db, "scale_down")
    assert ups and all("to alarm" in reason for reason in ups)
    assert downs and all("to alarm" in reason for reason in downs)

    # the group grew (members were created beyond the first) and came back to one
    assert _members_ever_created(heat_db) >= 2
    assert _group_members(heat_db) == 1
    assert ", 1 at the end" in out and "summary, read from the engine's records" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
