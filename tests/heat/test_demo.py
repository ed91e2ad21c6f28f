"""`heat-alarming demo`, the README's first command, tells what the engine did.

The demo runs as a user runs it (the command, in its own process) on its default
compressed clock, keeps its databases, and this test then reads Heat's and the
alarm store's own tables: the evaluator took the group out and back in through
the policies, and the group ended at its minimum.

A demo that cannot run says why in one line on stderr: a refused argument or a
template that does not parse before any engine starts, Heat's own message for a
template it refuses, and Heat's reason for a stack that failed, with the engine's
log kept.
"""
from __future__ import annotations

import csv
import json
import re
import sqlite3
import sys

import pytest

from heat_alarming import cli
from heat_alarming.shipped import template_dir, template_path
from tests.support.commands import run_command


def _template(name: str) -> str:
    with open(template_path(name)) as handle:
        return handle.read()


TEMPLATE = _template("hot-autoscaling.yaml")


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


def _dropped_by_why(alarm_db: str) -> dict[str, dict[str, int]]:
    """Per policy, the signals Heat dropped, by the ``why`` the alarms' history records."""
    rows = sqlite3.connect(alarm_db).execute(
        "SELECT reason_data FROM ha_alarm_history WHERE type = 'action'").fetchall()
    found: dict[str, dict[str, int]] = {}
    for (data,) in rows:
        data = json.loads(data)
        if data.get("outcome") == "ignored":
            policy = data["action"].rsplit("/", 1)[-1]
            found.setdefault(policy, {}).setdefault(data["why"], 0)
            found[policy][data["why"]] += 1
    return found


DROPPED_WORDS = {"cooldown": "in a cooldown", "scaling_in_progress": "during a resize",
                 "no_change": "with the group at its size limit"}


