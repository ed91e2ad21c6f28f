"""A HOT template reads, without Heat, as the group, policies and alarms it would make."""
import pytest
import yaml

from heat_alarming import shipped
from heat_alarming.backtest.group import GroupSpec, PolicySpec
from heat_alarming.backtest.template import (
    TemplateError,
    policy_action,
    policy_of,
    read_template,
    scenario_of,
)
from heat_alarming.engine import definitions
from heat_alarming.engine.alarm import Alarm

AUTOSCALING = shipped.template_path("hot-autoscaling.yaml")


def minimal(**changes):
    """A small template: one group, one policy, one alarm, as a dict to edit."""
    template = {
        "heat_template_version": "2016-10-14",
        "parameters": {"period": {"type": "number", "default": 60}},
        "resources": {
            "group": {"type": "OS::Heat::AutoScalingGroup",
                      "properties": {"min_size": 1, "max_size": 3}},
            "up": {"type": "OS::Heat::ScalingPolicy",
                   "properties": {"auto_scaling_group_id": {"get_resource": "group"},
                                  "adjustment_type": "change_in_capacity",
                                  "scaling_adjustment": 1}},
            "high": {"type": "OS::Metering::Alarm",
                     "properties": {"meter_name": "cpu_util", "threshold": 80,
                                    "comparison_operator": "gt",
                                    "period": {"get_param": "period"},
                                    "alarm_actions": [{"get_attr": ["up", "alarm_url"]}]}},
        }}
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = template
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return template


def test_the_shipped_autoscaling_template_reads_as_its_group_and_policies():
    scenario = read_template(AUTOSCALING)
    assert scenario.group == GroupSpec(1, 4, 1)
    assert scenario.group_name == "group"
    assert scenario.policies == {
        "scale_up": PolicySpec("scale_up", "change_in_capacity", 1, cooldown=60),
        "scale_down": PolicySpec("scale_down", "change_in_capacity", -1, cooldown=60)}
    assert scenario.meter == "cpu_util"
    assert scenario.metadata == {"user_metadata.server_group": "backtest"}


def test_the_alarms_are_the_definitions_the_live_resource_makes():
    high = read_template(AUTOSCALING).alarms["cpu_alarm_high"]
    assert high == {
        "alarm_id": "cpu_alarm_high", "name": "cpu_alarm_high", "project_id": "backtest",
        "user_id": None,
        "description": "Scale up if the group's average CPU is above 50% for 2 periods",
        "enabled": True, "severity": "low",
        "alarm_actions": ["inproc://backtest/scale_up"], "ok_actions": [],
        "insufficient_data_actions": [], "repeat_actions": True, "time_constraints": [],
        "stabilization_window": 0, "type": "threshold",
        "threshold_rule": {"meter_name": "cpu_util", "statistic": "avg", "period": 60,
                           "evaluation_periods": 2, "threshold": 50,
                           "comparison_operator": "gt",
                           "matching_metadata": {"metering.server_group": "backtest"},
                           "exclude_outliers": False, "missing_data": "missing",
                           "type": "threshold"}}
    assert Alarm.from_dict(high).alarm_actions == ("inproc://backtest/scale_up",)


def test_the_shared_defaults_are_those_of_heat_and_of_the_live_resource():
    pytest.importorskip("heat")
    from heat.engine.resources import alarm_base
    from oslo_utils import strutils

    from heat_alarming.resources.alarm import MeteringAlarm

    def default(schema):
        value = schema.default
        return strutils.bool_from_string(value) if schema.type == "Boolean" else value

    for key, value in definitions.COMMON_DEFAULTS.items():
        assert default(alarm_base.common_properties_schema[key]) == value, key
    for key, value in definitions.ALARM_DEFAULTS.items():
        assert default(MeteringAlarm.properties_schema[key]) == value, key


def test_given_parameters_replace_the_defaults_with_their_declared_type():
    scenario = read_template(AUTOSCALING, {"period": "30", "cooldown": "0",
                                           "repeat_actions": "false"})
    high = scenario.alarms["cpu_alarm_high"]
    assert high["threshold_rule"]["period"] == 30 and high["repeat_actions"] is False
    assert scenario.policies["scale_up"].cooldown == 0


