"""report: SLOs, member load, flaps and the summary of a timeline (hand-computed)."""
from __future__ import annotations

import numpy as np
import pytest

from heat_alarming.backtest.report import (
    Slo,
    SloError,
    Timeline,
    count_flaps,
    member_load,
    parse_slo,
    summarize,
)

MINUTE = 60.0


def minutes(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) * MINUTE


def test_an_slo_is_read_as_meter_operator_bound():
    assert parse_slo("cpu_util<80") == Slo("cpu_util", "<", 80.0)
    assert parse_slo(" cpu_util <= 80.5 ") == Slo("cpu_util", "<=", 80.5)
    assert parse_slo("latency.p99>=0") == Slo("latency.p99", ">=", 0.0)
    assert parse_slo("free>-5") == Slo("free", ">", -5.0)


@pytest.mark.parametrize("text, reason", [
    ("", "is empty"),
    ("cpu_util 80", "has no comparison"),
    ("cpu_util=80", "'=' is not one of <, <=, >, >="),
    ("cpu_util!=80", "'!=' is not one of"),
    ("<80", "names no meter before '<'"),
    ("cpu util<80", "'cpu util' is not a meter name"),
    ("cpu_util<eighty", "bound 'eighty' is not a number"),
    ("cpu_util<", "bound '' is not a number"),
    ("cpu_util<inf", "bound 'inf' is not a finite number"),
])
def test_a_bad_slo_names_the_text_and_why(text, reason):
    with pytest.raises(SloError) as caught:
        parse_slo(text)
    assert str(caught.value).startswith(f"SLO {text!r}: ")
    assert reason in str(caught.value)


def test_an_slo_holds_where_the_comparison_does_and_never_on_nan():
    slo = parse_slo("cpu_util<80")
    assert slo.holds(np.array([79.9, 80.0, 100.0, np.nan])).tolist() == [
        True, False, False, False]
    assert str(slo) == "cpu_util<80"


def test_member_load_spreads_demand_and_saturates_at_one_server():
    load = member_load(np.array([30.0, 250.0, 250.0, 50.0]), np.array([1, 2, 5, 0]))
    assert load[:3].tolist() == [30.0, 100.0, 50.0]
    assert np.isnan(load[3])


def test_a_reversal_within_ten_minutes_is_a_flap():
    # 1 -> 2 at minute 3, 2 -> 1 at minute 8: reversed 5 minutes later
    sizes = np.array([1, 1, 1, 2, 2, 2, 2, 2, 1, 1])
    assert count_flaps(minutes(10), sizes) == 1


def test_a_reversal_after_more_than_ten_minutes_or_the_same_direction_is_not():
    late = np.array([1] * 3 + [2] * 11 + [1] * 2)  # up at minute 3, down at minute 14
    assert count_flaps(minutes(len(late)), late) == 0
    onwards = np.array([1, 2, 3, 4, 4])
    assert count_flaps(minutes(5), onwards) == 0
    assert count_flaps(minutes(1), np.array([3])) == 0


def test_every_reversal_of_a_see_saw_counts():
    # changes at minutes 1 (up), 2 (down), 3 (up), 4 (down): three reversals
    sizes = np.array([1, 2, 1, 2, 1])
    assert count_flaps(minutes(5), sizes) == 3


def test_summary_counts_breaking_minutes_and_instance_hours():
    demand = np.array([30.0, 250.0, 250.0, 120.0, 30.0, 30.0])
    sizes = np.array([1, 1, 3, 2, 2, 0])
    line = Timeline.of_demand(minutes(6), demand, sizes, MINUTE, scale_actions=4)
    # values 30, 100, 83.3, 60, 15, NaN: 100, 83.3 and NaN break cpu_util<80
    summary = summarize(line, parse_slo("cpu_util<80"))
    assert summary == {"slo": "cpu_util<80", "slo_violation_minutes": 3.0,
                       "instance_hours": 9 / 60, "scale_actions": 4, "flaps": 1}


def test_a_step_other_than_a_minute_scales_minutes_and_hours():
    line = Timeline.of_demand(np.arange(4) * 30.0, np.full(4, 90.0), np.array([1, 1, 2, 2]),
                              30.0, scale_actions=1)
    summary = summarize(line, parse_slo("cpu_util<=45"))
    assert summary["slo_violation_minutes"] == 1.0  # two 30 s rows at 90
    assert summary["instance_hours"] == 6 * 30 / 3600


def test_without_an_slo_there_are_no_violation_minutes():
    line = Timeline.of_demand(minutes(2), np.array([10.0, 10.0]), np.array([1, 1]), MINUTE, 0)
    assert summarize(line)["slo_violation_minutes"] is None


def test_a_timeline_with_columns_of_different_lengths_is_refused():
    with pytest.raises(ValueError, match="timeline.sizes: 2 rows, times has 3"):
        Timeline(minutes(3), np.array([1, 1]), np.zeros(3), np.zeros(3), MINUTE, 0, 0)
    with pytest.raises(ValueError, match="timeline.step"):
        Timeline(minutes(1), np.array([1]), np.zeros(1), np.zeros(1), 0.0, 0, 0)


def test_an_slo_built_with_another_operator_is_refused():
    with pytest.raises(SloError, match="operator '=' is not one of <, <=, >, >="):
        Slo("cpu_util", "=", 80.0)
