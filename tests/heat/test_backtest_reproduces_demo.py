"""A backtest of templates/hot-autoscaling.yaml reproduces the live demo, period by period.

The demo runs Heat's real engine with ``--settle`` (the demo's clock stands still
while the engine works: the evaluator has run the round due at the close, Heat has
answered every signal and the group is idle before the clock moves on) and
``--record``. So in the demo a resize takes no simulated time and the group's
size at a period's close already counts what the close's round asked for; Heat's
cooldown is 0 (the demo passes ``cooldown: 0``, parameters.json says so), as
Heat counts it on the real clock. The backtest replays the recorded samples
through the same template with ``resize_seconds=0``, the recorded parameters and
the live evaluator's timing (a round at each period's close), and must find the
same alarm states and the same group size at every close, and the same answers
from the group.

The recorded samples carry the live stack's id (the alarms' matching_metadata
asks for it); the backtest's template stands :data:`template.STACK_ID` in for
every stack id, so the trace read here carries that instead: the only change.
"""
from __future__ import annotations

import json

import pytest

from heat_alarming.backtest import replay, template, trace
from tests.support.commands import run_command


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The whole default profile (20 periods: up to 4 members and back to 1)."""
    record = tmp_path_factory.mktemp("demo-run")
    done = run_command(["demo", "--settle", "--speed", "6000", "--record", str(record),
                        "--workdir", str(record / "work")], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return record, json.loads((record / "periods.json").read_text())


@pytest.fixture(scope="module")
def result(recorded):
    record, run = recorded
    samples = (record / "samples.csv").read_text().replace(run["stack_id"], template.STACK_ID)
    (record / "backtest-samples.csv").write_text(samples)
    parameters = json.loads((record / "parameters.json").read_text())
    scenario = template.read_template(record / "template.yaml", parameters, resize_seconds=0)
    assert scenario.metadata == {key: template.STACK_ID for key in run["metadata"]}
    return replay.replay(scenario, trace.read_trace(record / "backtest-samples.csv"))


def _by_end(result, recorded_periods) -> list:
    ends = {p.end: p for p in result.periods}
    missing = [p["end"] for p in recorded_periods if p["end"] not in ends]
    assert missing == [], f"the replay has no period ending at {missing}"
    return [ends[p["end"]] for p in recorded_periods]


def test_the_demo_ran_the_whole_profile_out_to_the_maximum_and_back(recorded):
    _, run = recorded
    sizes = [p["size"] for p in run["periods"]]
    assert len(sizes) == 20 and max(sizes) == 4 and sizes[-1] == 1 and run["settle"]


def test_the_replay_has_the_demos_alarm_states_at_every_close(recorded, result):
    _, run = recorded
    replayed = _by_end(result, run["periods"])
    assert [(p.end, p.states) for p in replayed] == [
        (p["end"], p["states"]) for p in run["periods"]]


def test_the_replay_has_the_demos_group_size_at_every_close(recorded, result):
    _, run = recorded
    replayed = _by_end(result, run["periods"])
    assert [(p.end, p.size) for p in replayed] == [(p["end"], p["size"])
                                                   for p in run["periods"]]


def test_the_replayed_group_answers_every_signal_as_heat_did(recorded, result):
    # (when, policy, signalled or ignored, why ignored): Heat's answers as the alarms'
    # history recorded them, the replay's from its simulated group
    _, run = recorded
    heat = [(a["sent"], a["target"], a["outcome"], a["why"])
            for p in run["periods"] for a in p["actions"]] + [
        (a["sent"], a["target"], a["outcome"], a["why"])
        for a in run["after"] if a["kind"] == "action"]
    assert [(o.at, o.policy, o.status, o.why) for o in result.outcomes] == heat
