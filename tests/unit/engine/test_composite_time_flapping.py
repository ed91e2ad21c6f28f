"""Composite rules, time constraints, flapping protection and definition checks."""
import datetime as dt

import pytest

from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, AlarmError, TimeConstraint
from heat_alarming.engine.timeconstraints import is_open

from .conftest import PERIOD, T0

B, G = 80.0, 20.0


def rule(meter="cpu_util", threshold=50, op="gt", **extra):
    return dict({"meter_name": meter, "threshold": threshold, "comparison_operator": op,
                 "period": PERIOD, "evaluation_periods": 2}, **extra)


def composite(world, tree, **fields):
    data = {"name": fields.pop("name", "combo"), "composite_rule": tree,
            "alarm_actions": ["inproc://test"], "ok_actions": ["inproc://test"]}
    data.update(fields)
    return world.evaluator.define(data)


def test_and_alarms_when_every_leaf_is_in_alarm(world):
    combo = composite(world, {"and": [rule(), rule(threshold=70)]})
    world.feed(B, B)
    assert combo.state == ALARM
    assert combo.state_reason == ("alarm: (rule1 and rule2) with rule1 alarm, rule2 alarm. "
                                  "Composite rule alarm with composition form: "
                                  "(rule1 and rule2) transition to alarm, due to rules: "
                                  "rule1, rule2 outside their threshold.")
    (note,) = [n for n in world.delivered() if n["current"] == ALARM]
    assert note["reason_data"]["type"] == "composite"
    assert set(note["reason_data"]["causative_rules"]) == {"rule1", "rule2"}


def test_and_is_ok_when_one_leaf_is_ok(world):
    combo = composite(world, {"and": [rule(), rule(threshold=70)]})
    world.feed(60, 60)
    assert combo.state == OK
    assert "due to rules: rule2 inside their threshold." in combo.state_reason


def test_nested_or_and_names_rules_depth_first(world):
    combo = composite(world, {"or": [rule(threshold=90),
                                     {"and": [rule(threshold=70), rule(threshold=10)]}]})
    world.feed(B, B)
    assert combo.state == ALARM
    assert "(rule1 or (rule2 and rule3))" in combo.state_reason
    assert "due to rules: rule2, rule3 outside" in combo.state_reason


@pytest.mark.parametrize("tree, expected", [
    ({"and": [rule(), rule(meter="silent")]}, UNKNOWN),        # unknown and alarm
    ({"or": [rule(), rule(meter="silent")]}, ALARM),           # unknown or alarm
    ({"or": [rule(threshold=90), rule(meter="silent")]}, UNKNOWN),  # unknown or ok
    ({"and": [rule(threshold=90), rule(meter="silent")]}, OK),      # unknown and ok
])
def test_insufficient_data_propagates_as_aodh(world, tree, expected):
    combo = composite(world, tree)
    world.feed(B, B)
    assert combo.state == expected


def test_a_leaf_may_be_another_alarm(world):
    base = world.alarm(name="base")
    combo = composite(world, {"and": [{"alarm_id": base.alarm_id}, rule(threshold=10)]})
    world.feed(B, B, B)
    assert base.state == ALARM and combo.state == ALARM
    with pytest.raises(AlarmError, match="used by composite"):
        world.evaluator.delete(base.alarm_id)


def test_composite_definitions_are_checked(world):
    with pytest.raises(AlarmError, match="composite_rule.alarm_id: no alarm 'nope'"):
        composite(world, {"and": [{"alarm_id": "nope"}, rule()]})
    first = composite(world, {"or": [rule()]}, name="first")
    second = composite(world, {"or": [{"alarm_id": first.alarm_id}]}, name="second")
    with pytest.raises(AlarmError, match="cycle"):
        composite(world, {"or": [{"alarm_id": second.alarm_id}]}, alarm_id=first.alarm_id)
    with pytest.raises(AlarmError, match=r"composite_rule.and\[1\]"):
        composite(world, {"and": [rule(), 7]})


def test_a_mixed_leaf_counts_as_the_state_it_is_leaving(world):
    combo = composite(world, {"or": [rule()]})
    world.feed(G, G)
    assert combo.state == OK
    world.feed(B)  # leaf window (G, B) is mixed, trending to alarm: still ok
    assert combo.state == OK
    world.feed(B)
    assert combo.state == ALARM


# -- time constraints -------------------------------------------------------

def when(text):
    return dt.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize("moment, expected", [
    ("2026-03-27T08:30:00+00:00", True),    # Friday 09:30 CET
    ("2026-03-27T07:59:00+00:00", False),   # Friday 08:59 CET
    ("2026-03-30T07:00:00+00:00", True),    # Monday 09:00 CEST: the window moved with DST
    ("2026-03-30T07:59:00+00:00", True),
    ("2026-03-30T06:59:00+00:00", False),   # 08:59 CEST; would be 07:59 CET
    ("2026-03-30T08:01:00+00:00", False),   # 10:01 CEST, past the hour
    ("2026-03-28T08:30:00+00:00", False),   # Saturday
])
def test_time_constraints_follow_the_wall_clock_of_their_zone(moment, expected):
    office = TimeConstraint("office", "0 9 * * 1-5", 3600, "Europe/Paris")
    assert is_open(office, when(moment)) is expected