def test_resize_seconds_go_to_the_group():
    assert read_template(AUTOSCALING, resize_seconds=45).group.resize_seconds == 45


def test_a_group_without_desired_capacity_starts_at_its_min_size():
    assert scenario_of(minimal()).group == GroupSpec(1, 3, 1)


def test_actions_naming_a_policy_by_name_or_trust_url_target_it():
    template = minimal(resources__high__properties__alarm_actions=[
        "up", {"str_replace": {"template": "trust+url",
                               "params": {"url": {"get_attr": ["up", "signal_url"]}}}}])
    alarm = scenario_of(template).alarms["high"]
    assert alarm["alarm_actions"] == [policy_action("up")] * 2
    assert policy_of(alarm["alarm_actions"][0]) == "up"


def test_webhook_actions_are_not_replayed_and_are_listed():
    template = minimal(resources__high__properties__ok_actions=["https://example.org/hook"])
    scenario = scenario_of(template)
    assert scenario.alarms["high"]["ok_actions"] == []
    assert scenario.unreplayed_actions == {"high": ["https://example.org/hook"]}


def test_a_composite_alarm_refers_to_its_leaf_alarms_by_resource_name():
    scenario = read_template(shipped.template_path("hot-composite.yaml"))
    busy = scenario.alarms["busy"]
    assert busy["type"] == "composite"
    assert busy["composite_rule"]["and"][0] == {"alarm_id": "cpu_high"}
    assert busy["alarm_actions"] == ["inproc://backtest/scale_up"]
    assert scenario.policies["scale_up"].only_on_alarm is True


def test_a_metering_policy_reads_its_target_tracking():
    policy = read_template(shipped.template_path("hot-target-tracking.yaml")).policies[
        "track_cpu"]
    assert (policy.target_value, policy.tolerance, policy.only_on_alarm) == (50, 0.2, True)


def test_a_cloudwatch_alarm_reads_its_aws_properties():
    template = minimal(resources__high={
        "type": "AWS::CloudWatch::Alarm",
        "properties": {"MetricName": "cpu_util", "Statistic": "Average", "Period": 60,
                       "EvaluationPeriods": 1, "Threshold": 70,
                       "ComparisonOperator": "GreaterThanThreshold",
                       "AlarmActions": [{"get_attr": ["up", "alarm_url"]}],
                       "Dimensions": [{"Name": "group", "Value": "g1"}]}})
    scenario = scenario_of(template)
    rule = scenario.alarms["high"]["threshold_rule"]
    assert (rule["statistic"], rule["comparison_operator"], rule["matching_metadata"]) == (
        "avg", "gt", {"group": "g1"})
    assert scenario.metadata == {"user_metadata.group": "g1"}


@pytest.mark.parametrize("changes, message", [
    ({"resources__high__properties__period": "x"},
     "resources.high.properties.period: 'x' is not an integer"),
    ({"resources__high__properties__comparison_operator": "bigger"},
     "resources.high.properties.comparison_operator: 'bigger' is not one of"),
    ({"resources__high__properties__threshold": None},
     "resources.high.properties.threshold: is required"),
    ({"resources__high__properties__colour": "red"},
     "resources.high.properties.colour: is not a property of OS::Metering::Alarm"),
    ({"resources__group__properties__max_size": 0},
     "resources.group.properties.max_size: 0 is below min_size (1)"),
    ({"resources__group__properties__max_size": 10**9},
     "resources.group.properties.max_size: 1000000000 is above 10000, the most members"),
    ({"resources__group__properties__min_size": None},
     "resources.group.properties.min_size: is required"),
    ({"resources__up__properties__adjustment_type": "more"},
     "resources.up.properties.adjustment_type: 'more' is not one of"),
    ({"resources__up__properties__scaling_adjustment": 1.5},
     "resources.up.properties.scaling_adjustment: 1.5 is not a whole number of members"),
    ({"resources__up__properties__auto_scaling_group_id": "other"},
     "resources.up.properties.auto_scaling_group_id: 'other' is not the template's group"),
    ({"resources__high__properties__alarm_actions": ["nobody"]},
     "resources.high.properties.alarm_actions[0]: 'nobody' is no scaling policy"),
    ({"resources__high__properties__period": {"get_param": "nope"}},
     "resources.high.properties.period.get_param: no parameter 'nope'"),
    ({"resources__high__properties__alarm_actions": [{"get_attr": ["group", "size"]}]},
     "resources.high.properties.alarm_actions[0].get_attr: group.size"),
    ({"resources__high__properties__period": {"get_file": "x"}},
     "resources.high.properties.period: get_file is not evaluated by a backtest"),
    ({"resources__group": None}, "resources: a backtest replays one OS::Heat::AutoScalingGroup"),
    ({"resources__high": None}, "resources: the template has no alarm a backtest replays"),
    ({"parameters__period": {"type": "number"}}, "parameters.period: no value given"),
])
def test_a_bad_template_is_refused_naming_where(changes, message):
    with pytest.raises(TemplateError) as caught:
        scenario_of(minimal(**changes))
    assert str(caught.value).startswith(message)


