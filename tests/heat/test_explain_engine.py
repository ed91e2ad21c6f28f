"""An alarm of a stack explains itself: samples pushed through its signal, rounds of the
evaluator inside heat-engine, signals Heat answers or drops (the in-process engine)."""
import pytest

from tests.support.heat_engine import push, settle

TEMPLATE = """
heat_template_version: 2016-10-14
parameters:
  max_size: {type: number, default: 5}
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: {get_param: max_size}
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
      evaluation_periods: 2
      repeat_actions: true
      alarm_actions: [up]
outputs:
  size:
    value: {get_attr: [group, current_size]}
"""


def alarm_of(engine, ident):
    return engine.client.describe_stack_resource(engine.ctx, ident,
                                                 "busy")["physical_resource_id"]


def busy_periods(engine, ident, periods, value=5.0):
    """Push ``periods`` periods of samples through the alarm's signal, one round each."""
    clock, evaluator = engine.clock, engine.runtime.evaluator
    for _ in range(periods):
        start = clock()
        push(engine, ident, "busy", [{"meter": "load", "value": value, "resource_id": "x",
                                      "timestamp": start + s} for s in range(0, 60, 10)])
        clock.set(start + 60)
        evaluator.evaluate()
        settle(engine, ident)


@pytest.mark.parametrize(("max_size", "why", "words"), [
    (5, "cooldown", "the group's cooldown runs until"),
    (1, "no_change", "the group is at its size limit"),
])
def test_a_signal_heat_drops_is_explained_with_heats_reason(heat_engine, max_size, why,
                                                            words):
    engine = heat_engine
    ident = engine.create(f"explained-{why}", TEMPLATE, params={"max_size": max_size})
    alarm_id = alarm_of(engine, ident)
    busy_periods(engine, ident, 4)  # alarm, then repeats Heat drops
    explanation = engine.runtime.evaluator.explain(alarm_id)
    action = explanation["last_action"]
    assert action["outcome"] == "ignored" and action["why"] == why
    assert words in action["reason"]
    assert explanation["summary"].startswith("alarm: 2 of 2 periods had avg load > 1")
    assert explanation["summary"].endswith(f"; the last action was ignored by Heat ({why})")


def test_a_refused_push_is_listed_with_its_reason(heat_engine):
    engine = heat_engine
    ident = engine.create("explained-refused", TEMPLATE)
    alarm_id = alarm_of(engine, ident)
    start = engine.clock()
    with pytest.raises(Exception, match="volume"):
        push(engine, ident, "busy", [{"meter": "load", "value": "lots", "resource_id": "x",
                                      "timestamp": start}])
    explanation = engine.runtime.evaluator.explain(alarm_id)
    (refused,) = explanation["rejected"]
    assert refused["field"] == "volume" and refused["rows"] == 1
    assert "1 sample of load was refused recently" in explanation["summary"]


def test_empty_periods_explain_insufficient_data(heat_engine):
    engine = heat_engine
    ident = engine.create("explained-empty", TEMPLATE)
    alarm_id = alarm_of(engine, ident)
    busy_periods(engine, ident, 1)
    engine.clock.set(engine.clock() + 120)  # two periods without a sample
    engine.runtime.evaluator.evaluate()
    explanation = engine.runtime.evaluator.explain(alarm_id)
    assert [p["empty"] for p in explanation["periods"]] == [False, True, True]
    assert explanation["state"] == "insufficient data"
    assert explanation["summary"].startswith(
        "insufficient data: 1 of the 2 periods needed had data (1 series matched); 2 of the "
        "3 periods read were empty")
    assert engine.runtime.evaluator.get(alarm_id).state_reason.startswith(
        explanation["summary"].split(";")[0])
