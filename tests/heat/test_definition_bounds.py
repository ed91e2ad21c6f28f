"""Templates with alarms that could never be evaluated are refused at validation.

A time constraint that never fires and a composite beyond the size or depth bounds
fail the stack create with the property named, instead of freezing rounds later.
"""
import json
import time

import pytest

CONSTRAINED = """
heat_template_version: 2016-10-14
parameters:
  start: {type: string}
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: cpu_util
      threshold: 50
      comparison_operator: gt
      time_constraints:
        - {name: window, start: {get_param: start}, duration: 60}
"""

COMPOSITE = """
heat_template_version: 2016-10-14
parameters:
  rule: {type: json}
resources:
  combo:
    type: OS::Metering::CompositeAlarm
    properties:
      composite_rule: {get_param: rule}
"""

RULE = {"meter_name": "cpu_util", "threshold": 50, "comparison_operator": "gt"}


def create_error(engine, template, params) -> str:
    with pytest.raises(Exception) as caught:
        engine.create(f"bounds{time.monotonic_ns()}", template, params=params)
    return str(caught.value)


def test_a_time_constraint_that_never_fires_is_refused(heat_engine):
    error = create_error(heat_engine, CONSTRAINED, {"start": "0 0 31 2 *"})
    assert "never fires" in error, error
    assert "resources.alarm.properties.time_constraints[0].start" in error, error
    assert not [a for a in heat_engine.runtime.evaluator.alarms()
                if any(c.start == "0 0 31 2 *" for c in a.time_constraints)]


@pytest.mark.parametrize("rule, words", [
    ({"or": [RULE] * 101}, "101 rules and alarms is more than the 100 allowed"),
    ({"and": [{"or": [{"and": [{"or": [{"and": [{"or": [{"and": [{"or": [{"and": [
        {"or": [{"and": [RULE]}]}]}]}]}]}]}]}]}]}]},
     "and/or nested 11 levels deep, more than the 10 allowed"),
])
def test_a_composite_beyond_the_bounds_is_refused(heat_engine, rule, words):
    error = create_error(heat_engine, COMPOSITE, {"rule": json.dumps(rule)})
    assert words in error and "resources.combo.properties.composite_rule" in error, error