def test_utc_is_the_default_zone():
    tc = TimeConstraint("nightly", "0 2 * * *", 600)
    assert is_open(tc, when("2026-01-01T02:05:00+00:00"))
    assert not is_open(tc, when("2026-01-01T03:05:00+00:00"))


def test_an_alarm_is_evaluated_only_inside_its_constraints(world):
    # T0 is 2023-11-14 22:00 UTC; the window opens at 22:03 for two minutes
    alarm = world.alarm(time_constraints=[{"name": "w", "start": "3 22 * * *",
                                           "duration": 120}])
    world.feed(B, B, B)          # rounds at 22:01, 22:02, 22:03 -> only 22:03 is inside
    assert alarm.state == ALARM
    world.feed(G, G, G, G)      # 22:04 and 22:05 inside; 22:06, 22:07 outside
    assert alarm.state == ALARM, "the good periods that would end it came too late"


def test_time_constraints_are_validated():
    from heat_alarming.engine.alarm import Alarm
    base = {"threshold_rule": rule()}
    for bad, field in [({"name": "x", "start": "every day", "duration": 60}, "start"),
                       ({"name": "x", "start": "0 9 * * *", "duration": 0}, "duration"),
                       ({"name": "x", "start": "0 9 * * *", "duration": 60,
                         "timezone": "Mars/Olympus"}, "timezone")]:
        with pytest.raises(AlarmError, match=f"time_constraints\\[0\\].{field}"):
            Alarm.from_dict(dict(base, time_constraints=[bad]))


# -- flapping protection ----------------------------------------------------

def test_without_a_stabilization_window_every_flip_fires(world):
    world.alarm({"evaluation_periods": 1})
    world.feed(B, G, B, G)
    assert [n["current"] for n in world.delivered()] == [ALARM, OK, ALARM, OK]


def test_a_stabilization_window_needs_the_new_state_to_hold(world):
    alarm = world.alarm({"evaluation_periods": 1}, stabilization_window=120)
    world.feed(G, G, G)
    assert alarm.state == OK
    world.delivered()
    world.feed(B, G, B, G)   # flapping: never holds for 120 s
    assert alarm.state == OK and world.delivered() == []
    world.feed(B, B)
    assert alarm.state == OK and alarm.pending_state == ALARM
    world.feed(B)            # third breaching round: 120 s after the first
    assert alarm.state == ALARM and alarm.pending_state is None
    assert [n["current"] for n in world.delivered()] == [ALARM]


# -- definitions ------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"period": 15}, "threshold_rule.period"),
    ({"evaluation_periods": 60}, "threshold_rule.evaluation_periods"),
    ({"comparison_operator": "gte"}, "threshold_rule.comparison_operator"),
    ({"statistic": "median"}, "threshold_rule.statistic"),
    ({"threshold": "high"}, "threshold_rule.threshold"),
    ({"datapoints_to_alarm": 5}, "threshold_rule.datapoints_to_alarm"),
    ({"missing_data": "zero"}, "threshold_rule.missing_data"),
    ({"query": [{"field": "flavor", "op": "eq", "value": 1}]}, "threshold_rule.query[0]"),
])
def test_bad_threshold_rules_name_the_field(world, changes, field):
    with pytest.raises(AlarmError) as caught:
        world.alarm(changes)
    assert str(caught.value).startswith(field)


def test_cfn_style_text_values_are_coerced():
    from heat_alarming.engine.alarm import Alarm
    alarm = Alarm.from_dict({"threshold_rule": {
        "meter_name": "cpu_util", "threshold": "75", "evaluation_periods": "5",
        "period": "60", "statistic": "avg", "comparison_operator": "gt"},
        "repeat_actions": "true"})
    assert (alarm.rule.threshold, alarm.rule.evaluation_periods, alarm.rule.period) == \
        (75.0, 5, 60)
    assert alarm.repeat_actions is True


def test_redefining_the_same_rule_keeps_the_state_and_a_new_rule_resets_it(world):
    alarm = world.alarm()
    world.feed(B, B, B)
    same = world.evaluator.define(dict(alarm.definition(), description="renamed"))
    assert same.state == ALARM
    changed = dict(alarm.definition())
    changed["threshold_rule"] = dict(changed["threshold_rule"], meter_name="memory")
    assert world.evaluator.define(changed).state == UNKNOWN


def test_alarms_and_state_survive_a_new_evaluator_on_the_same_store(tmp_path):
    from heat_alarming.engine.alarm_store import AlarmStore
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.metering import ManualClock, RollingStore
    path = str(tmp_path / "alarms.sqlite")
    store = RollingStore(10, 3600, clock=ManualClock(T0))
    first = Evaluator(store, AlarmStore(path))
    alarm = first.define({"name": "a", "threshold_rule": rule()})
    alarm.state = ALARM
    first.alarm_store.save_alarm(alarm)
    again = Evaluator(store, AlarmStore(path))
    assert again.get(alarm.alarm_id).state == ALARM
    assert again.get(alarm.alarm_id).definition() == alarm.definition()
