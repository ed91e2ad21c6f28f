"""Security: what a template puts in an alarm definition fits the alarm database.

A control character in a property is refused at validation with the property
named; the alarm's name (Heat's physical_resource_name) stays within the name
column even for the longest stack name Heat accepts.
"""
import json
import time

import pytest

from heat_alarming.engine import models

ALARM = """
heat_template_version: 2016-10-14
parameters:
  description: {type: string, default: plain}
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: cpu_util
      threshold: 50
      comparison_operator: gt
      description: {get_param: description}
"""


def test_a_nul_in_a_property_is_refused_naming_it(heat_engine):
    with pytest.raises(Exception) as caught:
        heat_engine.create(f"nul{time.monotonic_ns()}", ALARM,
                           params={"description": json.loads('"bad \\u0000 text"')})
    assert "resources.alarm.properties.description" in str(caught.value)
    assert "control character" in str(caught.value)


def test_the_longest_stack_name_gives_a_name_the_column_holds(heat_engine):
    name = ("s" + str(time.monotonic_ns()) + "x" * 255)[:255]
    ident = heat_engine.create(name, ALARM)
    alarm = heat_engine.runtime.evaluator.alarm_store.load_alarm(
        heat_engine.physical_id(ident, "alarm"))
    assert alarm is not None
    assert len(alarm.name) <= models.alarms.c.name.type.length
    heat_engine.client.delete_stack(heat_engine.ctx, ident)
    heat_engine.wait(ident, "DELETE")
