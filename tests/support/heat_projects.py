"""Two projects in the in-process heat-engine: stacks, hand-built action URLs, firing alarms."""
from __future__ import annotations

import uuid
from urllib.parse import quote

from heat_alarming.resources.embedded import user_context

#: the project of the engine fixture's default context, and another one
PROJECT_A = "test_tenant_id"
PROJECT_B = "project-b"

#: a stack of one group scaled by one policy (no cooldown), its size as an output
GROUP = """
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 5
      resource: {type: OS::Heat::None}
  scale_up:
    type: OS::Heat::ScalingPolicy
    properties:
      adjustment_type: change_in_capacity
      auto_scaling_group_id: {get_resource: group}
      scaling_adjustment: 1
      cooldown: 0
outputs:
  size:
    value: {get_attr: [group, current_size]}
  alarm_url:
    value: {get_attr: [scale_up, alarm_url]}
  signal_url:
    value: {get_attr: [scale_up, signal_url]}
"""

#: an alarm whose one action is a parameter, known at validation
ALARM = """
heat_template_version: 2016-10-14
parameters:
  action: {type: string}
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 50
      comparison_operator: gt
      period: 60
      alarm_actions: [{get_param: action}]
"""

#: the same, with the action known only once another resource exists (not at validation)
LATE_ALARM = """
heat_template_version: 2016-10-14
parameters:
  action: {type: string}
resources:
  holder:
    type: OS::Heat::Value
    properties:
      value: {get_param: action}
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 50
      comparison_operator: gt
      period: 60
      alarm_actions: [{get_attr: [holder, value]}]
"""


def context_of(project: str):
    return user_context(tenant_id=project, user=f"user-of-{project}")


def signal_url(tenant: str, stack_name: str, stack_id: str, resource: str = "scale_up",
               host: str = "http://127.0.0.1:9") -> str:
    """An orchestration API signal URL, as anybody can write one by hand."""
    return f"{host}/v1/{tenant}/stacks/{stack_name}/{stack_id}/resources/{resource}/signal"


def arn_url(tenant: str, stack_name: str, stack_id: str, resource: str = "scale_up") -> str:
    """A CFN signal URL (the form of a policy's alarm_url), unsigned."""
    arn = f"arn:openstack:heat::{tenant}:stacks/{stack_name}/{stack_id}"
    return f"http://127.0.0.1:9/v1/signal/{quote(arn, safe='')}/resources/{resource}"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def size(engine, ident, ctx) -> int:
    engine.group_idle(ident, ctx=ctx)
    return engine.outputs(ident, ctx=ctx)["size"]


def fire(engine, alarm_id: str, project: str, meter: str = "load") -> None:
    """Samples over the threshold for one period, the round that decides, its delivery."""
    from heat_alarming.metering.sample import Sample
    clock = engine.clock
    start = clock()
    engine.runtime.push_samples(project, [Sample.from_dict({
        "meter": meter, "value": 99.0, "resource_id": "x", "timestamp": start + s,
        "project_id": project, "unit": "", "metadata": {}}) for s in range(0, 60, 10)])
    clock.set(start + 61)
    evaluator = engine.runtime.evaluator
    evaluator.evaluate()
    evaluator.dispatcher.deliver_due()


def action_history(engine, alarm_id: str) -> list:
    return [h for h in engine.runtime.evaluator.history(alarm_id)
            if h.type in ("action", "action failed")]
