"""templates/hot-prometheus.yaml in the in-process heat-engine against the real Prometheus.

The test runs a prometheus-client exporter that the test Prometheus scrapes; the
stack's PromQL alarms ask that Prometheus (the session engine's prometheus_url) about
the members' load: high -> the scale-up alarm fires -> the group grows; low -> it
shrinks. Another project's series in the same group is there all along and is never
seen: without the project's matcher the group's average would stay under the bar.
"""
from __future__ import annotations

import time

import pytest
from heat.common import template_format

from tests.support.heat_engine import PROMETHEUS_URL, settle, size
from tests.support.promql import decide

METRIC = "heat_alarming_e2e_cpu"


def decide_until(engine, ident, output, expected, timeout=60.0):
    """Full rounds (a minute apart by the engine's clock), each followed by the answers
    and the round deciding them, until the stack's ``output`` reads ``expected``."""
    evaluator = engine.runtime.evaluator
    deadline = time.monotonic() + timeout
    while True:
        engine.clock.advance(60)
        decide(evaluator, evaluator.promql)
        seen = engine.outputs(ident)[output]
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"{output} is {seen!r}, not {expected!r}"


@pytest.mark.engine_clock_near_real_time
def test_promql_alarms_scale_the_group_out_and_back_in(heat_engine, prometheus, exporter):
    engine = heat_engine
    if prometheus.url != PROMETHEUS_URL:
        pytest.skip(f"the session engine asks {PROMETHEUS_URL}, the test Prometheus is "
                    f"{prometheus.url}")
    gauge = exporter.gauge(METRIC, labels=("project", "server_group", "member"))
    query = f'avg({METRIC}{{server_group="%group%"}})'
    ident = engine.create("promql", engine.template("hot-prometheus.yaml"),
                          params={"cpu_query": query, "cooldown": 0,
                                  "repeat_actions": False})
    group, tenant = ident["stack_id"], ident["tenant"]
    assert size(engine, ident) == 1
    gauge.labels(project="someone-else", server_group=group, member="x").set(0.0)
    gauge.labels(project=tenant, server_group=group, member="m1").set(90.0)
    prometheus.wait_for(f'{METRIC}{{server_group="{group}",project="{tenant}"}}', 90.0)

    decide_until(engine, ident, "high_state", "alarm")
    settle(engine, ident)
    assert size(engine, ident) == 2
    events = engine.client.list_events(engine.ctx, ident)
    reasons = [e["resource_status_reason"] for e in events
               if e["resource_name"] == "scale_up" and e["resource_action"] == "SIGNAL"]
    assert any("to alarm" in r and "most recent: 90.0" in r for r in reasons), reasons

    gauge.labels(project=tenant, server_group=group, member="m1").set(5.0)
    prometheus.wait_for(f'{METRIC}{{server_group="{group}",project="{tenant}"}}', 5.0)
    decide_until(engine, ident, "low_state", "alarm")
    settle(engine, ident)
    assert size(engine, ident) == 1
    assert engine.outputs(ident)["high_state"] == "ok"
    engine.client.delete_stack(engine.ctx, ident)


def test_a_promql_alarm_takes_no_samples(heat_engine):
    engine = heat_engine
    ident = engine.create("promqlnosamples", engine.template("hot-prometheus.yaml"))
    with pytest.raises(Exception, match="takes no samples"):
        engine.client.resource_signal(engine.ctx, ident, "cpu_alarm_high",
                                      {"samples": [{"meter": "m", "value": 1,
                                                    "resource_id": "r"}]},
                                      sync_call=True)
    engine.client.delete_stack(engine.ctx, ident)


def test_a_query_update_is_checked_and_redefines_the_alarm(heat_engine):
    engine = heat_engine
    template = engine.template("hot-prometheus.yaml")
    ident = engine.create("promqlupdate", template)
    alarm_id = engine.physical_id(ident, "cpu_alarm_high")
    engine.client.update_stack(engine.ctx, ident, template_format.parse(template),
                               params={"cpu_query": "max(load)"}, files={}, args={})
    engine.wait(ident, "UPDATE")
    rule = engine.runtime.evaluator.get(alarm_id).rule
    assert rule.query == "max(load)"
    with pytest.raises(Exception, match="properties.query: unknown function"):
        engine.client.update_stack(engine.ctx, ident, template_format.parse(template),
                                   params={"cpu_query": "info(load)"}, files={}, args={})
    assert engine.runtime.evaluator.get(alarm_id).rule.query == "max(load)"
    engine.client.delete_stack(engine.ctx, ident)
