"""The transition rules, one function at a time: the state machine every deciding path
(the live round, explain, the backtest) runs."""
import numpy as np
import pytest

from heat_alarming.engine import rules
from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, ThresholdRule
from heat_alarming.engine.rules import NONE, V_ALARM, V_KEEP, V_MIXED, V_OK, V_UNKNOWN


def proposed(verdict, current, trend=V_OK, repeat=False):
    return int(rules.proposed_states(np.array([verdict], np.int8), np.array([trend], np.int8),
                                     np.array([current], np.int8),
                                     np.array([repeat]))[0])


@pytest.mark.parametrize(("verdict", "current", "repeat", "expected"), [
    (V_ALARM, V_OK, False, V_ALARM),        # a change is proposed
    (V_ALARM, V_ALARM, False, NONE),        # the same state: nothing, unless repeating
    (V_ALARM, V_ALARM, True, V_ALARM),
    (V_UNKNOWN, V_OK, False, V_UNKNOWN),
    (V_UNKNOWN, V_UNKNOWN, True, NONE),     # insufficient data never repeats
    (V_MIXED, V_OK, False, NONE),           # a mix keeps the state
    (V_MIXED, V_OK, True, V_OK),            # ...and repeats it
    (V_KEEP, V_ALARM, True, NONE),          # missing_data: ignore
])
def test_aodh_state_machine_proposes(verdict, current, repeat, expected):
    assert proposed(verdict, current, repeat=repeat) == expected


def test_from_insufficient_data_a_mix_follows_the_newest_datapoint():
    assert proposed(V_MIXED, V_UNKNOWN, trend=V_ALARM) == V_ALARM
    assert proposed(V_MIXED, V_UNKNOWN, trend=V_OK) == V_OK


def test_proposals_are_decided_for_every_alarm_at_once():
    verdict = np.array([V_ALARM, V_OK, V_UNKNOWN, V_MIXED], np.int8)
    current = np.array([V_OK, V_OK, V_ALARM, V_UNKNOWN], np.int8)
    trend = np.array([V_OK, V_OK, V_OK, V_ALARM], np.int8)
    out = rules.proposed_states(verdict, trend, current, np.zeros(4, bool))
    assert out.tolist() == [V_ALARM, NONE, V_UNKNOWN, V_ALARM]


@pytest.mark.parametrize(("verdict", "trend", "composite", "expected"), [
    (V_ALARM, V_OK, OK, ALARM),
    (V_MIXED, V_ALARM, OK, OK),          # trending to alarm: still ok, the state it leaves
    (V_MIXED, V_OK, ALARM, ALARM),       # trending to ok: still alarm
    (V_MIXED, V_ALARM, UNKNOWN, ALARM),  # from insufficient data: the trend
    (V_KEEP, V_OK, ALARM, ALARM),
    (V_UNKNOWN, V_OK, OK, UNKNOWN),
])
def test_a_threshold_leaf_state_in_a_composite(verdict, trend, composite, expected):
    assert rules.leaf_state(verdict, trend, composite) == expected


def test_a_composite_is_alarm_by_its_tree_ok_by_the_dual_else_unknown():
    tree = ("and", [("leaf",), ("or", [("leaf",), ("leaf",)])])
    assert rules.composite_state(tree, [ALARM, OK, ALARM]) == ALARM
    assert rules.composite_state(tree, [OK, ALARM, ALARM]) == OK       # dual: or(ok, ...)
    assert rules.composite_state(tree, [ALARM, OK, OK]) == OK          # and(_, or(ok, ok))
    assert rules.composite_state(tree, [ALARM, UNKNOWN, OK]) == UNKNOWN


def test_without_a_window_a_new_state_fires_at_once_and_a_held_one_only_repeats():
    assert rules.step(OK, ALARM, False, None, 0, 100.0) == rules.Step(True, True, None)
    assert rules.step(ALARM, ALARM, False, None, 0, 100.0) == rules.Step(False, False, None)
    assert rules.step(ALARM, ALARM, True, None, 0, 100.0) == rules.Step(True, False, None)


def test_a_stabilisation_window_must_be_proposed_throughout_before_it_fires():
    first = rules.step(OK, ALARM, False, None, 120, 100.0)
    assert first == rules.Step(False, True, (ALARM, 100.0))
    assert rules.step(OK, ALARM, False, first.pending, 120, 219.0).pending == (ALARM, 100.0)
    assert rules.step(OK, ALARM, False, first.pending, 120, 220.0) == rules.Step(True, True, None)
    # another state proposed meanwhile starts the window over
    assert rules.step(OK, UNKNOWN, False, first.pending, 120, 150.0).pending == (UNKNOWN, 150.0)
    # back to the current state ends the wait, without firing
    assert rules.step(OK, OK, False, first.pending, 120, 150.0) == rules.Step(False, False, None)


def test_an_alarm_that_cannot_be_evaluated_skips_the_window():
    assert rules.step(OK, UNKNOWN, False, None, 600, 1.0, stabilize=False).fire


def test_a_waiting_transition_survives_only_rounds_that_propose_it_or_skip_it():
    assert rules.keeps_pending(ALARM, ALARM, evaluated=True)
    assert rules.keeps_pending(ALARM, None, evaluated=False)
    assert not rules.keeps_pending(ALARM, None, evaluated=True)
    assert not rules.keeps_pending(ALARM, OK, evaluated=True)


@pytest.mark.parametrize(("values", "expected"), [
    ([60.0, 70.0], (V_ALARM, 2, 2, 70.0)),
    ([10.0, 70.0], (V_MIXED, 2, 1, 70.0)),
    ([10.0, float("nan")], (V_OK, 1, 0, 10.0)),
])
def test_a_promql_answer_is_one_datapoint_per_series(values, expected):
    assert rules.promql_verdict(values, "gt", 50.0) == expected


def test_a_promql_answer_without_series_is_insufficient_data():
    verdict, points, _, worst = rules.promql_verdict([], "lt", 5.0)
    assert (verdict, points) == (V_UNKNOWN, 0) and np.isnan(worst)


def test_the_lowest_series_is_reported_for_a_lower_bound():
    assert rules.promql_verdict([3.0, 9.0], "lt", 5.0)[3] == 3.0


def test_period_facts_show_what_each_period_counted_for():
    rule = ThresholdRule.from_dict({"meter_name": "cpu", "threshold": 50,
                                    "comparison_operator": "gt", "evaluation_periods": 2})
    spec = rules.ThresholdSpec([rule])
    counts = np.array([[3], [0], [3]])
    values = {"avg": np.array([[80.0], [np.nan], [90.0]])}
    verdicts, facts = rules.threshold_verdicts(spec, counts, values, detail=True)
    assert verdicts.verdict[0] == V_ALARM and verdicts.points[0] == 2
    assert facts.present[:, 0].tolist() == [True, False, True]
    assert facts.judged[:, 0].tolist() == [True, False, True]
    assert facts.breach[:, 0].tolist() == [True, False, True]
    # one rule of a spec decides alone exactly as within it
    two = rules.ThresholdSpec([rule, rule])
    both = rules.threshold_verdicts(two, np.repeat(counts, 2, axis=1),
                                    {"avg": np.repeat(values["avg"], 2, axis=1)})
    alone = rules.threshold_verdicts(two.column(1), counts, values)
    assert both.verdict[1] == alone.verdict[0] and both.points[1] == alone.points[0]
