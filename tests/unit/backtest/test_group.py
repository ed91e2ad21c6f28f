"""The simulated autoscaling group answers signals as Heat 27's group and policies do."""
import itertools

import pytest

from heat_alarming.backtest.group import GroupSpec, Outcome, PolicySpec, SimulatedGroup
from heat_alarming.engine.scaling import calculate_new_capacity

T0 = 1_700_000_000.0
UP = PolicySpec("scale_up", scaling_adjustment=1, cooldown=60)
DOWN = PolicySpec("scale_down", scaling_adjustment=-1, cooldown=60)


def group(min_size=1, max_size=4, desired=1, resize=0.0, cooldown=None):
    return SimulatedGroup(GroupSpec(min_size, max_size, desired, resize, cooldown), T0)


def test_the_capacity_arithmetic_gives_heats_results_on_a_grid_of_cases():
    scalingutil = pytest.importorskip("heat.scaling.scalingutil")
    kinds = ("change_in_capacity", "exact_capacity", "percent_change_in_capacity",
             "ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")
    cases = itertools.product(range(0, 12), (-150, -100, -50, -33, -10, -1, 0, 1, 3, 10, 33,
                                             50, 99, 100, 250), kinds, (None, 0, 1, 2, 5),
                              ((0, 10), (1, 4), (2, 20)))
    for current, adjustment, kind, step, (low, high) in cases:
        ours = calculate_new_capacity(current, adjustment, kind, step, low, high)
        heats = scalingutil.calculate_new_capacity(current, adjustment, kind, step, low, high)
        assert ours == heats, (current, adjustment, kind, step, low, high)


def test_a_percent_change_under_one_member_still_moves_one():
    assert calculate_new_capacity(3, 10, "percent_change_in_capacity", None, 0, 10) == 4
    assert calculate_new_capacity(3, -10, "percent_change_in_capacity", None, 0, 10) == 2


def test_a_percent_change_over_one_member_rounds_towards_zero_then_takes_the_min_step():
    assert calculate_new_capacity(5, 50, "percent_change_in_capacity", None, 0, 20) == 7
    assert calculate_new_capacity(5, 50, "percent_change_in_capacity", 4, 0, 20) == 9


def test_an_accepted_signal_resizes_at_once_without_resize_time():
    g = group()
    outcome = g.signal(UP, T0)
    assert outcome == Outcome(T0, "scale_up", "signalled", None, 1, 2)
    assert g.size(T0) == 2 and g.desired() == 2


def test_signals_within_the_cooldown_are_dropped_as_cooldown():
    g = group()
    g.signal(UP, T0)
    assert g.signal(UP, T0 + 59).why == "cooldown"
    assert g.signal(UP, T0 + 60).status == "signalled"
    assert g.size(T0 + 60) == 3


def test_the_cooldown_is_the_groups_one_for_every_policy():
    g = group(desired=2)
    g.signal(UP, T0)
    dropped = g.signal(DOWN, T0 + 30)
    assert (dropped.status, dropped.why, dropped.old_size, dropped.new_size) == (
        "ignored", "cooldown", 3, 3)


def test_a_policy_without_cooldown_takes_the_groups_and_else_none():
    no_cooldown = PolicySpec("up", scaling_adjustment=1)
    g = group(cooldown=100)
    g.signal(no_cooldown, T0)
    assert g.signal(no_cooldown, T0 + 99).why == "cooldown"
    g = group()
    g.signal(no_cooldown, T0)
    assert g.signal(no_cooldown, T0).status == "signalled"


def test_a_signal_that_changes_nothing_is_no_change_even_in_cooldown():
    g = group(max_size=2)
    g.signal(UP, T0)
    assert g.signal(UP, T0 + 10).why == "no_change"
    assert g.signal(DOWN, T0 + 10).why == "cooldown"


def test_a_resize_lands_after_its_resize_seconds_and_drops_signals_meanwhile():
    g = group(resize=30)
    accepted = g.signal(UP, T0)
    assert (accepted.old_size, accepted.new_size) == (1, 2)
    assert g.size(T0 + 29) == 1 and g.desired() == 2
    assert g.signal(UP, T0 + 29).why == "scaling_in_progress"
    assert g.size(T0 + 30) == 2


def test_the_cooldown_counts_from_the_end_of_the_resize():
    g = group(resize=30)
    g.signal(UP, T0)
    assert g.signal(UP, T0 + 89).why == "cooldown"  # landed at +30, cooldown 60
    assert g.signal(UP, T0 + 90).status == "signalled"


def test_outcomes_are_kept_in_order():
    g = group()
    g.signal(UP, T0)
    g.signal(UP, T0 + 1)
    assert [(o.status, o.why) for o in g.outcomes] == [("signalled", None),
                                                       ("ignored", "cooldown")]


def test_exact_capacity_is_clamped_to_the_group_limits():
    g = group()
    assert g.signal(PolicySpec("p", "exact_capacity", 9), T0).new_size == 4


def test_step_adjustments_choose_by_the_breach_of_value_over_threshold():
    steps = ({"lower_bound": 0, "upper_bound": 20, "scaling_adjustment": 1},
             {"lower_bound": 20, "scaling_adjustment": 3})
    policy = PolicySpec("steps", step_adjustments=steps, only_on_alarm=True)
    g = group(max_size=10)
    assert g.signal(policy, T0, {"current": "alarm", "value": 85, "threshold": 50}).new_size == 4
    g = group(max_size=10)
    assert g.signal(policy, T0, {"current": "alarm", "value": 60, "threshold": 50}).new_size == 2


def test_a_step_policy_without_a_value_or_a_step_for_the_breach_does_nothing():
    steps = ({"lower_bound": 0, "upper_bound": 20, "scaling_adjustment": 1},)
    policy = PolicySpec("steps", step_adjustments=steps)
    g = group()
    assert g.signal(policy, T0, {"current": "alarm"}).why == "no_change"
    assert g.signal(policy, T0, {"value": 90, "threshold": 50}).why == "no_change"


def test_target_tracking_resizes_to_size_times_value_over_target():
    policy = PolicySpec("track", target_value=50, only_on_alarm=True)
    g = group(desired=2, max_size=10)
    # ceil(2 * 80 / 50) = 4
    assert g.signal(policy, T0, {"current": "alarm", "value": 80}).new_size == 4


def test_target_tracking_within_the_tolerance_does_nothing():
    policy = PolicySpec("track", target_value=50)  # tolerance 0.1: 45..55 on target
    g = group(desired=2)
    assert g.signal(policy, T0, {"current": "alarm", "value": 54}).why == "no_change"


def test_a_metering_policy_ignores_signals_of_other_states_and_heats_does_not():
    g = group()
    assert g.signal(PolicySpec("m", scaling_adjustment=1, only_on_alarm=True), T0,
                    {"current": "ok"}).why == "no_change"
    assert g.signal(PolicySpec("h", scaling_adjustment=1), T0,
                    {"current": "ok"}).status == "signalled"


@pytest.mark.parametrize("sizes, field", [((-1, 2, 1), "min_size"), ((2, 1, 1), "max_size"),
                                          ((1, 2, 3), "desired_capacity")])
def test_impossible_group_sizes_are_refused_naming_the_field(sizes, field):
    with pytest.raises(ValueError, match=field):
        GroupSpec(*sizes)
