"""An alarm's whole history, page by page, through Heat's own resource show.

``describe_stack_resource(..., with_attr=["history_page:<limit>[:<marker>]"])`` is
what heat-api does for ``GET .../resources/<name>?with_attr=...`` (the request
``openstack metering alarm history`` makes): Heat checks the stack's project, then
hands the name to the resource unchecked. The pages come from the real alarm
database of the session engine.
"""
from __future__ import annotations

import time
import uuid

import pytest

from heat_alarming.engine.alarm_store import HistoryEntry
from heat_alarming.resources.embedded import user_context

ALARM = """
heat_template_version: 2016-10-14
resources:
  alarm:
    type: OS::Metering::Alarm
    properties: {meter_name: history_pages_load, threshold: 50, comparison_operator: gt}
"""


def recorded(engine, alarm_id: str, count: int) -> list[str]:
    """``count`` events in the alarm's history, newest first (pairs share a timestamp,
    so that the page boundary falls between equal timestamps too). They are stamped
    after the engine's clock, so that they stay the newest whatever the evaluator
    records meanwhile."""
    start = engine.clock() + 10_000
    entries = [HistoryEntry(str(uuid.uuid4()), alarm_id, "state transition",
                            start + i // 2, "ok" if i % 2 else "alarm",
                            "alarm" if i % 2 else "ok", f"event {i}", {}, "low")
               for i in range(count)]
    engine.runtime.evaluator.alarm_store.record(entries)
    return [h.event_id for h in engine.runtime.evaluator.history(alarm_id, limit=count)]


def attribute(engine, ident, name, ctx=None):
    shown = engine.client.describe_stack_resource(ctx or engine.ctx, ident, "alarm",
                                                  with_attr=[name])
    return shown["attributes"][name]


@pytest.fixture
def alarm(heat_engine):
    ident = heat_engine.create(f"pages{time.monotonic_ns()}", ALARM)
    alarm_id = heat_engine.physical_id(ident, "alarm")
    yield heat_engine, ident, alarm_id
    heat_engine.client.delete_stack(heat_engine.ctx, ident)


def test_pages_hold_the_whole_history_newest_first_each_event_once(alarm):
    engine, ident, alarm_id = alarm
    recorded(engine, alarm_id, 23)
    expected = [h.event_id for h in engine.runtime.evaluator.history(alarm_id, limit=500)]
    seen, name = [], "history_page:5"
    while True:
        page = attribute(engine, ident, name)
        assert len(page["entries"]) <= 5
        seen += [entry["event_id"] for entry in page["entries"]]
        if page["next_marker"] is None:
            break
        assert page["next_marker"] == page["entries"][-1]["event_id"]
        name = f"history_page:5:{page['next_marker']}"
    assert seen == expected and len(expected) >= 23


def test_a_page_that_ends_the_history_says_so(alarm):
    engine, ident, alarm_id = alarm
    recorded(engine, alarm_id, 4)
    expected = [h.event_id for h in engine.runtime.evaluator.history(alarm_id, limit=500)]
    page = attribute(engine, ident, f"history_page:{len(expected)}")
    assert [e["event_id"] for e in page["entries"]] == expected
    assert page["next_marker"] is None
    entry = page["entries"][0]
    assert set(entry) == {"event_id", "timestamp", "type", "previous", "current", "reason"}
    # the ten-row attribute carries the same rows, with their event ids
    assert attribute(engine, ident, "history") == page["entries"][:10]


@pytest.mark.parametrize(("name", "says"), [
    ("history_page", "limit must be a whole number from 1 to 500"),
    ("history_page:0", "limit must be a whole number from 1 to 500"),
    ("history_page:501", "limit must be a whole number from 1 to 500"),
    ("history_page:-1", "limit must be a whole number from 1 to 500"),
    ("history_page:1e3", "limit must be a whole number from 1 to 500"),
    ("history_page:\u0661\u0662", "limit must be a whole number from 1 to 500"),
    ("history_page:9999999999999999999999", "limit must be a whole number from 1 to 500"),
    ("history_page:5:", "marker must be an event id"),
    ("history_page:5:" + "a" * 65, "marker must be an event id"),
    ("history_page:5:x' OR '1'='1", "marker must be an event id"),
    ("history_page:5:../../x", "marker must be an event id"),
    ("history_page:5:a:b", "takes a limit and a marker, no more"),
    ("history_page:5:" + str(uuid.uuid4()), "is no event of this alarm"),
])
def test_a_bad_page_request_is_answered_with_the_reason(alarm, name, says):
    engine, ident, _ = alarm
    page = attribute(engine, ident, name)
    assert set(page) == {"error"} and says in page["error"], page


def test_a_marker_of_another_alarm_is_refused(alarm, heat_engine):
    engine, ident, alarm_id = alarm
    other = heat_engine.create(f"pagesother{time.monotonic_ns()}", ALARM)
    try:
        other_events = recorded(engine, heat_engine.physical_id(other, "alarm"), 3)
        recorded(engine, alarm_id, 3)
        page = attribute(engine, ident, f"history_page:5:{other_events[0]}")
        assert page == {"error": f"history_page: marker {other_events[0]} is no event of "
                                 "this alarm"}
    finally:
        heat_engine.client.delete_stack(heat_engine.ctx, other)


def test_another_project_cannot_page_the_history(alarm):
    """Heat's own tenancy check comes before any attribute is resolved."""
    engine, ident, alarm_id = alarm
    recorded(engine, alarm_id, 3)
    with pytest.raises(Exception, match=r"The Stack \(pages\d+\) could not be found"):
        attribute(engine, ident, "history_page:5", ctx=user_context("another_tenant"))


def test_a_promql_alarm_pages_its_history_too(heat_engine):
    engine = heat_engine
    ident = engine.create(f"pagespromql{time.monotonic_ns()}",
                          engine.template("hot-prometheus.yaml"))
    try:
        shown = engine.client.describe_stack_resource(engine.ctx, ident, "cpu_alarm_high",
                                                      with_attr=["history_page:2"])
        alarm_id = shown["physical_resource_id"]
        expected = recorded(engine, alarm_id, 3)
        shown = engine.client.describe_stack_resource(engine.ctx, ident, "cpu_alarm_high",
                                                      with_attr=["history_page:2"])
        page = shown["attributes"]["history_page:2"]
        assert [e["event_id"] for e in page["entries"]] == expected[:2]
        assert page["next_marker"] == expected[1]
        assert "push_url" not in shown["attributes"], "a PromQL alarm takes no pushes"
    finally:
        engine.client.delete_stack(engine.ctx, ident)
