"""OS::Metering::ScalingPolicy heeds the alarm state, steps by breach size, and tracks a target."""
from tests.support.heat_engine import settle

STEPPED = """
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 10
      desired_capacity: 1
      resource: {type: OS::Heat::None}
  steps:
    type: OS::Metering::ScalingPolicy
    properties:
      adjustment_type: change_in_capacity
      auto_scaling_group_id: {get_resource: group}
      cooldown: 0
      step_adjustments:
        - {lower_bound: 0, upper_bound: 20, scaling_adjustment: 1}
        - {lower_bound: 20, scaling_adjustment: 3}
outputs:
  size:
    value: {get_attr: [group, current_size]}
"""


def signal(engine, ident, policy, **details):
    engine.client.resource_signal(engine.ctx, ident, policy, details, sync_call=True)
    settle(engine, ident)
    return engine.outputs(ident)["size"]


def test_only_an_alarm_state_scales(heat_engine):
    engine = heat_engine
    ident = engine.create("steps", STEPPED)
    assert signal(engine, ident, "steps", current="ok", value=99.0, threshold=50.0) == 1
    assert signal(engine, ident, "steps", current="insufficient data") == 1
    events = engine.client.list_events(engine.ctx, ident)
    assert not [e for e in events if e["resource_name"] == "steps"
                and e["resource_action"] == "SIGNAL"], "ignored signals leave no event"


def test_step_adjustments_follow_the_breach_size(heat_engine):
    engine = heat_engine
    ident = engine.create("steps2", STEPPED)
    assert signal(engine, ident, "steps", current="alarm", value=60.0, threshold=50.0) == 2
    assert signal(engine, ident, "steps", current="alarm", value=95.0, threshold=50.0) == 5


def test_target_tracking_resizes_in_proportion(heat_engine):
    engine = heat_engine
    ident = engine.create("track", engine.template("hot-target-tracking.yaml"))
    assert engine.outputs(ident)["size"] == 2
    assert signal(engine, ident, "track_cpu", current="alarm", value=55.0) == 2, "on target"
    assert signal(engine, ident, "track_cpu", current="alarm", value=90.0) == 4  # ceil(2*1.8)
    assert signal(engine, ident, "track_cpu", current="alarm", value=20.0) == 2  # ceil(4*0.4)


def test_exactly_one_mode_is_required(heat_engine):
    import pytest
    engine = heat_engine
    both = STEPPED.replace("      cooldown: 0\n",
                           "      cooldown: 0\n      scaling_adjustment: 1\n")
    with pytest.raises(Exception, match="exactly one of scaling_adjustment"):
        engine.create("bothmodes", both)


def test_target_tracking_from_pushed_samples_through_the_evaluator(heat_engine):
    engine = heat_engine
    ident = engine.create("track2", engine.template("hot-target-tracking.yaml"))
    clock = engine.clock
    start = clock()
    rows = [{"meter": "cpu_util", "value": 80.0, "resource_id": f"t2-vm{vm}",
             "timestamp": start + s, "metadata": {"metering.server_group": ident["stack_id"]}}
            for s in range(0, 60, 10) for vm in range(2)]
    engine.client.resource_signal(engine.ctx, ident, "cpu_off_target", {"samples": rows},
                                  sync_call=True)
    clock.set(start + 61)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident)
    assert engine.outputs(ident)["size"] == 4  # ceil(2 * 80 / 50)


def test_its_signal_event_names_the_notification_that_caused_it(heat_engine):
    """A redelivery after a crash finds the SIGNAL event by the notification's key
    (tests/heat/test_exactly_once.py): our policy's own event text carries it too, and a
    key that is not one of ours (not a uuid) is left out."""
    engine = heat_engine
    ident = engine.create("marked", STEPPED)
    key = "3f0c1e7a-5b2d-4c8e-9a61-2d7b0f4e8c19"
    assert signal(engine, ident, "steps", current="alarm", value=60.0, threshold=50.0,
                  idempotency_key=key) == 2
    assert signal(engine, ident, "steps", current="alarm", value=60.0, threshold=50.0,
                  idempotency_key="x" * 10_000) == 3
    reasons = [e["resource_status_reason"] for e in engine.client.list_events(
        engine.ctx, ident, filters={"resource_name": "steps", "resource_action": "SIGNAL"},
        sort_dir="asc")]
    assert reasons == [f"Signal: adjusted by 1 (change_in_capacity) [notification {key}]",
                       "Signal: adjusted by 1 (change_in_capacity)"]
