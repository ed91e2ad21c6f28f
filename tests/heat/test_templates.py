"""Every shipped template validates in a real engine; composite and CloudWatch alarms work."""
import os
from unittest import mock

import pytest
from heat.common import template_format
from heat.engine.clients.os import glance, nova

from heat_alarming.shipped import template_names, template_path
from tests.support.heat_engine import environment, settle

TEMPLATES = [template_path(name) for name in template_names()]
NO_NOVA = {"resource_registry": {"AWS::EC2::Instance": "OS::Heat::None"}}
#: templates written for Aodh, validated with the environment that maps them onto ours
ENVIRONMENTS = {"hot-gnocchi.yaml": "aodh-gnocchi.yaml"}


@pytest.mark.parametrize("path", TEMPLATES, ids=os.path.basename)
def test_each_template_validates(heat_engine, path):
    engine = heat_engine
    with open(path) as handle:
        template = template_format.parse(handle.read())
    env = dict(NO_NOVA)
    if os.path.basename(path) in ENVIRONMENTS:
        mapped = environment(ENVIRONMENTS[os.path.basename(path)])["resource_registry"]
        env = {"resource_registry": {**NO_NOVA["resource_registry"], **mapped}}
    with mock.patch.object(glance.ImageConstraint, "validate", return_value=True), \
            mock.patch.object(nova.FlavorConstraint, "validate", return_value=True):
        result = engine.client.validate_template(engine.ctx, template, params=env)
    assert "Error" not in result, result
    assert result.get("Parameters") is not None


def test_the_aodh_gnocchi_environment_maps_every_name_onto_our_types(heat_engine):
    from heat_alarming.resources.plugin import available_resource_mapping
    registry = environment("aodh-gnocchi.yaml")["resource_registry"]
    ours = available_resource_mapping()
    assert set(registry) == {"OS::Aodh::GnocchiAggregationByResourcesAlarm",
                             "OS::Aodh::GnocchiResourcesAlarm",
                             "OS::Ceilometer::GnocchiAggregationByResourcesAlarm",
                             "OS::Ceilometer::GnocchiResourcesAlarm"}
    assert all(target in ours for target in registry.values())


def test_bad_alarm_properties_fail_validation_naming_the_property(heat_engine):
    engine = heat_engine
    template = engine.template("hot-autoscaling.yaml").replace(
        "      comparison_operator: gt", "      comparison_operator: gte", 1)
    with pytest.raises(Exception) as caught:
        engine.create("badop", template)
    assert "comparison_operator" in str(caught.value) and "gte" in str(caught.value)
    period = engine.template("hot-autoscaling.yaml")
    with pytest.raises(Exception, match="period"):
        engine.create("badperiod", period, params={"period": 15})


def test_a_composite_alarm_needs_both_conditions(heat_engine):
    engine = heat_engine
    ident = engine.create("composite", engine.template("hot-composite.yaml"))
    clock = engine.clock
    start = clock()
    meta = {"metering.server_group": ident["stack_id"]}

    def push(alarm, meter, value, at):
        rows = [{"meter": meter, "value": value, "resource_id": "c-vm", "timestamp": at + s,
                 "metadata": meta} for s in range(0, 60, 10)]
        engine.client.resource_signal(engine.ctx, ident, alarm, {"samples": rows},
                                      sync_call=True)

    push("cpu_high", "cpu_util", 90.0, start)
    push("cpu_high", "requests_per_second", 10.0, start)  # busy CPU, quiet requests
    clock.set(start + 61)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident)
    assert engine.outputs(ident)["busy_state"] == "ok"
    assert engine.outputs(ident)["size"] == 1
    push("cpu_high", "cpu_util", 90.0, start + 60)
    push("cpu_high", "requests_per_second", 400.0, start + 60)  # 6 x 400 > 1000 per period
    clock.set(start + 121)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident)
    assert engine.outputs(ident)["busy_state"] == "alarm"
    assert engine.outputs(ident)["size"] == 2


CW = """
{"AWSTemplateFormatVersion": "2010-09-09",
 "Resources": {
  "Group": {"Type": "OS::Heat::AutoScalingGroup",
            "Properties": {"min_size": 1, "max_size": 3,
                           "resource": {"type": "OS::Heat::None"}}},
  "Up": {"Type": "OS::Metering::ScalingPolicy",
         "Properties": {"adjustment_type": "change_in_capacity", "scaling_adjustment": 1,
                        "cooldown": 0, "auto_scaling_group_id": {"Ref": "Group"}}},
  "HighCPU": {"Type": "AWS::CloudWatch::Alarm",
              "Properties": {"MetricName": "CPUUtilization", "Statistic": "Maximum",
                             "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                             "Period": "60", "EvaluationPeriods": "2", "Threshold": "80",
                             "AlarmActions": ["Up"],
                             "Dimensions": [{"Name": "AutoScalingGroupName",
                                             "Value": "web"}]}}},
 "Outputs": {"Size": {"Value": {"Fn::GetAtt": ["Group", "current_size"]}},
             "State": {"Value": {"Fn::GetAtt": ["HighCPU", "state"]}}}}
"""


def test_a_cloudwatch_alarm_uses_the_aws_names(heat_engine):
    engine = heat_engine
    ident = engine.create("cloudwatch", CW)
    clock = engine.clock
    start = clock()
    rows = [{"meter": "CPUUtilization", "value": 85.0 if s == 0 else 20.0, "resource_id": "i-1",
             "timestamp": start + p * 60 + s,
             "metadata": {"metering.AutoScalingGroupName": "web"}}
            for p in range(2) for s in range(0, 60, 10)]
    engine.client.resource_signal(engine.ctx, ident, "HighCPU", {"samples": rows},
                                  sync_call=True)
    clock.set(start + 121)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident, group="Group")
    outputs = engine.outputs(ident)
    assert outputs["State"] == "alarm", "Maximum of each period is 85 >= 80"
    assert outputs["Size"] == 2


def test_an_action_that_is_neither_a_url_nor_a_resource_fails_validation(heat_engine):
    engine = heat_engine
    template = engine.template("hot-autoscaling.yaml").replace(
        "alarm_actions: [{get_attr: [scale_up, alarm_url]}]", "alarm_actions: [scale_sideways]")
    with pytest.raises(Exception) as caught:
        engine.create("badaction", template)
    assert "alarm_actions" in str(caught.value) and "scale_sideways" in str(caught.value)


def test_a_prometheus_alarm_is_refused_where_the_operator_configured_no_prometheus(
        heat_engine):
    from oslo_config import cfg
    engine = heat_engine
    configured = cfg.CONF.heat_alarming.prometheus_url
    cfg.CONF.set_override("prometheus_url", "", "heat_alarming")
    try:
        with pytest.raises(Exception) as caught:
            engine.create("nopromurl", engine.template("hot-prometheus.yaml"))
    finally:
        cfg.CONF.set_override("prometheus_url", configured, "heat_alarming")
    assert "prometheus_url" in str(caught.value), caught.value
    assert "not configured a Prometheus" in str(caught.value), caught.value


@pytest.mark.parametrize("query, reason", [
    ("info(up)", "unknown function"),
    ('up{"job"="x"}', "quoted label names"),
    ("up[5]", "duration"),
])
def test_a_promql_query_that_cannot_be_scoped_fails_validation_naming_the_property(
        heat_engine, query, reason):
    engine = heat_engine
    with pytest.raises(Exception) as caught:
        engine.create("badquery", engine.template("hot-prometheus.yaml"),
                      params={"cpu_query": query})
    assert "properties.query" in str(caught.value), caught.value
    assert reason in str(caught.value), caught.value
