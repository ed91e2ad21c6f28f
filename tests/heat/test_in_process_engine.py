"""Stacks from templates/ in a real in-process heat-engine: samples in, scaling out and in."""
import pytest

from tests.support.heat_engine import load, period_boundary, push, settle, size


def test_pushed_samples_scale_the_group_out_and_back_in(heat_engine):
    engine = heat_engine
    ident = engine.create("scaling", engine.template("hot-autoscaling.yaml"),
                          params={"cooldown": 0})
    stack_id = ident["stack_id"]
    assert size(engine, ident) == 1
    clock = engine.clock
    start = period_boundary(engine)
    push(engine, ident, "cpu_alarm_high", load(engine, stack_id, 90.0, start, 2))
    clock.set(start + 120 + 1)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident)
    assert size(engine, ident) == 2
    assert engine.outputs(ident)["high_state"] == "alarm"
    events = engine.client.list_events(engine.ctx, ident)
    reasons = [e["resource_status_reason"] for e in events
               if e["resource_name"] == "scale_up" and e["resource_action"] == "SIGNAL"]
    assert any(r.startswith("alarm state changed from insufficient data to alarm") or
               r.startswith("alarm state changed from ok to alarm") for r in reasons), reasons

    push(engine, ident, "cpu_alarm_low", load(engine, stack_id, 5.0, start + 120, 2))
    clock.set(start + 240 + 1)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident)
    assert size(engine, ident) == 1


def test_a_bad_sample_row_rejects_the_whole_signal(heat_engine):
    engine = heat_engine
    ident = engine.create("badrow", engine.template("hot-autoscaling.yaml"))
    rows = [{"meter": "cpu_util", "value": 10.0, "resource_id": "bad-row-vm-1"},
            {"meter": "cpu_util", "value": "NaN", "resource_id": "bad-row-vm-2"}]
    with pytest.raises(Exception) as caught:
        push(engine, ident, "cpu_alarm_high", rows)
    assert "samples[1].value" in str(caught.value)
    assert "finite" in str(caught.value)
    store = engine.runtime.store
    for vm in ("bad-row-vm-1", "bad-row-vm-2"):
        query = [{"field": "resource_id", "op": "eq", "value": vm}]
        assert store.select("cpu_util", query).size == 0, "nothing of the signal was stored"


def test_an_unknown_sample_field_is_named(heat_engine):
    engine = heat_engine
    ident = engine.create("unknownfield", engine.template("hot-autoscaling.yaml"))
    with pytest.raises(Exception, match=r"samples\[0\]: unknown field\(s\) \['cpu'\]"):
        push(engine, ident, "cpu_alarm_high", [{"meter": "m", "value": 1, "resource_id": "r",
                                                "cpu": 3}])


# another project's stacks: tests/security/test_cross_project_actions.py


COOLING = """
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 5
      resource: {type: OS::Heat::None}
  up:
    type: OS::Heat::ScalingPolicy
    properties:
      adjustment_type: change_in_capacity
      auto_scaling_group_id: {get_resource: group}
      scaling_adjustment: 1
      cooldown: 3600
  busy:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 1
      comparison_operator: gt
      period: 60
      repeat_actions: true
      alarm_actions: [up]
outputs:
  size:
    value: {get_attr: [group, current_size]}
"""


def test_signals_heat_drops_in_a_cooldown_are_recorded_in_the_history(heat_engine):
    engine = heat_engine
    ident = engine.create("cooling", COOLING)
    clock = engine.clock
    evaluator = engine.runtime.evaluator
    alarm_id = engine.client.describe_stack_resource(engine.ctx, ident,
                                                     "busy")["physical_resource_id"]
    for _ in range(2):  # two rounds in alarm: the repeat falls in the cooldown
        start = clock()
        push(engine, ident, "busy", [{"meter": "load", "value": 5.0, "resource_id": "x",
                                      "timestamp": start + s} for s in range(0, 60, 10)])
        clock.set(start + 61)
        evaluator.evaluate()
        settle(engine, ident)
    assert engine.outputs(ident)["size"] == 2, "the second signal did not scale"
    outcomes = [h.reason_data.get("outcome") for h in evaluator.history(alarm_id)
                if h.type == "action"]
    assert sorted(outcomes) == ["ignored", "signalled"], outcomes
    (ignored,) = [h for h in evaluator.history(alarm_id) if h.type == "action"
                  and h.reason_data["outcome"] == "ignored"]
    assert "cooldown" in ignored.reason
