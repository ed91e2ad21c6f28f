"""Alarm objects stay plain values: slotted, sharing their repeated text, keeping the
selector they built, and still copied, replaced and round-tripped as before."""
import copy
import dataclasses
import math

import pytest

from heat_alarming.engine.alarm import ALARM, Alarm, ThresholdRule
from heat_alarming.metering.query import build_query

RULE = {"meter_name": "cpu_util", "threshold": 75, "comparison_operator": "gt",
        "statistic": "avg", "period": 300, "evaluation_periods": 3,
        "query": [{"field": "resource_id", "op": "eq", "value": "vm-1"}]}


def make_alarm(**fields):
    data = {"alarm_id": "a1", "name": "cpu-high", "project_id": "p1", "user_id": "u1",
            "threshold_rule": RULE, "alarm_actions": ["log://"], "ok_actions": ["log://"],
            "time_constraints": [{"name": "office", "start": "0 9 * * 1-5",
                                  "duration": 3600, "timezone": "Europe/Paris"}]}
    data.update(fields)
    return Alarm.from_dict(data)


def test_an_alarm_round_trips_through_its_definition_with_its_state():
    alarm = make_alarm(state=ALARM, state_reason="why", state_timestamp=12.5,
                       pending_state="ok", pending_since=13.0)
    again = Alarm.from_dict(dict(alarm.definition(), state=alarm.state,
                                 state_reason=alarm.state_reason,
                                 state_timestamp=alarm.state_timestamp,
                                 pending_state=alarm.pending_state,
                                 pending_since=alarm.pending_since))
    assert again == alarm
    assert again.definition() == alarm.definition()


def test_a_copied_or_replaced_alarm_changes_alone():
    alarm = make_alarm()
    copied = copy.copy(alarm)
    replaced = dataclasses.replace(alarm, name="other")
    copied.state = ALARM
    assert copied != alarm and alarm.state != ALARM
    assert replaced.name == "other" and alarm.name == "cpu-high"
    assert copy.deepcopy(alarm) == alarm


def test_an_alarm_takes_no_attribute_beyond_its_fields():
    with pytest.raises(AttributeError):
        make_alarm().colour = "red"


def test_a_rule_keeps_the_selector_it_built_and_a_replaced_rule_builds_its_own():
    rule = ThresholdRule.from_dict(RULE)
    assert rule.selector() is rule.selector()
    assert rule.selector() == build_query(rule.query_items())
    other = dataclasses.replace(rule, query=(
        (("field", "resource_id"), ("op", "eq"), ("value", "vm-2")),))
    assert other.selector().conditions[0].value == "vm-2"
    assert rule.selector().conditions[0].value == "vm-1"


def test_matching_metadata_selects_in_the_rules_sorted_order_however_given():
    given = dict(RULE, matching_metadata={"b": "2", "a": 1})
    rule = ThresholdRule.from_dict(given)
    assert rule.matching_metadata == (("a", "1"), ("b", "2"))
    assert rule.selector() == build_query(rule.query_items(), {"a": "1", "b": "2"})


def test_equal_values_of_other_types_are_never_shared_into_one_another():
    rules = [ThresholdRule.from_dict(dict(RULE, threshold=1, query=[
        {"field": "metadata.size", "op": "eq", "value": value}])) for value in
        (1, 1.0, True, "1")]
    values = [dict(rule.query[0])["value"] for rule in rules]
    assert [type(v) for v in values] == [int, float, bool, str]
    zero, negative_zero = (ThresholdRule.from_dict(dict(RULE, threshold=t)).threshold
                           for t in (0.0, -0.0))
    assert (math.copysign(1, zero), math.copysign(1, negative_zero)) == (1, -1)


def test_alarms_read_from_separate_documents_share_their_repeated_text():
    first, second = (make_alarm(alarm_id=f"a{i}", project_id="".join(["p", "1"]))
                     for i in range(2))
    assert first.project_id is second.project_id
    assert first.alarm_actions is second.alarm_actions
    assert first.rule.query[0][1] is second.rule.query[0][1]  # ("op", "eq")
