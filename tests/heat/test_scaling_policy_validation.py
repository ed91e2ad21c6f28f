"""OS::Metering::ScalingPolicy refuses at validation every property that would make a
signal fail, naming it; hostile signal details get a clear error, never a traceback."""
import math
import time

import pytest

from tests.support.heat_engine import settle

POLICY = """
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 5
      desired_capacity: 2
      resource: {type: OS::Heat::None}
  policy:
    type: OS::Metering::ScalingPolicy
    properties:
      auto_scaling_group_id: {get_resource: group}
      cooldown: 0
%s
outputs:
  size:
    value: {get_attr: [group, current_size]}
"""


def template(**props):
    lines = []
    for key, value in props.items():
        lines.append(f"      {key}: {value}")
    return POLICY % "\n".join(lines)


def create_error(engine, **props) -> str:
    with pytest.raises(Exception) as caught:
        engine.create(f"bad-policy-{time.monotonic_ns()}", template(**props))
    return str(caught.value)


@pytest.mark.parametrize("props, field, reason", [
    ({"adjustment_type": "exact_capacity", "target_value": 0}, "target_value",
     "must be above 0"),
    ({"adjustment_type": "exact_capacity", "target_value": -3}, "target_value",
     "must be above 0"),
    ({"adjustment_type": "exact_capacity", "target_value": 50, "tolerance": 1.5},
     "tolerance", "outside [0, 1)"),
    ({"adjustment_type": "change_in_capacity", "scaling_adjustment": 1.5},
     "scaling_adjustment", "not a whole number"),
    ({"adjustment_type": "percent_change_in_capacity", "scaling_adjustment": 1e300},
     "scaling_adjustment", "outside [-100"),
    ({"adjustment_type": "change_in_capacity", "step_adjustments":
        "[{lower_bound: 0, upper_bound: 20, scaling_adjustment: 1}, "
        "{lower_bound: 10, scaling_adjustment: 2}]"},
     "step_adjustments[1]", "overlaps step_adjustments[0]"),
])
def test_a_property_that_would_fail_a_signal_is_refused_by_name(heat_engine, props, field,
                                                                 reason):
    error = create_error(heat_engine, **props)
    assert f"resources.policy.properties.{field}" in error, error
    assert reason in error, error


@pytest.fixture(scope="module")
def tracking(heat_engine):
    engine = heat_engine
    ident = engine.create(f"tracking-{time.monotonic_ns()}", template(
        adjustment_type="exact_capacity", target_value=50, tolerance=0.2))
    return engine, ident


def signal(engine, ident, details):
    engine.client.resource_signal(engine.ctx, ident, "policy", details, sync_call=True)
    settle(engine, ident)
    return engine.outputs(ident)["size"]


@pytest.mark.parametrize("details, words", [
    ("a plain string", "signal details must be a mapping"),
    ({"current": "alarm", "value": "abc"}, "value: 'abc' is not a number"),
    ({"current": "alarm", "value": math.nan}, "value: nan is not a finite number"),
    ({"current": "alarm", "value": [1, 2]}, "value: [1, 2] is not a number"),
])
def test_hostile_signal_details_get_a_clear_error(tracking, details, words):
    engine, ident = tracking
    with pytest.raises(Exception) as caught:
        signal(engine, ident, details)
    assert words in str(caught.value), str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert engine.outputs(ident)["size"] == 2


def test_a_huge_value_resizes_to_the_group_maximum(tracking):
    engine, ident = tracking
    assert signal(engine, ident, {"current": "alarm", "value": 1e308}) == 5
    assert signal(engine, ident, {"current": "alarm", "value": 20.0}) == 2  # ceil(5 * 0.4)
