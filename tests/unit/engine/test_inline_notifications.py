"""notify_inline: a round hands its notifications straight to the notifiers (replays)."""
from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.metering import ManualClock, RollingStore, Sample

T0 = 1_699_999_200.0


def make(received, *, fail=False):
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    alarm_store = AlarmStore("sqlite://")
    evaluator = Evaluator(store, alarm_store, clock=clock, notify_inline=True)

    def target(payload):
        if fail:
            raise RuntimeError("the target broke")
        received.append(payload)

    evaluator.register_target("replay", target)
    evaluator.define({"alarm_id": "high", "name": "high", "repeat_actions": True,
                      "threshold_rule": {"meter_name": "m", "threshold": 1,
                                         "comparison_operator": "gt", "period": 60},
                      "alarm_actions": ["inproc://replay/a", "inproc://replay/b"]})
    store.add(Sample("m", 5.0, "r", timestamp=T0 + 1))
    clock.set(T0 + 60)
    return evaluator, alarm_store


def test_the_round_calls_the_inproc_targets_before_it_returns_and_queues_nothing():
    received = []
    evaluator, alarm_store = make(received)
    evaluator.evaluate()
    assert [(p["action"], p["alarm_id"], p["current"]) for p in received] == [
        ("inproc://replay/a", "high", "alarm"), ("inproc://replay/b", "high", "alarm")]
    assert alarm_store.pending_count() == 0


def test_repeated_actions_are_delivered_in_every_round():
    received = []
    evaluator, _ = make(received)
    evaluator.evaluate()
    evaluator.evaluate()
    assert len(received) == 4 and {p["previous"] for p in received[2:]} == {"alarm"}


def test_a_failing_target_loses_its_notification_and_the_round_still_counts():
    evaluator, alarm_store = make([], fail=True)
    evaluator.evaluate()
    assert evaluator.get("high").state == "alarm" and alarm_store.pending_count() == 0


def test_without_the_option_notifications_are_queued_for_the_dispatcher():
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    alarm_store = AlarmStore("sqlite://")
    evaluator = Evaluator(store, alarm_store, clock=clock)
    evaluator.define({"alarm_id": "high", "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 60},
        "alarm_actions": ["inproc://replay/a"]})
    store.add(Sample("m", 5.0, "r", timestamp=T0 + 1))
    clock.set(T0 + 60)
    evaluator.evaluate()
    assert alarm_store.pending_count() == 1
