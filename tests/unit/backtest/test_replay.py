"""A replay runs the real evaluator over a trace and scales a simulated group.

Times are relative to T0, a whole minute; the alarms' periods are 60 s, so a
round runs at every minute and the alarms' states at a period's end are those
after that minute's round.
"""
import dataclasses
import math

import numpy as np
import pytest

from heat_alarming import shipped
from heat_alarming.backtest.replay import Period, StateChange, replay
from heat_alarming.backtest.template import read_template, scenario_of
from heat_alarming.backtest.trace import Trace
from heat_alarming.metering import ManualClock, Sample

T0 = 1_700_000_040.0  # a whole minute
AUTOSCALING = shipped.template_path("hot-autoscaling.yaml")


def demand(*rows):
    return Trace(times=T0 + 60.0 * np.arange(len(rows)), demand=np.array(rows, dtype=float))


def autoscaling(**parameters):
    return read_template(AUTOSCALING, parameters)


def actions(period: Period):
    return [(o.policy, o.status, o.why, o.old_size, o.new_size) for o in period.outcomes]


def test_a_step_load_fires_the_high_alarm_after_two_periods_and_grows_one_per_cooldown():
    # 20% for three minutes, then 300%: one member reports 100 (it cannot do more)
    result = replay(autoscaling(cooldown="120"), demand(20, 20, 20, *[300] * 8))
    p = result.periods
    assert [x.states["cpu_alarm_high"] for x in p[:5]] == [
        "insufficient data", "ok", "ok", "ok", "alarm"]  # rows 3 and 4 breach: at 300 s
    assert [x.size for x in p] == [1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    assert actions(p[4]) == [("scale_up", "signalled", None, 1, 2)]
    assert actions(p[5]) == [("scale_up", "ignored", "cooldown", 2, 2)]
    assert actions(p[6]) == [("scale_up", "signalled", None, 2, 3)]
    assert actions(p[7]) == [("scale_up", "ignored", "cooldown", 3, 3)]
    assert actions(p[8]) == [("scale_up", "signalled", None, 3, 4)]
    assert actions(p[9]) == [("scale_up", "ignored", "no_change", 4, 4)]  # at max_size


def test_members_report_the_demand_shared_by_the_members_in_service_at_most_100():
    result = replay(autoscaling(cooldown="120"), demand(20, 20, 20, *[300] * 8))
    assert [x.value for x in result.periods] == [20, 20, 20, 100, 100, 100,
                                                 100, 100, 100, 75, 75]
    assert [x.demand for x in result.periods] == [20, 20, 20] + [300] * 8


def test_a_low_load_shrinks_the_group_to_its_min_size():
    scenario = autoscaling(cooldown="0")
    scenario = dataclasses.replace(scenario, group=dataclasses.replace(scenario.group,
                                                                       desired_capacity=3))
    result = replay(scenario, demand(*[10] * 5))
    p = result.periods
    # rows 0 and 1 below 15: the low alarm fires at 120 s, the end of row 1
    assert [x.size for x in p] == [3, 2, 1, 1, 1]
    assert actions(p[1]) == [("scale_down", "signalled", None, 3, 2)]
    assert actions(p[2]) == [("scale_down", "signalled", None, 2, 1)]
    assert actions(p[3]) == [("scale_down", "ignored", "no_change", 1, 1)]
    assert p[1].value == pytest.approx(10 / 3) and p[2].value == 5


def test_the_transitions_are_those_the_rounds_decided():
    result = replay(autoscaling(cooldown="120"), demand(20, 20, 20, 300, 300))
    assert result.transitions == [
        StateChange(T0 + 120, "cpu_alarm_high", "insufficient data", "ok"),
        StateChange(T0 + 120, "cpu_alarm_low", "insufficient data", "ok"),
        StateChange(T0 + 300, "cpu_alarm_high", "ok", "alarm")]
    assert result.rounds == 5


def test_without_repeat_actions_the_policy_is_signalled_once_per_transition():
    result = replay(autoscaling(cooldown="0", repeat_actions="false"),
                    demand(20, 20, 20, *[300] * 5))
    assert [(o.at - T0, o.status) for o in result.outcomes] == [(300, "signalled")]
    assert result.periods[-1].size == 2


def test_an_action_delay_makes_the_group_hear_the_round_later():
    result = replay(autoscaling(cooldown="120"), demand(20, 20, 20, 300, 300, 300),
                    action_delay=30)
    p = result.periods
    assert p[4].size == 1 and p[4].outcomes == ()
    assert actions(p[5]) == [("scale_up", "signalled", None, 1, 2)]
    assert result.outcomes[0].at == T0 + 330


def test_signals_during_a_resize_are_dropped_as_scaling_in_progress():
    scenario = read_template(AUTOSCALING, {"cooldown": "0"}, resize_seconds=90)
    result = replay(scenario, demand(20, 20, 20, *[300] * 5))
    assert [(o.at - T0, o.status, o.why) for o in result.outcomes] == [
        (300, "signalled", None), (360, "ignored", "scaling_in_progress"),
        (420, "signalled", None), (480, "ignored", "scaling_in_progress")]
    assert [x.size for x in result.periods[4:]] == [1, 1, 2, 2]  # landed at 390


def test_evaluate_every_runs_full_rounds_at_a_fixed_interval_from_the_start():
    # rows start 30 s into a minute: their samples, mid-row, open each minute; the rounds
    # run 30 s after each close (90, 150, ...); at 210 two closed minutes breach
    trace = Trace(times=T0 + 30 + 60.0 * np.arange(6), demand=np.array([300.0] * 6))
    result = replay(autoscaling(cooldown="0"), trace, evaluate_every=60)
    assert result.rounds == 6
    assert [o.at - T0 for o in result.outcomes] == [210, 270, 330, 390]


def test_the_replay_moves_the_given_clock():
    clock = ManualClock(0)
    replay(autoscaling(), demand(20, 20), clock=clock)
    assert clock() == T0 + 120


def test_a_samples_trace_is_ingested_as_recorded_and_only_matching_samples_count():
    scenario = autoscaling(cooldown="0")
    ours = dict(scenario.metadata)
    others = {"user_metadata.server_group": "another stack"}
    samples = [Sample("cpu_util", 90.0, "vm-1", timestamp=T0 + 10, resource_metadata=ours),
               Sample("cpu_util", 70.0, "vm-2", timestamp=T0 + 20, resource_metadata=ours),
               Sample("cpu_util", 0.0, "vm-9", timestamp=T0 + 30, resource_metadata=others),
               Sample("cpu_util", 90.0, "vm-1", timestamp=T0 + 70, resource_metadata=ours),
               Sample("cpu_util", 80.0, "vm-2", timestamp=T0 + 80, resource_metadata=ours),
               Sample("cpu_util", 90.0, "vm-1", timestamp=T0 + 130, resource_metadata=ours)]
    result = replay(scenario, Trace(samples=samples))
    p = result.periods
    assert [(x.start - T0, x.end - T0) for x in p] == [(0, 60), (60, 120), (120, 180)]
    assert [x.value for x in p] == [80, 85, 90]
    assert math.isnan(p[0].demand)
    # avg 80, 85 > 50 for two periods: alarm at 120; the round at 180 repeats it
    assert [x.states["cpu_alarm_high"] for x in p] == ["insufficient data", "alarm", "alarm"]
    assert [x.size for x in p] == [1, 2, 3]


def test_a_composite_alarm_is_decided_from_its_leaves():
    scenario = read_template(shipped.template_path("hot-composite.yaml"))
    result = replay(scenario, demand(90, 90, 90))
    # cpu_high is above 70, but no requests_per_second samples: busy stays undecided
    assert result.periods[-1].states["cpu_high"] == "alarm"
    assert result.periods[-1].states["busy"] != "alarm" and result.outcomes == []


def test_a_bad_evaluate_every_or_action_delay_is_refused():
    with pytest.raises(ValueError, match="evaluate_every"):
        replay(autoscaling(), demand(1, 1), evaluate_every=0)
    with pytest.raises(ValueError, match="action_delay"):
        replay(autoscaling(), demand(1, 1), action_delay=-1)


def test_a_trace_step_of_a_fraction_of_a_second_is_refused():
    trace = Trace(times=np.array([0.0, 0.5]), demand=np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="trace step: 0.5 s is not a whole number"):
        replay(autoscaling(), trace)


def test_the_timeline_has_one_row_per_period_with_the_size_at_its_start():
    result = replay(autoscaling(cooldown="0"), demand(20, 20, 20, 300, 300, 300, 5, 5, 5))
    # up at 300, 360 and 420 (at 420 one period breaches and one does not: the alarm
    # holds and repeats), down at 480 and 540
    assert [x.size for x in result.periods] == [1, 1, 1, 1, 2, 3, 4, 3, 2]
    timeline = result.timeline()
    assert timeline.times.tolist() == [T0 + 60 * i for i in range(9)]
    assert timeline.sizes.tolist() == [1, 1, 1, 1, 1, 2, 3, 4, 3]
    assert timeline.values.tolist() == [x.value for x in result.periods]
    assert timeline.step == 60 and timeline.scale_actions == 5 and timeline.flaps == 1


def test_a_group_of_no_members_reports_nothing():
    template = {"resources": {
        "group": {"type": "OS::Heat::AutoScalingGroup",
                  "properties": {"min_size": 0, "max_size": 2, "desired_capacity": 0}},
        "up": {"type": "OS::Heat::ScalingPolicy",
               "properties": {"auto_scaling_group_id": {"get_resource": "group"},
                              "adjustment_type": "exact_capacity", "scaling_adjustment": 2}},
        "busy": {"type": "OS::Metering::Alarm",
                 "properties": {"meter_name": "cpu_util", "threshold": 1,
                                "comparison_operator": "gt", "alarm_actions": ["up"]}}}}
    result = replay(scenario_of(template), demand(50, 50))
    assert [x.size for x in result.periods] == [0, 0]
    assert all(math.isnan(x.value) for x in result.periods)
    assert result.periods[1].states == {"busy": "insufficient data"}


def test_members_that_come_back_after_a_long_absence_report_again():
    # up to 4, down to 1 for 90 minutes (longer than the store keeps a silent series, an
    # hour), up to 4 again: every member's samples are taken
    result = replay(autoscaling(cooldown="0"),
                    demand(*[20] * 3, *[300] * 10, *[5] * 90, *[300] * 10))
    assert result.refused == 0
    assert [x.size for x in result.periods][-1] == 4 and result.periods[-1].value == 75


def test_alarm_periods_shorter_than_the_trace_step_get_a_sample_per_period():
    # 30 s periods on one-minute rows: two ticks a row, a round every 30 s
    result = replay(autoscaling(period="30", cooldown="0"), demand(20, 20, 300, 300))
    assert result.rounds == 8
    # rows 2 and 3 breach from 120 s: two 30 s periods have closed by 180 s
    assert [o.at - T0 for o in result.outcomes] == [180, 210, 240]
    assert [x.size for x in result.periods] == [1, 1, 2, 4]