def test_the_demo_scales_the_group_out_and_back_in(tmp_path):
    workdir, plot = tmp_path / "demo", tmp_path / "demo.png"
    done = run_command(["demo", "--workdir", str(workdir), "--keep", "--plot", str(plot)],
                       timeout=300)
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
    # the summary says why Heat dropped each signal it dropped, as the history records
    dropped = _dropped_by_why(alarm_db)
    assert dropped, "repeat_actions signals again within the cooldown: Heat drops some"
    for policy, by_why in dropped.items():
        said = re.search(rf"  {policy}: .* Heat dropped (\d+) of those \((.*)\)\n", out)
        assert said, out
        assert int(said[1]) == sum(by_why.values())
        assert sorted(said[2].split(", ")) == sorted(
            f"{count} {DROPPED_WORDS[why]}" for why, count in by_why.items())
    # the legend above the table labels the thresholds
    assert ("thresholds: cpu_alarm_low: avg cpu_util < 15 for 2 periods; "
            "cpu_alarm_high: avg cpu_util > 50 for 2 periods\n") in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def settled_run(tmp_path_factory):
    """3 periods with --settle and --record: (the record directory, the run, stdout)."""
    record = tmp_path_factory.mktemp("recorded")
    done = run_command(["demo", "--periods", "3", "--speed", "6000", "--settle",
                        "--record", str(record), "--workdir", str(record / "work")],
                       timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return record, json.loads((record / "periods.json").read_text()), done.stdout


def test_a_recorded_run_holds_every_sample_pushed_and_every_period_seen(settled_run):
    record, run, out = settled_run
    start, stack_id = run["start"], run["stack_id"]
    assert start % 60 == 0 and run["period"] == 60 and run["settle"] is True
    assert run["metadata"] == {"user_metadata.server_group": stack_id}

    # one member pushes in periods 1 and 2; the group is 2 after the close of period 2
    # (cpu_alarm_high has 2 periods above 50%), so period 3 has two members: 6 + 6 + 12
    with open(record / "samples.csv", newline="") as handle:
        samples = list(csv.DictReader(handle))
    assert list(samples[0]) == ["timestamp", "meter", "value", "resource_id",
                                "metadata.user_metadata.server_group"]
    assert len(samples) == 24 and "24 samples in 18 signals" in out
    assert {s["meter"] for s in samples} == {"cpu_util"}
    assert {s["metadata.user_metadata.server_group"] for s in samples} == {stack_id}
    assert [s["resource_id"] for s in samples[-2:]] == ["member-0", "member-1"]
    assert float(samples[0]["timestamp"]) == start + 5  # the middle of the first step
    with open(record / "demand.csv", newline="") as handle:
        demand = list(csv.DictReader(handle))
    assert [float(d["timestamp"]) for d in demand] == [start + 5 + 10 * k for k in range(18)]
    assert float(demand[0]["demand"]) == 25.0  # the profile's base

    periods = run["periods"]
    assert [(p["start"], p["end"]) for p in periods] == [
        (start, start + 60), (start + 60, start + 120), (start + 120, start + 180)]
    assert [p["states"]["cpu_alarm_high"] for p in periods] == [
        "insufficient data", "alarm", "alarm"]
    # each period's value is the mean of its samples, read back exactly
    for period in periods:
        inside = [float(s["value"]) for s in samples
                  if period["start"] <= float(s["timestamp"]) < period["end"]]
        assert sum(inside) / len(inside) == pytest.approx(period["value"], rel=1e-12)
    # the row's words, the timeline's (at the same time: in the alarms' order)
    assert periods[1]["events"] == ["cpu_alarm_high -> alarm", "cpu_alarm_low -> ok",
                                    "scale_up signalled"]
    assert (record / "template.yaml").read_text() == TEMPLATE
    assert json.loads((record / "parameters.json").read_text()) == {"cooldown": 0,
                                                                    "period": 60}


def test_with_settle_a_resize_takes_no_simulated_time_and_the_close_counts_it(settled_run):
    _, run, _ = settled_run
    start, periods = run["start"], run["periods"]
    # Heat answered each close's signal at the close itself, on the demo's clock ...
    assert [[(a["target"], a["outcome"], a["sent"], a["done"]) for a in p["actions"]]
            for p in periods] == [
        [], [("scale_up", "signalled", start + 120, start + 120)],
        [("scale_up", "signalled", start + 180, start + 180)]]
    # ... so the size read at a close already has the member that close asked for
    assert [p["size"] for p in periods] == [1, 2, 3] and run["final_size"] == 3
    assert run["after"] == []  # nothing was left to come in after the last period


def _edited(old: str, new: str) -> str:
    """The default template with its first ``old`` replaced by ``new``."""
    assert old in TEMPLATE
    return TEMPLATE.replace(old, new, 1)


def _error_line(captured: str) -> str:
    assert captured.count("\n") == 1, captured  # one line, and nothing else
    return captured


@pytest.mark.parametrize("argv, error", [
    (["--speed", "0"], "--speed must be positive"),
    (["--period", "65"], "--period must be a positive multiple of the store resolution (10 s)"),
    (["--periods", "0"], "--periods must be positive"),
    (["--template", "no-such.yaml"],
     f"--template: no-such.yaml: no such file here or in {template_dir()}"),
    (["--record", "/dev/null/run"], "--record: cannot create /dev/null/run: Not a directory"),
])
def test_a_refused_argument_is_one_line_and_status_2(capsys, argv, error):
    assert cli.main(["demo", *argv]) == 2
    captured = capsys.readouterr()
    assert _error_line(captured.err) == f"heat-alarming demo: error: {error}\n"
    assert captured.out == ""


def test_plot_without_matplotlib_is_refused_before_the_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    workdir = tmp_path / "demo"
    assert cli.main(["demo", "--plot", str(tmp_path / "x.png"),
                     "--workdir", str(workdir)]) == 1
    captured = capsys.readouterr()
    assert _error_line(captured.err) == (
        "heat-alarming demo: error: --plot needs matplotlib, which is not installed: "
        "pip install 'heat-alarming[demo]'\n")
    assert captured.out == "" and not workdir.exists()


@pytest.mark.parametrize("text, error", [
    (_edited("resources:\n", "resources:\n  bad: [unclosed\n"),
     "line 29, column 8: expected ',' or ']', but got ':' "
     "(while parsing a flow sequence from line 28)"),
    ("{}", "the demo needs an OS::Metering::Alarm (samples are pushed through its signal) "
           "and an autoscaling group (OS::Heat::AutoScalingGroup, "
           "AWS::AutoScaling::AutoScalingGroup, OS::Heat::InstanceGroup); it has no resources"),
    (_template("hot-push-url.yaml"),
     "the demo needs an OS::Metering::Alarm (samples are pushed through its signal) "
     "and an autoscaling group (OS::Heat::AutoScalingGroup, "
     "AWS::AutoScaling::AutoScalingGroup, OS::Heat::InstanceGroup); it has no autoscaling "
     "group"),
], ids=["broken-yaml", "empty", "no-group"])
def test_a_template_that_cannot_run_fails_before_any_engine_starts(capsys, tmp_path, text,
                                                                   error):
    path, workdir = tmp_path / "bad.yaml", tmp_path / "demo"
    path.write_text(text)
    assert cli.main(["demo", "--template", str(path), "--workdir", str(workdir)]) == 1
    captured = capsys.readouterr()
    assert _error_line(captured.err) == f"heat-alarming demo: error: {path}: {error}\n"
    # nothing started: no header line, no work directory, no engine log
    assert captured.out == "" and not workdir.exists()


@pytest.mark.parametrize("text, error", [
    (_edited("type: OS::Metering::Alarm", "type: OS::Metering::Alaram"),
     "The Resource Type (OS::Metering::Alaram) could not be found."),
    (_edited("comparison_operator: gt", "comparison_operator: bigger"),
     'Property error: resources.cpu_alarm_high.properties.comparison_operator: "bigger" '
     'is not an allowed value ["le", "ge", "eq", "lt", "gt", "ne"]'),
], ids=["misspelled-type", "bigger"])
def test_a_template_heat_refuses_is_heats_message_in_one_line(tmp_path, text, error):
    path, workdir = tmp_path / "bad.yaml", tmp_path / "demo"
    path.write_text(text)
    done = run_command(["demo", "--template", str(path), "--workdir", str(workdir)],
                       timeout=120)
    assert done.returncode == 1
    assert _error_line(done.stderr) == f"heat-alarming demo: error: {path}: {error}\n"
    # Heat stored nothing and its message is the whole story: nothing is kept
    assert not (workdir / "engine.log").exists()
    assert "stack autoscaling-demo created" not in done.stdout


def test_a_stack_that_fails_to_create_keeps_the_engines_log(tmp_path):
    path, workdir = tmp_path / "failing.yaml", tmp_path / "demo"
    path.write_text(_edited("resources:\n", "resources:\n  broken:\n"
                            "    type: OS::Heat::TestResource\n"
                            "    properties: {fail: true}\n"))
    done = run_command(["demo", "--template", str(path), "--workdir", str(workdir)],
                       timeout=180)
    assert done.returncode == 1
    log = workdir / "engine.log"
    assert _error_line(done.stderr) == (
        "heat-alarming demo: error: the stack autoscaling-demo failed to create: Resource "
        "CREATE failed: ValueError: resources.broken: Test Resource failed broken; "
        f"the engine's log is kept in {log}\n")
    assert "Test Resource failed broken" in log.read_text()
    assert (workdir / "heat.sqlite").exists()  # the work directory is kept with it
