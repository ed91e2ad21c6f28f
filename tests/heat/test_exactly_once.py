"""One alarm transition gives one scale action, whatever instant heat-engine dies (item 15).

Each test runs heat-engine (the in-process engine of
heat_alarming.resources.embedded, in a child process: tests/support/crash_engine.py)
on a Heat SQLite file and an alarm database (a SQLite file, or PostgreSQL),
lets an alarm fire, SIGKILLs the engine at one instant of the delivery (the
child blocks there: a harness-only environment variable, no sleep), and
restarts it on the same databases, which redelivers what was left unconfirmed.
The group, of 1, must end at 2: never 1 (a lost action), never 3 (a duplicate).
"""

import pytest

from tests.support.crash_runner import CrashRunner
from tests.support.databases import DATABASES, database_url


@pytest.fixture(params=DATABASES)
def runner(request, tmp_path):
    alarms = database_url(request.param, tmp_path, request)
    with open(tmp_path / "engine.log", "w") as log:
        yield CrashRunner(str(tmp_path), alarms, log=log)


def _one_action(report: dict) -> dict:
    trial = report["trial-1"]
    assert trial["size"] == 2, trial
    assert trial["outcomes"] == ["signalled"], trial
    assert trial["failures"] == [], trial
    assert not trial["scaling_in_progress"], trial
    return trial


def test_killed_after_heat_applied_the_signal_it_is_not_sent_again(runner):
    runner.crash_at("trial-1", "after_signal")
    trial = _one_action(runner.restart())
    assert trial["signal_events"] == 1, "one SIGNAL event: the redelivery found it"


def test_killed_before_the_resize_the_stale_scaling_flag_is_not_taken_for_a_cooldown(runner):
    runner.crash_at("trial-1", "before_resize")
    trial = _one_action(runner.restart())
    assert trial["signal_events"] == 1, "the signal was sent again, once"


def test_killed_during_the_resize_the_resize_is_completed_not_repeated(runner):
    runner.crash_at("trial-1", "mid_resize")
    trial = _one_action(runner.restart())
    assert trial["signal_events"] == 0, "the first signal never returned; none was resent"


def test_the_marker_survives_heats_cut_of_a_long_reason(heat_engine):
    """Heat keeps 255 characters of an event's reason; a long alarm reason (a composite's,
    say) is shortened so that the marker a redelivery looks for is still there."""
    from heat_alarming.resources.actions import signal_action
    from tests.support.heat_engine import settle
    engine = heat_engine
    ident = engine.create("long-reason", engine.template("hot-autoscaling.yaml"),
                          params={"cooldown": 0})
    alarm_id = engine.client.describe_stack_resource(
        engine.ctx, ident, "cpu_alarm_high")["physical_resource_id"]
    key = "5b0d6a2e-8f1c-4e7a-b3d9-0c2f4a6e8b1d"
    payload = {"alarm_id": alarm_id, "alarm_name": "cpu_alarm_high", "severity": "low",
               "previous": "insufficient data", "current": "alarm",
               "reason": "Transition to alarm due to " + "a very long explanation " * 20,
               "reason_data": {}}
    engine.runtime.evaluator.notifiers.notify(
        signal_action(ident["tenant"], ident["stack_name"], ident["stack_id"], "scale_up"),
        payload, key)
    settle(engine, ident)
    (event,) = engine.client.list_events(engine.ctx, ident, filters={
        "resource_name": "scale_up", "resource_action": "SIGNAL"})
    reason = event["resource_status_reason"]
    assert len(reason) <= 255 and reason.endswith(f"[notification {key}])"), reason
