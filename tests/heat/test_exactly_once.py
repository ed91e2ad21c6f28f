"""One alarm transition gives one scale action, whatever instant heat-engine dies (item 15).

Each test runs heat-engine (the in-process engine of
heat_alarming.resources.embedded, in a child process: tests/support/crash_engine.py)
on a Heat SQLite file and an alarm database (a SQLite file, or PostgreSQL),
lets an alarm fire, SIGKILLs the engine at one instant of the delivery (the
child blocks there: a harness-only environment variable, no sleep), and
restarts it on the same databases, which redelivers what was left unconfirmed.
The group, of 1, must end at 2: never 1 (a lost action), never 3 (a duplicate).
"""
import os

import pytest

from tests.support.crash_runner import CrashRunner


@pytest.fixture(params=["sqlite", "postgresql"])
def runner(request, tmp_path):
    if request.param == "sqlite":
        alarms = "sqlite:///" + os.path.join(tmp_path, "alarms.sqlite")
    else:
        alarms = request.getfixturevalue("postgres_url")
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
