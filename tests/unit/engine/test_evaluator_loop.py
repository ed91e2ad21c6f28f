"""The evaluation thread: rounds when a period closes, and a failing round does not stop it.

These tests run on the real clock with a 1 s store resolution and 2 s periods,
so they take a few seconds; they check behaviour, not speed.
"""
import threading
import time

from heat_alarming.engine import ALARM, AlarmStore, Evaluator
from heat_alarming.metering import RollingStore, Sample


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def make(interval):
    store = RollingStore(1, 600)
    evaluator = Evaluator(store, AlarmStore("sqlite://"), interval=interval,
                          period_close_delay=0.05)
    alarm = evaluator.define({"name": "fast", "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 2,
        "evaluation_periods": 1}})
    return store, evaluator, alarm


def feed(store, stop):
    while not stop.is_set():
        store.add(Sample("m", 5.0, "r"))
        time.sleep(0.1)


def test_a_breach_is_acted_on_when_its_period_closes_not_at_the_next_tick():
    store, evaluator, alarm = make(interval=3600.0)  # the periodic tick is an hour away
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(store, stop), daemon=True)
    evaluator.start()
    feeder.start()
    try:
        assert wait_for(lambda: alarm.state == ALARM), "period-close rounds did not run"
        # the round at start saw no data: the alarm came from a period-close round
        assert wait_for(lambda: evaluator.rounds >= 2)
    finally:
        stop.set()
        evaluator.stop()


def test_a_round_that_raises_is_logged_and_the_loop_goes_on(caplog):
    store, evaluator, alarm = make(interval=0.2)
    original = evaluator._threshold_alarms
    failures = []

    def flaky(group, round_):
        if not failures:
            failures.append(1)
            raise RuntimeError("boom")
        return original(group, round_)

    evaluator._threshold_alarms = flaky
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(store, stop), daemon=True)
    evaluator.start()
    feeder.start()
    try:
        # after a failed round the evaluator reloads its alarms from the store: ask it
        assert wait_for(lambda: evaluator.get(alarm.alarm_id).state == ALARM)
        assert failures and "evaluation round failed" in caplog.text
    finally:
        stop.set()
        evaluator.stop()


def test_a_round_whose_commit_fails_leaves_memory_as_the_store_has_it():
    from heat_alarming.metering import ManualClock
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, AlarmStore("sqlite://"))
    alarm = evaluator.define({"name": "x", "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 60}})
    store.add(Sample("m", 5.0, "r", timestamp=clock() + 1))
    clock.advance(61)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    evaluator.alarm_store.commit_round = broken
    try:
        evaluator.evaluate()
    except RuntimeError:
        pass
    assert evaluator.get(alarm.alarm_id).state == "insufficient data"
    del evaluator.alarm_store.commit_round
    evaluator.evaluate()
    assert evaluator.get(alarm.alarm_id).state == ALARM


def test_a_close_round_over_every_period_stands_for_the_periodic_round(tmp_path):
    """Started off the minute, the loop must not add a periodic round between the
    closes: it would see the same data and repeat the repeating actions."""
    from heat_alarming.metering import ManualClock
    clock = ManualClock(1_699_999_200.0 + 25)
    store = RollingStore(10, 3600, clock=clock)
    # a file: the in-memory database is one connection, which the loop's thread and the
    # dispatcher's would share
    evaluator = Evaluator(store, AlarmStore(str(tmp_path / "alarms.sqlite")), clock=clock,
                          interval=60.0,
                          period_close_delay=0.0)
    evaluator.define({"name": "every-minute", "repeat_actions": True, "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 60}})
    evaluator.start()
    try:
        assert wait_for(lambda: evaluator.rounds == 1), "the round at start"
        for minute in range(1, 6):
            for _ in range(6):
                clock.advance(10)
                evaluator.wake()
                time.sleep(0.02)
            assert wait_for(lambda m=minute: evaluator.rounds >= 1 + m)
        time.sleep(0.3)
        assert evaluator.rounds == 6, "one round per minute, at its close"
    finally:
        evaluator.stop()


def test_the_loop_says_up_to_when_it_has_looked_so_a_program_moving_the_clock_can_wait(
        tmp_path):
    """``looked_at`` is the clock's time the loop last finished with, after that time's
    round: what ``heat-alarming demo --settle`` waits for before it moves its clock."""
    from heat_alarming.metering import ManualClock
    start = 1_699_999_200.0
    clock = ManualClock(start)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, AlarmStore(str(tmp_path / "alarms.sqlite")), clock=clock,
                          interval=60.0, period_close_delay=0.0)
    alarm = evaluator.define({"name": "x", "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 60}})
    assert evaluator.looked_at is None
    evaluator.start()
    try:
        assert wait_for(lambda: evaluator.looked_at == start), "the round at start"
        assert evaluator.rounds == 1
        store.add(Sample("m", 5.0, "r", timestamp=start + 5))
        clock.advance(60)
        evaluator.wake()
        assert wait_for(lambda: evaluator.looked_at == start + 60)
        # by then the round at the close had run and decided
        assert evaluator.rounds == 2
        assert evaluator.get(alarm.alarm_id).state == ALARM
    finally:
        evaluator.stop()
