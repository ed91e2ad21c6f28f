"""OS::Metering::Alarm in a stack's life: attributes, suspend, resume, check, update, delete."""
import time

import pytest
from heat.common import template_format

from heat_alarming.metering import Sample
from tests.support.heat_engine import push

ALARM = """
heat_template_version: 2016-10-14
parameters:
  threshold: {type: number, default: 50}
  meter: {type: string, default: cpu_util}
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: {get_param: meter}
      threshold: {get_param: threshold}
      comparison_operator: gt
      period: 60
      severity: critical
      description: lifecycle
outputs:
  state: {value: {get_attr: [alarm, state]}}
  reason: {value: {get_attr: [alarm, state_reason]}}
  since: {value: {get_attr: [alarm, state_timestamp]}}
  history: {value: {get_attr: [alarm, history]}}
"""


def breach(engine, ident, meter="cpu_util"):
    start = engine.clock()
    push(engine, ident, "alarm", [{"meter": meter, "value": 90.0, "resource_id": "life-vm",
                                   "timestamp": start + s} for s in range(0, 60, 10)])
    engine.clock.set(start + 61)
    engine.runtime.evaluator.evaluate()


def update(engine, ident, **params):
    engine.client.update_stack(engine.ctx, ident, template_format.parse(ALARM), params,
                               files={}, args={})
    time.sleep(0.2)
    engine.wait(ident, "UPDATE")


@pytest.fixture
def stack(heat_engine):
    ident = heat_engine.create(f"life{time.monotonic_ns()}", ALARM)
    alarm_id = heat_engine.physical_id(ident, "alarm")
    return heat_engine, ident, alarm_id


def test_attributes_follow_the_evaluator(stack):
    engine, ident, alarm_id = stack
    assert engine.outputs(ident)["state"] == "insufficient data"
    breach(engine, ident)
    out = engine.outputs(ident)
    assert out["state"] == "alarm"
    assert out["reason"].startswith("alarm: 1 of 1 periods had avg cpu_util > 50 "
                                    "(most recent 90.0). ")
    assert "Transition to alarm due to 6 samples" in out["reason"] or \
        "Transition to alarm due to 1 samples" in out["reason"]
    assert out["since"].endswith("+00:00")
    assert out["history"][0]["current"] == "alarm"
    alarm = engine.runtime.evaluator.get(alarm_id)
    assert alarm.severity == "critical" and alarm.description == "lifecycle"


def test_suspend_disables_and_resume_enables(stack):
    engine, ident, alarm_id = stack
    engine.client.stack_suspend(engine.ctx, ident)
    engine.wait(ident, "SUSPEND")
    assert engine.runtime.evaluator.get(alarm_id).enabled is False
    with pytest.raises(Exception, match="SUSPEND"):  # Heat refuses signals while suspended
        breach(engine, ident)
    start = engine.clock()
    engine.runtime.push_samples("test_tenant_id", [
        Sample("cpu_util", 90.0, "life-vm", timestamp=start + s) for s in range(0, 60, 10)])
    engine.clock.set(start + 61)
    engine.runtime.evaluator.evaluate()
    assert engine.runtime.evaluator.get(alarm_id).state == "insufficient data"
    engine.client.stack_resume(engine.ctx, ident)
    engine.wait(ident, "RESUME")
    assert engine.runtime.evaluator.get(alarm_id).enabled is True


def test_check_verifies_the_evaluator_knows_the_alarm(stack):
    engine, ident, alarm_id = stack
    engine.client.stack_check(engine.ctx, ident)
    engine.wait(ident, "CHECK")
    engine.runtime.evaluator.delete(alarm_id)  # the evaluator loses it
    engine.client.stack_check(engine.ctx, ident)
    with pytest.raises(RuntimeError, match="not known to the evaluator"):
        engine.wait(ident, "CHECK")


def test_update_keeps_state_unless_what_is_measured_changes(stack):
    engine, ident, alarm_id = stack
    breach(engine, ident)
    update(engine, ident, threshold=60)
    alarm = engine.runtime.evaluator.get(alarm_id)
    assert alarm.rule.threshold == 60 and alarm.state == "alarm", \
        "a new threshold measures the same thing: the state stays"
    # meter_name is not update_allowed: Heat replaces the alarm, which starts afresh
    update(engine, ident, threshold=60, meter="memory_util")
    replacement = engine.physical_id(ident, "alarm")
    assert replacement != alarm_id
    assert engine.runtime.evaluator.get(replacement).state == "insufficient data"
    with pytest.raises(KeyError):
        engine.runtime.evaluator.get(alarm_id)


def test_delete_removes_the_alarm_and_its_state(stack):
    engine, ident, alarm_id = stack
    breach(engine, ident)
    engine.client.delete_stack(engine.ctx, ident)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            engine.runtime.evaluator.get(alarm_id)
        except KeyError:
            break
        time.sleep(0.1)
    with pytest.raises(KeyError):
        engine.runtime.evaluator.get(alarm_id)
    assert engine.runtime.evaluator.history(alarm_id) == []
