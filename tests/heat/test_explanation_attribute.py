"""The ``explanation`` attribute: why an alarm is in its state, through Heat's own
resource show and ``get_attr``, in the session's in-process engine.

The samples go through the alarm's signal, as a server pushes them; the alarm's
``matching_metadata`` spells the server group's key one way and the samples another,
the mistake that leaves an alarm in insufficient data with nothing to say why.
"""
from __future__ import annotations

import json
import time

import pytest

from heat_alarming.resources import alarm as alarm_resource
from heat_alarming.resources.embedded import user_context
from heat_alarming.resources.plugin import available_resource_mapping
from tests.support.heat_engine import period_boundary, push

METER = "explain_load"
ALARM = f"""
heat_template_version: 2016-10-14
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: {METER}
      statistic: avg
      period: 60
      threshold: 50
      comparison_operator: gt
      matching_metadata: {{metering.server_group: web}}
  either:
    type: OS::Metering::CompositeAlarm
    properties:
      composite_rule:
        or:
          - alarm_id: {{get_resource: alarm}}
          - {{meter_name: {METER}, threshold: 10, comparison_operator: gt, period: 60}}
outputs:
  explanation: {{value: {{get_attr: [alarm, explanation]}}}}
"""


def explanation(engine, ident, name="alarm", ctx=None):
    """The attribute as heat-api's plain resource show has it (``with_attr`` None: every
    attribute of the schema, resolved)."""
    shown = engine.client.describe_stack_resource(ctx or engine.ctx, ident, name,
                                                  with_attr=None)
    return shown["attributes"]["explanation"]


@pytest.fixture
def stack(heat_engine):
    engine = heat_engine
    ident = engine.create(f"explain{time.monotonic_ns()}", ALARM)
    alarm_id = engine.physical_id(ident, "alarm")
    start = period_boundary(engine)
    # two servers of group web, their tag spelled servergroup
    push(engine, ident, "alarm", [
        {"meter": METER, "value": 90.0, "resource_id": vm, "timestamp": start + s,
         "metadata": {"metering.servergroup": "web"}}
        for s in range(0, 60, 10) for vm in ("explain-vm-1", "explain-vm-2")])
    engine.clock.set(start + 61)
    engine.runtime.evaluator.evaluate()
    yield engine, ident, alarm_id
    engine.client.delete_stack(engine.ctx, ident)


def test_every_alarm_type_has_the_attribute():
    types = {name: cls for name, cls in available_resource_mapping().items()
             if issubclass(cls, alarm_resource.MeteringAlarm)}
    assert len(types) == 7
    for name, cls in types.items():
        assert "explanation" in cls.attributes_schema, name


def test_a_key_spelled_otherwise_is_named_by_the_explanation(stack):
    engine, ident, alarm_id = stack
    explained = explanation(engine, ident)
    assert list(explained)[0] == "summary"
    assert explained["alarm_id"] == alarm_id and explained["type"] == "threshold"
    assert explained["state"] == "insufficient data"
    assert explained["series"]["count"] == 0
    assert "0 series" in explained["summary"]
    # the nearest series carry the samples' spelling, the alarm asks for another
    assert "servergroup" in explained["summary"], explained["summary"]
    assert "servergroup" in json.dumps(explained["series"]["nearest"])
    assert explained["rule"]["threshold"] == 50
    json.dumps(explained)  # what heat-api hands on as JSON


def test_get_attr_gives_the_same_explanation(stack):
    engine, ident, _ = stack
    assert engine.outputs(ident)["explanation"]["summary"] == \
        explanation(engine, ident)["summary"]


def test_a_composite_explains_its_leaves(stack):
    engine, ident, _ = stack
    explained = explanation(engine, ident, "either")
    assert explained["type"] == "composite"
    assert len(explained["leaves"]) == 2
    assert "periods" not in explained


