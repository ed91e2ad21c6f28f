"""Security: a composite alarm of one project never reaches another project's alarm.

Two projects on the one in-process heat-engine. A's OS::Metering::CompositeAlarm
that names B's alarm id fails to create, with the error an unknown id gives; a
composite of A over B's alarm stored before that rule (an older release) neither
mirrors B's state nor blocks B's stack delete.
"""
import time

import pytest

from heat_alarming.engine import UNKNOWN, Alarm
from heat_alarming.resources.embedded import user_context
from tests.support.heat_engine import push

B_ALARM = """
heat_template_version: 2016-10-14
resources:
  cpu:
    type: OS::Metering::Alarm
    properties:
      meter_name: cpu_util
      threshold: 50
      comparison_operator: gt
      period: 60
outputs:
  state: {value: {get_attr: [cpu, state]}}
"""

A_COMPOSITE = """
heat_template_version: 2016-10-14
parameters:
  other: {type: string}
resources:
  combo:
    type: OS::Metering::CompositeAlarm
    properties:
      composite_rule:
        or:
          - alarm_id: {get_param: other}
"""


def unique(prefix):
    return f"{prefix}{time.monotonic_ns()}"


@pytest.fixture
def projects(heat_engine):
    a, b = user_context(unique("tenant-a-")), user_context(unique("tenant-b-"))
    ident = heat_engine.create(unique("b-stack"), B_ALARM, ctx=b)
    return a, b, ident, heat_engine.physical_id(ident, "cpu", ctx=b)


def create_error(engine, template, params, ctx) -> str:
    with pytest.raises(RuntimeError) as caught:
        engine.create(unique("a-stack"), template, params=params, ctx=ctx)
    return str(caught.value)


def test_a_composite_cannot_name_another_projects_alarm(heat_engine, projects):
    a, b, _, their_id = projects
    foreign = create_error(heat_engine, A_COMPOSITE, {"other": their_id}, a)
    assert f"no alarm '{their_id}'" in foreign
    missing = create_error(heat_engine, A_COMPOSITE, {"other": "no-such-alarm"}, a)
    assert foreign.replace(their_id, "X") == missing.replace("no-such-alarm", "X"), \
        "B's alarm is refused exactly as an unknown one"
    evaluator = heat_engine.runtime.evaluator
    assert not [x for x in evaluator.alarms() if x.project_id == a.project_id]


def test_a_stored_composite_of_another_project_neither_reads_nor_blocks(heat_engine,
                                                                         projects):
    engine = heat_engine
    a, b, ident, their_id = projects
    evaluator = engine.runtime.evaluator
    combo = Alarm.from_dict({"name": "a-combo", "project_id": a.project_id,
                             "composite_rule": {"or": [{"alarm_id": their_id}]}})
    evaluator.alarm_store.save_alarm(combo)  # as an older release could have
    evaluator.reload()
    start = engine.clock()
    engine.client.resource_signal(b, ident, "cpu", {"samples": [
        {"meter": "cpu_util", "value": 90.0, "resource_id": "b-vm", "timestamp": start + s}
        for s in range(0, 60, 10)]}, sync_call=True)
    engine.clock.set(start + 61)
    evaluator.evaluate()
    assert engine.outputs(ident, ctx=b)["state"] == "alarm"
    assert evaluator.alarm_store.load_alarm(combo.alarm_id).state == UNKNOWN, \
        "A's composite mirrored B's alarm"
    engine.client.delete_stack(b, ident)
    engine.wait(ident, "DELETE", ctx=b)
    assert evaluator.alarm_store.load_alarm(their_id) is None
    evaluator.evaluate()
    assert evaluator.alarm_store.load_alarm(combo.alarm_id).state == UNKNOWN
    evaluator.delete(combo.alarm_id)


__all__ = ["push"]
