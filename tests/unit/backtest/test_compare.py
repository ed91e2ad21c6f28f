"""compare: the three models side by side, the HPA's target, and the table."""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest

from heat_alarming.backtest import compare, template
from heat_alarming.backtest.group import GroupSpec, PolicySpec

ROOT = pathlib.Path(__file__).resolve().parents[3]


def Scenario(group, policies, alarms, meter="cpu_util"):  # noqa: N802 (a factory)
    """A scenario of the given parts (the group is the compare's business only)."""
    return template.Scenario(group or GroupSpec(1, 4, 1), policies, alarms, meter, {})


def Policy(name, target_value=None):  # noqa: N802 (a factory)
    return PolicySpec(name, target_value=target_value)


@dataclasses.dataclass(frozen=True)
class SamplesTrace:
    kind: str = "samples"


def alarm(op: str, threshold: float, meter: str = "cpu_util") -> dict:
    return {"threshold_rule": {"meter_name": meter, "comparison_operator": op,
                               "threshold": threshold}}


def test_the_hpa_target_is_the_scale_up_alarm_s_threshold():
    scenario = Scenario(None, {"up": Policy("up"), "down": Policy("down")},
                        {"high": alarm("gt", 50), "low": alarm("lt", 15)})
    assert compare.hpa_target_of(scenario) == 50.0


def test_a_target_tracking_policy_s_target_comes_first():
    scenario = Scenario(None, {"track": Policy("track", target_value=60)},
                        {"high": alarm("gt", 50)})
    assert compare.hpa_target_of(scenario) == 60.0


def test_no_single_target_asks_for_one():
    scenario = Scenario(None, {}, {"a": alarm("gt", 50), "b": alarm("ge", 70),
                                   "other": alarm("gt", 10, meter="memory")})
    with pytest.raises(compare.CompareError, match=r"found: 50, 70\); pass one"):
        compare.hpa_target_of(scenario)
    with pytest.raises(compare.CompareError, match="found: none"):
        compare.hpa_target_of(Scenario(None, {}, {"low": alarm("lt", 15)}))


def test_a_samples_trace_is_refused_with_the_reason():
    scenario = Scenario(None, {}, {"high": alarm("gt", 50)})
    with pytest.raises(compare.CompareError, match="trace: holds samples.*needs a demand trace"):
        compare.compare(scenario, SamplesTrace(), "cpu_util<80")


def test_an_slo_on_another_meter_is_refused():
    @dataclasses.dataclass(frozen=True)
    class DemandTrace:
        kind: str = "demand"

    scenario = Scenario(None, {}, {"high": alarm("gt", 50)})
    with pytest.raises(compare.CompareError, match="slo: memory<80 is about memory"):
        compare.compare(scenario, DemandTrace(), "memory<80")


def test_the_table_has_a_line_per_model_and_names_the_slo():
    rows = [{"name": "ours", "slo": "cpu_util<80", "slo_violation_minutes": 12.0,
             "instance_hours": 30.5, "scale_actions": 14, "flaps": 0},
            {"name": "hpa", "slo": "cpu_util<80", "slo_violation_minutes": 3.0,
             "instance_hours": 41.25, "scale_actions": 40, "flaps": 2}]
    assert compare.format_table(rows) == "\n".join([
        "model  SLO violation min  instance-hours  scale actions  flaps",
        "ours                  12           30.50             14      0",
        "hpa                    3           41.25             40      2",
        "SLO: cpu_util<80 per member",
    ])


def test_without_an_slo_the_violation_column_is_a_dash():
    rows = [{"name": "ours", "slo": None, "slo_violation_minutes": None,
             "instance_hours": 1.0, "scale_actions": 0, "flaps": 0}]
    assert compare.format_table(rows).splitlines()[1].split()[1] == "-"


def test_the_three_models_each_give_a_row_on_the_step_trace():
    from heat_alarming.backtest import trace as trace_mod
    trace = trace_mod.read_trace(ROOT / "benchmarks" / "traces" / "step.csv")
    scenario = template.read_template(
        ROOT / "heat_alarming" / "templates" / "hot-autoscaling.yaml",
        {"period": 60, "repeat_actions": True})
    rows = compare.compare(scenario, trace, "cpu_util<80")
    assert [row["name"] for row in rows] == ["ours", "hpa", "aodh"]
    for row in rows:
        assert row["slo"] == "cpu_util<80"
        assert 0 <= row["slo_violation_minutes"] <= 180
        # at least one member for 3 hours, at most max_size (4)
        assert 3.0 <= row["instance_hours"] <= 12.0
    assert np.isfinite([row["instance_hours"] for row in rows]).all()