def test_another_project_cannot_read_it(stack):
    """Heat's own tenancy check comes before any attribute is resolved."""
    engine, ident, _ = stack
    with pytest.raises(Exception, match=r"The Stack \(explain\d+\) could not be found"):
        explanation(engine, ident, ctx=user_context("another_tenant"))


def test_an_alarm_the_evaluator_does_not_know_says_so(stack):
    engine, ident, alarm_id = stack
    # behind Heat's back: the composite that uses the alarm first
    engine.runtime.evaluator.delete(engine.physical_id(ident, "either"))
    engine.runtime.evaluator.delete(alarm_id)
    assert explanation(engine, ident) == {
        "error": f"alarm {alarm_id} is not known to the evaluator (deleted, or not "
                 "created yet)"}


# -- whichever worker answers -------------------------------------------------------------
def test_a_worker_that_does_not_evaluate_the_alarm_explains_the_same_facts(tmp_path):
    """heat-api hands a resource show to any engine worker; the one that does not own the
    alarm's project holds none of its samples, and explains from the sample journal."""
    from oslo_config import cfg

    from heat_alarming import opts
    from heat_alarming.metering import ManualClock, Sample
    from heat_alarming.resources.runtime import Runtime

    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", str(tmp_path / "alarms.sqlite"), opts.GROUP)
    conf.set_override("heartbeat_interval", 5.0, opts.GROUP)
    t0 = 1_767_225_600.0
    clock = ManualClock(t0)
    runtimes = [Runtime(conf, clock=clock, worker_id=name) for name in ("w1", "w2")]
    try:
        runtimes[0].evaluator.define_many(
            {"alarm_id": f"alarm-p{i}", "name": f"cpu-p{i}", "project_id": f"p{i}",
             "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                                "comparison_operator": "gt", "period": 60}}
            for i in range(8))
        for _ in range(3):  # the joining grace, then the projects spread over both
            clock.advance(5.0)
            for runtime in runtimes:
                runtime.coordinate()
        alarm_id = sorted(runtimes[1].evaluator.evaluated_ids())[0]
        project = runtimes[1].evaluator.get(alarm_id).project_id
        assert alarm_id not in runtimes[0].evaluator.evaluated_ids()
        start = (int(clock()) // 60 + 1) * 60.0
        clock.set(start)
        # pushed to the worker that does not own the project: journalled for the owner
        runtimes[0].push_samples(project, [
            Sample("cpu_util", 90.0, f"{project}-vm", project_id=project,
                   timestamp=start + s + 0.5) for s in range(0, 60, 10)])
        for _ in range(13):  # to the period's close, both heartbeating all along
            clock.advance(5.0)
            for runtime in runtimes:
                runtime.coordinate()
        assert alarm_id not in runtimes[0].evaluator.evaluated_ids()
        runtimes[1].evaluator.evaluate()
        held = len(runtimes[0].store)
        owner, other = runtimes[1].explain(alarm_id), runtimes[0].explain(alarm_id)
        assert owner["state"] == "alarm" and owner["series"]["count"] == 1
        for fact in ("state", "series", "periods", "verdict", "rule"):
            assert other[fact] == owner[fact], fact
        assert len(runtimes[0].store) == held, "the other worker's own store is untouched"
        with pytest.raises(KeyError):
            runtimes[0].explain("no-such-alarm")
    finally:
        for runtime in runtimes:
            runtime.stop()


def test_a_promql_alarm_explains_itself_too(heat_engine):
    engine = heat_engine
    ident = engine.create(f"explainpromql{time.monotonic_ns()}",
                          engine.template("hot-prometheus.yaml"))
    try:
        explained = explanation(engine, ident, "cpu_alarm_high")
        assert explained["type"] == "prometheus"
        assert explained["alarm_id"] == engine.physical_id(ident, "cpu_alarm_high")
        assert "project_id" in explained["query"] and explained["summary"]
    finally:
        engine.client.delete_stack(engine.ctx, ident)
