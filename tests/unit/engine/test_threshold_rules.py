"""Threshold alarms decide as Aodh does: every case, with its reason and reason_data."""
import dataclasses

import numpy as np
import pytest

from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, ThresholdRule
from heat_alarming.engine.rules import V_MIXED, V_OK
from heat_alarming.engine.threshold import ThresholdGroup

B, G = 80.0, 20.0  # a breaching and a good period average (threshold 50, gt)


def last(rounds):
    return rounds[-1]


def test_fewer_datapoints_than_evaluation_periods_is_insufficient_data(world):
    alarm = world.alarm()
    rounds = world.feed(B, B)
    assert alarm.state == UNKNOWN
    assert rounds == [[], []], "already insufficient: nothing to record or notify"


def test_all_breaching_goes_to_alarm_with_the_explanation_then_aodhs_reason(world):
    alarm = world.alarm()
    world.feed(G, G, G)
    world.delivered()
    (change,) = last(world.feed(B, B, B))
    assert alarm.state == ALARM
    assert change["previous"] == OK and change["current"] == ALARM
    assert alarm.state_reason == (
        "alarm: 3 of 3 periods had avg cpu_util > 50 (most recent 80.0). "
        "Transition to alarm due to 3 samples outside threshold, most recent: 80.0")
    assert change["reason_data"] == {"type": "threshold", "disposition": "outside",
                                     "count": 3, "most_recent": 80.0}
    (note,) = world.delivered()
    assert {k: note[k] for k in ("alarm_id", "alarm_name", "severity", "previous",
                                 "current", "reason", "reason_data")} == {
        "alarm_id": alarm.alarm_id, "alarm_name": "cpu-high", "severity": "low",
        "previous": OK, "current": ALARM, "reason": alarm.state_reason,
        "reason_data": change["reason_data"]}


def test_none_breaching_goes_to_ok_counting_the_samples_inside(world):
    alarm = world.alarm()
    (change,) = last(world.feed(G, G, G))
    assert alarm.state == OK
    assert alarm.state_reason == (
        "ok: 0 of 3 periods had avg cpu_util > 50 (most recent 20.0). "
        "Transition to ok due to 3 samples inside threshold, most recent: 20.0")
    assert change["reason_data"]["disposition"] == "inside"
    assert change["reason_data"]["count"] == 3


@pytest.mark.parametrize("prior, periods", [(OK, (G, G, G)), (ALARM, (B, B, B))])
def test_a_mix_keeps_the_current_state_and_notifies_nothing(world, prior, periods):
    alarm = world.alarm()
    world.feed(*periods)
    assert alarm.state == prior
    world.delivered()
    rounds = world.feed(B if prior == OK else G)  # now a mixed window
    assert alarm.state == prior and rounds == [[]] and world.delivered() == []


@pytest.mark.parametrize("newest, expected", [(B, ALARM), (G, OK)])
def test_a_mix_resolves_insufficient_data_by_the_trend(world, newest, expected):
    alarm = world.alarm()
    other = G if newest == B else B
    (change,) = last(world.feed(other, other, newest))
    assert alarm.state == expected
    outside = 1 if newest == B else 2
    count = outside if expected == ALARM else 3 - outside
    assert change["reason_data"]["count"] == count
    assert change["reason_data"]["most_recent"] == newest


def test_repeat_actions_notifies_every_round_while_the_state_holds(world):
    alarm = world.alarm(repeat_actions=True)
    world.feed(B, B, B)
    world.delivered()
    world.feed(B, B)
    notes = world.delivered()
    assert [n["current"] for n in notes] == [ALARM, ALARM]
    assert notes[0]["reason"].startswith("alarm: 3 of 3 periods had avg cpu_util > 50 "
                                         "(most recent 80.0). Remaining as alarm due to "
                                         "3 samples outside")
    assert len({n["idempotency_key"] for n in notes}) == 2, "each round its own key"
    assert len(world.evaluator.history(alarm.alarm_id)) == 1, "history holds transitions"


def test_repeat_actions_on_a_mix_remains_and_notifies(world):
    alarm = world.alarm(repeat_actions=True)
    world.feed(G, G, G)
    world.delivered()
    (change,) = last(world.feed(B))
    assert alarm.state == OK and change["transition"] is False
    assert change["reason"] == ("ok: 1 of 3 periods had avg cpu_util > 50 (most recent "
                                "80.0). Remaining as ok due to 2 samples inside threshold, "
                                "most recent: 80.0")


def test_without_repeat_actions_a_steady_state_notifies_once(world):
    world.alarm()
    world.feed(B, B, B, B, B)
    assert [n["current"] for n in world.delivered()] == [ALARM]


def test_losing_data_goes_to_insufficient_data_with_the_unknown_reason(world):
    alarm = world.alarm()
    world.feed(G, G, G)
    first, (change,) = world.feed(None, None)
    assert first == [], "one empty period is bridged by the look-back period"
    assert alarm.state == UNKNOWN
    assert alarm.state_reason == (
        "insufficient data: 2 of the 3 periods needed had data (1 series matched); 2 of the "
        "4 periods read were empty. 3 datapoints are unknown")
    assert change["reason_data"] == {"type": "threshold", "disposition": "unknown",
                                     "count": 3, "most_recent": 20.0}
    assert [n["current"] for n in world.delivered()][-1] == UNKNOWN


