"""Scaling arithmetic of OS::Metering::ScalingPolicy: checks and capacities (no Heat)."""
import math

import pytest

from heat_alarming.engine.scaling import (
    CHANGE_IN_CAPACITY,
    EXACT_CAPACITY,
    PERCENT_CHANGE_IN_CAPACITY,
    ScalingError,
    check_adjustment,
    check_steps,
    check_target,
    finite,
    step_adjustment,
    target_capacity,
)


@pytest.mark.parametrize("value", ["abc", None, [], {}, True, math.nan, math.inf, "nan",
                                   "-inf", 10 ** 400])
def test_only_finite_numbers_pass(value):
    with pytest.raises(ScalingError) as caught:
        finite("value", value)
    assert caught.value.field == "value"


def test_numbers_and_numeric_text_pass():
    assert finite("value", "42.5") == 42.5 and finite("value", 7) == 7.0


@pytest.mark.parametrize("adjustment, kind, reason", [
    (1.5, CHANGE_IN_CAPACITY, "whole number"),
    (-1, EXACT_CAPACITY, "not a group size"),
    (2.5, EXACT_CAPACITY, "whole number"),
    (-101, PERCENT_CHANGE_IN_CAPACITY, "outside"),
    (1e6, PERCENT_CHANGE_IN_CAPACITY, "outside"),
    (math.inf, CHANGE_IN_CAPACITY, "finite"),
])
def test_adjustments_heat_cannot_apply_are_refused(adjustment, kind, reason):
    with pytest.raises(ScalingError, match=reason) as caught:
        check_adjustment("scaling_adjustment", adjustment, kind)
    assert caught.value.field == "scaling_adjustment"


def test_adjustments_heat_can_apply_pass():
    assert check_adjustment("a", -2, CHANGE_IN_CAPACITY) == -2
    assert check_adjustment("a", 0, EXACT_CAPACITY) == 0
    assert check_adjustment("a", 33.3, PERCENT_CHANGE_IN_CAPACITY) == 33.3


@pytest.mark.parametrize("steps, field, reason", [
    ([{"lower_bound": 10, "upper_bound": 10, "scaling_adjustment": 1}],
     "step_adjustments[0].lower_bound", "below upper_bound"),
    ([{"lower_bound": 0, "upper_bound": 20, "scaling_adjustment": 1},
      {"lower_bound": 10, "scaling_adjustment": 2}], "step_adjustments[1]", "overlaps"),
    ([{"upper_bound": 5, "scaling_adjustment": 1},
      {"upper_bound": 50, "scaling_adjustment": 2}], "step_adjustments[1]", "overlaps"),
    ([{"lower_bound": "nan", "scaling_adjustment": 1}],
     "step_adjustments[0].lower_bound", "finite"),
    ([{"lower_bound": 0, "scaling_adjustment": 0.5}],
     "step_adjustments[0].scaling_adjustment", "whole number"),
])
def test_bad_steps_are_refused_naming_the_step(steps, field, reason):
    with pytest.raises(ScalingError, match=reason) as caught:
        check_steps("step_adjustments", steps, CHANGE_IN_CAPACITY)
    assert caught.value.field == field


def test_disjoint_steps_pass_and_the_breach_picks_one():
    steps = [{"lower_bound": 20, "scaling_adjustment": 3},
             {"lower_bound": 0, "upper_bound": 20, "scaling_adjustment": 1}]
    check_steps("step_adjustments", steps, CHANGE_IN_CAPACITY)
    assert step_adjustment(steps, 5.0) == 1 and step_adjustment(steps, 20.0) == 3
    assert step_adjustment(steps, -1.0) is None


@pytest.mark.parametrize("target, tolerance, field", [
    (0, 0.1, "target_value"), (-5, 0.1, "target_value"), ("inf", 0.1, "target_value"),
    (50, 1.0, "tolerance"), (50, -0.1, "tolerance"), (50, "nan", "tolerance"),
])
def test_targets_that_would_divide_by_zero_or_never_act_are_refused(target, tolerance, field):
    with pytest.raises(ScalingError) as caught:
        check_target("target_value", target, "tolerance", tolerance)
    assert caught.value.field == field


def test_target_capacity_follows_the_ratio_within_the_group_bounds():
    assert target_capacity(2, 55.0, 50.0, 0.1, 10) is None           # on target
    assert target_capacity(2, 90.0, 50.0, 0.1, 10) == 4              # ceil(2 * 1.8)
    assert target_capacity(4, 20.0, 50.0, 0.1, 10) == 2              # ceil(4 * 0.4)
    assert target_capacity(4, 0.0, 50.0, 0.1, 10) == 1               # never below 1
    assert target_capacity(3, 1e308, 1e-3, 0.1, 10) == 10            # huge: the maximum
    assert target_capacity(0, 90.0, 50.0, 0.1, 10) == 1