def test_an_unknown_given_parameter_is_refused():
    with pytest.raises(TemplateError, match="parameters.colour: the template has no such"):
        scenario_of(minimal(), {"colour": "red"})


def test_a_given_parameter_of_the_wrong_type_is_refused():
    with pytest.raises(TemplateError, match="parameters.period: 'soon' is not a number"):
        scenario_of(minimal(), {"period": "soon"})


def test_a_file_that_is_not_yaml_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("resources:\n  group: [unclosed\n")
    with pytest.raises(TemplateError, match=r"bad.yaml:\d+: not YAML"):
        read_template(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="cannot read it"):
        read_template(tmp_path / "none.yaml")


def test_a_template_read_from_a_file_equals_the_same_mapping(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(minimal()))
    assert read_template(path) == scenario_of(minimal())


def metering_policy(**properties):
    return minimal(resources__up={"type": "OS::Metering::ScalingPolicy", "properties": dict(
        {"auto_scaling_group_id": {"get_resource": "group"},
         "adjustment_type": "change_in_capacity"}, **properties)})


@pytest.mark.parametrize("properties, message", [
    ({}, "resources.up.properties: set exactly one of scaling_adjustment, step_adjustments"),
    ({"scaling_adjustment": 1, "target_value": 50}, "resources.up.properties: set exactly"),
    ({"step_adjustments": [{"lower_bound": 0, "upper_bound": 10, "scaling_adjustment": 1},
                           {"lower_bound": 5, "scaling_adjustment": 2}]},
     "resources.up.properties.step_adjustments[1]: overlaps step_adjustments[0]"),
    ({"target_value": -5}, "resources.up.properties.target_value: -5 must be above 0"),
    ({"target_value": 50, "tolerance": 1}, "resources.up.properties.tolerance: 1 is outside"),
])
def test_a_metering_policy_needs_one_well_formed_mode(properties, message):
    with pytest.raises(TemplateError) as caught:
        scenario_of(metering_policy(**properties))
    assert str(caught.value).startswith(message)


def test_a_metering_policy_reads_its_steps():
    steps = [{"lower_bound": 0, "upper_bound": 10, "scaling_adjustment": 1},
             {"lower_bound": 10, "scaling_adjustment": 2}]
    policy = scenario_of(metering_policy(step_adjustments=steps)).policies["up"]
    assert policy.step_adjustments == tuple(steps) and policy.tolerance == 0.1


def test_min_adjustment_step_goes_with_percent_changes_only():
    template = minimal(resources__up__properties__min_adjustment_step=2)
    with pytest.raises(TemplateError, match="min_adjustment_step: is used only with"):
        scenario_of(template)
    template["resources"]["up"]["properties"]["adjustment_type"] = "percent_change_in_capacity"
    assert scenario_of(template).policies["up"].min_adjustment_step == 2


def test_a_cfn_template_is_refused_with_the_reason():
    with pytest.raises(TemplateError, match="Resources: CFN templates are not read"):
        read_template(shipped.template_path("cfn-autoscaling.json"))


@pytest.mark.parametrize("name, kind", [
    ("hot-gnocchi.yaml", "OS::Aodh::GnocchiAggregationByResourcesAlarm"),
    ("hot-prometheus.yaml", "OS::Metering::PrometheusAlarm")])
def test_alarms_a_backtest_cannot_replay_are_refused_not_ignored(name, kind):
    with pytest.raises(TemplateError, match=f"{kind} is not replayed by a backtest"):
        read_template(shipped.template_path(name))
