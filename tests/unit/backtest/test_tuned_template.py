"""hot-autoscaling-tuned.yaml: what a backtest reads of it, and how it scales a group.

Its scale-out policy grows the group by percent steps chosen by the breach over
scale_out_above (60), its scale-in policy tracks a 50 % target and acts only outside
40 to 60 (tolerance 0.2); the alarms look
at one 60 s period (out) and five (in). Expected sizes are worked out by hand
from Heat's rounding of percent changes (under one member: away from zero).
"""
import numpy as np

from heat_alarming import shipped
from heat_alarming.backtest.compare import hpa_target_of
from heat_alarming.backtest.group import wanted_capacity
from heat_alarming.backtest.replay import replay
from heat_alarming.backtest.template import read_template
from heat_alarming.backtest.trace import Trace

T0 = 1_700_000_040.0  # a whole minute
TUNED = shipped.template_path("hot-autoscaling-tuned.yaml")


def tuned(**parameters):
    return read_template(TUNED, parameters)


def test_the_tuned_template_reads_as_a_group_of_one_to_eight_with_two_metering_policies():
    scenario = tuned()
    assert (scenario.group.min_size, scenario.group.max_size,
            scenario.group.desired_capacity) == (1, 8, 1)
    out, scale_in = scenario.policies["scale_out"], scenario.policies["scale_in"]
    assert out.adjustment_type == "percent_change_in_capacity"
    assert out.min_adjustment_step == 1 and out.cooldown == 60
    assert [s["scaling_adjustment"] for s in out.step_adjustments] == [20, 50, 100, 300]
    assert (scale_in.target_value, scale_in.tolerance, scale_in.cooldown) == (50.0, 0.2, 60)
    assert out.only_on_alarm and scale_in.only_on_alarm


def test_its_alarms_scale_out_after_one_period_above_60_and_in_after_five_below_45():
    alarms = tuned().alarms
    high = alarms["cpu_alarm_high"]["threshold_rule"]
    low = alarms["cpu_alarm_low"]["threshold_rule"]
    assert (high["period"], high["evaluation_periods"], high["threshold"],
            high["comparison_operator"]) == (60, 1, 60, "gt")
    assert (low["period"], low["evaluation_periods"], low["threshold"],
            low["comparison_operator"]) == (60, 5, 45, "lt")
    assert alarms["cpu_alarm_high"]["alarm_actions"] == ["inproc://backtest/scale_out"]
    assert alarms["cpu_alarm_low"]["alarm_actions"] == ["inproc://backtest/scale_in"]


def test_a_saturated_member_quadruples_the_group_within_max_size():
    scenario = tuned()
    out, group = scenario.policies["scale_out"], scenario.group
    saturated = {"current": "alarm", "value": 100.0, "threshold": 60.0}
    assert wanted_capacity(out, 1, group, saturated) == 4      # 1 + 300 % of 1
    assert wanted_capacity(out, 3, group, saturated) == 8      # 3 + 9, kept at max_size


def test_a_small_breach_adds_a_fifth_and_at_least_one_member():
    scenario = tuned()
    out, group = scenario.policies["scale_out"], scenario.group
    assert wanted_capacity(out, 4, group, {"current": "alarm", "value": 62.5,
                                           "threshold": 60.0}) == 5  # 0.8 rounds up to 1
    assert wanted_capacity(out, 5, group, {"current": "alarm", "value": 75.0,
                                           "threshold": 60.0}) == 7  # +50 % of 5 = 2.5 -> 2


def test_a_scale_in_goes_to_the_size_that_brings_the_load_to_50():
    scenario = tuned()
    scale_in, group = scenario.policies["scale_in"], scenario.group
    assert wanted_capacity(scale_in, 6, group, {"current": "alarm", "value": 30.0}) == 4
    assert wanted_capacity(scale_in, 5, group, {"current": "alarm", "value": 6.0}) == 1


def test_a_scale_in_signal_whose_newest_value_rose_back_to_57_changes_nothing():
    scenario = tuned()
    scale_in, group = scenario.policies["scale_in"], scenario.group
    assert wanted_capacity(scale_in, 1, group, {"current": "alarm", "value": 57.0}) is None
    assert wanted_capacity(scale_in, 4, group, {"current": "alarm", "value": 41.0}) is None


def test_the_hpa_model_is_given_the_scale_in_target_of_50():
    assert hpa_target_of(tuned()) == 50.0


def test_a_jump_to_two_and_a_half_servers_is_served_after_two_periods_and_undone_after_five():
    rows = [30.0] * 5 + [250.0] * 6 + [30.0] * 8
    trace = Trace(times=T0 + 60.0 * np.arange(len(rows)), demand=np.array(rows))
    result = replay(tuned(), trace)
    # 250 on one member: 100 %, x4; on four: 62.5 %, +1; on five: 50 %, held; the
    # drop to 30 (6 % each) is five periods below 45 before the group goes back to one
    assert [p.size for p in result.periods] == [1] * 5 + [4] + [5] * 9 + [1] * 4
    resized = [(o.policy, o.old_size, o.new_size) for o in result.outcomes
               if o.status == "signalled"]
    assert resized == [("scale_out", 1, 4), ("scale_out", 4, 5), ("scale_in", 5, 1)]
