"""The seed's CFN autoscaling template, alarm snippet verbatim, scales through AWS policies."""
import json
from unittest import mock

from heat.engine.clients.os import glance, nova

from heat_alarming.shipped import template_path
from tests.support.heat_engine import settle

NO_NOVA = {"resource_registry": {"AWS::EC2::Instance": "OS::Heat::None"}}


def group_size(engine, ident):
    res = engine.client.describe_stack_resource(engine.ctx, ident, "WebServerGroup")
    nested = engine.client.identify_stack(engine.ctx, res["physical_resource_id"])
    return len(engine.client.list_stack_resources(engine.ctx, nested))


def test_the_seed_snippet_is_in_the_template_verbatim():
    with open(template_path("cfn-autoscaling.json")) as handle:
        raw = handle.read()
    snippet = ('"CPUAlarmHigh": {"Type": "OS::Metering::Alarm", "Properties": {"meter_name": '
               '"cpu_util", "threshold": "75", "evaluation_periods": "5", "period": "60", '
               '"statistic": "avg", "comparison_operator": "gt", "description": "Scale-up if '
               'CPU > 75% for 300s", "alarm_actions": [{"Fn::GetAtt": ["ScaleUpPolicy", '
               '"AlarmUrl"]}], "matching_metadata": {"metadata.user_metadata.server_group": '
               '"MyWebServerGroup"}}}')
    assert snippet in raw
    json.loads(raw)


def test_cfn_alarms_scale_an_aws_group_through_alarm_url_and_ref(heat_engine):
    engine = heat_engine
    with mock.patch.object(glance.ImageConstraint, "validate", return_value=True), \
            mock.patch.object(nova.FlavorConstraint, "validate", return_value=True):
        ident = engine.create("cfnseed", engine.template("cfn-autoscaling.json"),
                              params=NO_NOVA)
        before = group_size(engine, ident)
        assert before == 1
        clock = engine.clock
        start = clock()
        rows = [{"meter": "cpu_util", "value": 90.0, "resource_id": f"web-{vm}",
                 "timestamp": start + p * 60 + s,
                 "metadata": {"user_metadata": {"server_group": "MyWebServerGroup"}}}
                for p in range(5) for s in range(0, 60, 20) for vm in range(2)]
        engine.client.resource_signal(engine.ctx, ident, "CPUAlarmHigh", {"samples": rows},
                                      sync_call=True)
        clock.set(start + 300 + 1)
        engine.runtime.evaluator.evaluate()
        settle(engine, ident, group="WebServerGroup")
        assert group_size(engine, ident) == 2
        assert engine.outputs(ident)["HighState"] == "alarm"

        low = [dict(r, value=5.0, timestamp=r["timestamp"] + 300) for r in rows]
        engine.client.resource_signal(engine.ctx, ident, "CPUAlarmLow", {"samples": low},
                                      sync_call=True)
        clock.set(start + 600 + 1)
        engine.runtime.evaluator.evaluate()
        settle(engine, ident, group="WebServerGroup")
        assert group_size(engine, ident) == 1