def test_one_empty_period_is_bridged_by_the_look_back_period(world):
    alarm = world.alarm()
    world.feed(B, B, None, B)
    assert alarm.state == ALARM


def test_only_closed_periods_are_datapoints(world):
    alarm = world.alarm()
    world.feed(G, G)
    # samples in the period that is still open do not count yet
    for i in range(6):
        world.store.add(__import__("heat_alarming.metering", fromlist=["Sample"]).Sample(
            "cpu_util", 20.0, "vm-1", timestamp=world.clock() + i))
    world.evaluator.evaluate(world.clock() + 10)
    assert alarm.state == UNKNOWN


def test_exclude_outliers_drops_periods_whose_sample_count_is_beyond_two_sigma():
    counts = np.array([[6], [6], [6], [6], [6], [1]])
    values = {"avg": np.array([[G], [G], [G], [G], [G], [B]])}
    rule = ThresholdRule.from_dict({"meter_name": "m", "threshold": 50,
                                    "comparison_operator": "gt", "evaluation_periods": 3})
    plain = ThresholdGroup(60, [rule], [None]).decide(counts[-4:], values_tail(values, 4))
    careful_rule = dataclasses.replace(rule, exclude_outliers=True)
    careful = ThresholdGroup(60, [careful_rule], [None]).decide(counts, values)
    assert plain.verdict[0] == V_MIXED and plain.outside[0] == 1
    # mean 5.17, sigma 1.86: a count of 1 is below mean - 2 sigma and is dropped
    assert careful.verdict[0] == V_OK and careful.points[0] == 3
    assert careful.most_recent[0] == G


def values_tail(values, n):
    return {k: v[-n:] for k, v in values.items()}


def test_exclude_outliers_keeps_a_weak_period_from_firing_an_alarm(world):
    plain = world.alarm({"datapoints_to_alarm": 1}, name="plain")
    careful = world.alarm({"datapoints_to_alarm": 1, "exclude_outliers": True}, name="careful")
    world.feed(G, G, G, G, G, (B, 1))  # one breaching period from a single sample
    assert plain.state == ALARM
    assert careful.state == OK
    world.feed(B)  # a healthy breaching period is no outlier
    assert careful.state == ALARM


@pytest.mark.parametrize("breaching, expected", [(3, ALARM), (2, OK)])
def test_datapoints_to_alarm_m_of_n(world, breaching, expected):
    alarm = world.alarm({"evaluation_periods": 5, "datapoints_to_alarm": 3})
    periods = [B] * breaching + [G] * (5 - breaching)
    world.feed(*periods)
    assert alarm.state == expected


def test_missing_data_ignore_keeps_the_state(world):
    alarm = world.alarm({"missing_data": "ignore"})
    world.feed(B, B, B)
    world.feed(None, None, None, None)
    assert alarm.state == ALARM


@pytest.mark.parametrize("policy, expected", [("breaching", ALARM), ("not_breaching", OK)])
def test_missing_data_filled_as_breaching_or_not(world, policy, expected):
    alarm = world.alarm({"missing_data": policy})
    world.feed(G if policy == "breaching" else B, None, None, None)
    assert alarm.state == expected


def test_missing_data_breaching_alarms_on_silence_and_a_good_period_is_a_mix(world):
    alarm = world.alarm({"missing_data": "breaching"})
    first, second, third = world.feed(None, None, G)
    (change,) = first
    assert change["current"] == ALARM and change["reason_data"]["most_recent"] is None
    assert second == [] and third == []
    assert alarm.state == ALARM, "two silent periods and a good one: a mix keeps alarm"


def test_the_statistic_is_the_rules_own(world):
    high_max = world.alarm({"statistic": "max", "threshold": 85}, name="max")
    low_count = world.alarm({"statistic": "count", "threshold": 3, "comparison_operator": "lt"},
                            name="count")
    world.feed((B, 2), (B, 2), (B, 2))
    assert high_max.state == OK
    assert low_count.state == ALARM


def test_a_disabled_alarm_is_not_evaluated(world):
    alarm = world.alarm(enabled=False)
    world.feed(B, B, B)
    assert alarm.state == UNKNOWN
    world.evaluator.set_enabled(alarm.alarm_id, True)
    world.feed(B)
    assert alarm.state == ALARM


def test_an_alarm_reads_only_its_projects_series(world):
    mine = world.alarm(project_id="p1", name="mine")
    world.feed(B, B, B, project="p2")
    assert mine.state == UNKNOWN


def test_matching_metadata_selects_the_group(world):
    alarm = world.alarm({"matching_metadata": {"metadata.user_metadata.server_group": "web"}})
    world.feed(B, B, B, metadata={"metering.server_group": "db"})
    assert alarm.state == UNKNOWN
    world.feed(B, B, B, resource="vm-2", metadata={"metering.server_group": "web"})
    assert alarm.state == ALARM
