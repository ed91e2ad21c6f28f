"""The Aodh + Heat defaults model: a scenario's alarms rewritten with Aodh's semantics."""
from __future__ import annotations

import pathlib

import numpy as np

from heat_alarming.backtest import aodh, template
from heat_alarming.backtest.group import GroupSpec, PolicySpec
from heat_alarming.engine.alarm import Alarm

ROOT = pathlib.Path(__file__).resolve().parents[3]

HIGH = {
    "name": "cpu_alarm_high",
    "type": "threshold",
    "threshold_rule": {"meter_name": "cpu_util", "threshold": 50, "comparison_operator": "gt",
                       "statistic": "avg", "period": 60, "evaluation_periods": 3,
                       "datapoints_to_alarm": 2, "missing_data": "breaching",
                       "exclude_outliers": True,
                       "matching_metadata": {"metering.server_group": "g"}},
    "alarm_actions": ["http://heat/scale_up"],
    "repeat_actions": True,
    "stabilization_window": 120,
}


def test_a_threshold_alarm_needs_all_its_periods_and_has_no_stabilisation():
    out = aodh.aodh_definition(HIGH)
    rule = out["threshold_rule"]
    assert "datapoints_to_alarm" not in rule
    assert rule["missing_data"] == "missing"
    assert out["stabilization_window"] == 0
    # what Aodh has is kept as it was
    assert {k: v for k, v in rule.items() if k != "missing_data"} == {
        k: v for k, v in HIGH["threshold_rule"].items()
        if k not in ("datapoints_to_alarm", "missing_data")}
    assert out["repeat_actions"] is True and out["alarm_actions"] == HIGH["alarm_actions"]


def test_the_definition_given_is_left_as_it_was():
    before = repr(HIGH)
    aodh.aodh_definition(HIGH)
    assert repr(HIGH) == before


def test_the_aodh_definition_builds_an_engine_alarm_with_aodh_semantics():
    alarm = Alarm.from_dict(aodh.aodh_definition(HIGH))
    assert alarm.rule.datapoints_to_alarm is None
    assert alarm.rule.missing_data == "missing"
    assert alarm.rule.evaluation_periods == 3
    assert alarm.stabilization_window == 0


def test_a_rule_under_the_key_rule_is_rewritten_too():
    definition = {"name": "a", "rule": dict(HIGH["threshold_rule"])}
    out = aodh.aodh_definition(definition)
    assert "datapoints_to_alarm" not in out["rule"]
    assert out["rule"]["missing_data"] == "missing"


def test_every_threshold_leaf_of_a_composite_is_rewritten_and_references_kept():
    leaf = dict(HIGH["threshold_rule"])
    definition = {"name": "c", "type": "composite", "stabilization_window": 60,
                  "composite_rule": {"or": [leaf, {"and": [leaf, {"alarm_id": "other"}]}]}}
    out = aodh.aodh_definition(definition)
    first, inner = out["composite_rule"]["or"]
    second, reference = inner["and"]
    for rule in (first, second):
        assert "datapoints_to_alarm" not in rule and rule["missing_data"] == "missing"
    assert reference == {"alarm_id": "other"}
    assert out["stabilization_window"] == 0
    Alarm.from_dict(out)  # still a valid definition


def test_aodh_gnocchi_and_prometheus_rules_are_aodh_s_own_and_left_alone():
    gnocchi = {"name": "g", "type": "gnocchi_resources_threshold",
               "gnocchi_resources_threshold_rule": {
                   "metric": "cpu_util", "threshold": 50, "resource_id": "vm-1",
                   "comparison_operator": "gt", "evaluation_periods": 2}}
    out = aodh.aodh_definition(gnocchi)
    assert out["gnocchi_resources_threshold_rule"] == gnocchi["gnocchi_resources_threshold_rule"]
    prometheus = {"name": "p", "type": "prometheus",
                  "prometheus_rule": {"query": "up", "threshold": 1,
                                      "comparison_operator": "lt"}}
    assert aodh.aodh_definition(prometheus)["prometheus_rule"] == prometheus["prometheus_rule"]


def test_a_scenario_keeps_its_group_and_heat_policies_and_gets_aodh_alarms():
    group, policies = GroupSpec(1, 4, 1), {"scale_up": PolicySpec("scale_up")}
    scenario = template.Scenario(group, policies, {"cpu_alarm_high": HIGH}, "cpu_util", {})
    out = aodh.aodh_scenario(scenario)
    assert out.group is group and out.policies is policies
    assert out.alarms == {"cpu_alarm_high": aodh.aodh_definition(HIGH)}
    assert scenario.alarms["cpu_alarm_high"] is HIGH


def test_the_replay_runs_every_60_seconds_with_a_60_second_processing_delay():
    assert aodh.AODH_REPLAY == {"evaluate_every": 60.0, "action_delay": 60.0}


def test_on_a_step_load_aodh_scales_up_at_least_a_minute_after_ours(tmp_path):
    from heat_alarming.backtest import replay, template
    from heat_alarming.backtest import trace as trace_mod
    times = 1_767_571_200.0 + np.arange(60) * 60.0
    demand = np.where(np.arange(60) >= 20, 90.0, 20.0)
    path = tmp_path / "step.csv"
    trace_mod.write_demand(path, times, demand)
    trace = trace_mod.read_trace(path)
    scenario = template.read_template(ROOT / "heat_alarming" / "templates"
                                      / "hot-autoscaling.yaml",
                                      {"period": 60, "repeat_actions": True})
    ours = replay.replay(scenario, trace).timeline()
    theirs = aodh.simulate(scenario, trace).timeline()
    first_ours = int(np.argmax(ours.sizes > ours.sizes[0]))
    first_aodh = int(np.argmax(theirs.sizes > theirs.sizes[0]))
    assert ours.sizes.max() > ours.sizes[0] and theirs.sizes.max() > theirs.sizes[0]
    assert first_aodh >= first_ours + 1
