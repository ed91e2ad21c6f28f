"""Hostile sample signals to OS::Metering::Alarm, through the in-process heat-engine.

A project user controls every byte of a signal's details.  Each attack below
must end as a clear signal error naming the row and field (or the limit), and
nothing of a refused signal may be stored (issue 13, items 8, 9, 11, 12, 13).
"""
import contextlib
import uuid

import pytest
from oslo_config import cfg

LONE_ALARM = """
heat_template_version: 2016-10-14
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: hostile
      threshold: 50
      comparison_operator: gt
      period: 60
"""


@pytest.fixture(scope="module")
def stack(heat_engine):
    return heat_engine.create("hostile-samples", LONE_ALARM)


def signal(engine, ident, details, ctx=None):
    return engine.client.resource_signal(ctx or engine.ctx, ident, "alarm", details,
                                         sync_call=True)


def refused(engine, ident, details, ctx=None) -> str:
    with pytest.raises(Exception) as caught:
        signal(engine, ident, details, ctx)
    return str(caught.value)


def stored(engine, resource_id) -> int:
    query = [{"field": "resource_id", "op": "eq", "value": resource_id}]
    return engine.runtime.store.select("hostile", query).size


def row(resource_id=None, **fields):
    base = {"meter": "hostile", "value": 1.0,
            "resource_id": resource_id or f"vm-{uuid.uuid4().hex[:8]}"}
    base.update(fields)
    return base


@contextlib.contextmanager
def option(name, value):
    cfg.CONF.set_override(name, value, "heat_alarming")
    try:
        yield
    finally:
        cfg.CONF.clear_override(name, "heat_alarming")


def nested(depth):
    value = {}
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("details, words", [
    ("samples", "signals carry {\"samples\": [...]}"),
    (["samples"], "signals carry"),
])
def test_details_of_the_wrong_shape_are_a_clear_signal_error(heat_engine, stack, details,
                                                             words):
    assert words in refused(heat_engine, stack, details)


@pytest.mark.parametrize("changes, where, words", [  # each raised or was accepted before
    (dict(value=10 ** 400), "samples[1].value", "finite"),
    (dict(value=1e308), "samples[1].value", "within"),
    (dict(timestamp=10 ** 400), "samples[1].timestamp", "epoch seconds"),
    (dict(resource_id="r" * 300), "samples[1].resource_id", "longer than 255"),
    (dict(resource_id="vm\x00"), "samples[1].resource_id", "NUL"),
    (dict(resource_id="vm\ud800"), "samples[1].resource_id", "surrogate"),
    (dict(unit="u" * 300), "samples[1].unit", "longer than 255"),
    (dict(metadata=nested(100)), "samples[1].metadata", "nested deeper than 16"),
])
def test_each_hostile_field_refuses_the_whole_signal_naming_it(heat_engine, stack, changes,
                                                               where, words):
    first = row()
    bad = dict(row("vm-bad"), **changes)
    message = refused(heat_engine, stack, {"samples": [first, bad]})
    assert where in message and words in message, message
    assert "nothing was stored" in message
    assert stored(heat_engine, first["resource_id"]) == 0


def test_a_future_row_cannot_push_the_batchs_own_in_retention_rows_out(heat_engine, stack):
    """The store's ring covers retention plus clock skew: a row stamped near now + skew
    leaves every row inside the retention in the window (it used to refuse them)."""
    engine = heat_engine
    now = engine.clock()
    early, late = row(timestamp=now + 290), row(timestamp=now - 3530)
    signal(engine, stack, {"samples": [early, late]})
    assert stored(engine, early["resource_id"]) == stored(engine, late["resource_id"]) == 1


def test_a_ten_megabyte_resource_id_is_refused_by_the_signal_size(heat_engine, stack):
    huge = row("r" * 10_000_000)
    message = refused(heat_engine, stack, {"samples": [huge]})
    assert "max_signal_bytes (1048576)" in message, message[:300]
    assert stored(heat_engine, huge["resource_id"]) == 0


def test_too_many_rows_are_refused_before_any_is_read(heat_engine, stack):
    rows = [row("vm-many", timestamp=heat_engine.clock() - i * 0.01) for i in range(1001)]
    message = refused(heat_engine, stack, {"samples": rows})
    assert "1001 rows is more than max_samples_per_signal (1000)" in message
    assert stored(heat_engine, "vm-many") == 0


def test_signal_limits_are_options(heat_engine, stack):
    rows = [row() for _ in range(3)]
    with option("max_samples_per_signal", 2):
        assert "max_samples_per_signal (2)" in refused(heat_engine, stack, {"samples": rows})
    with option("max_signal_bytes", 200):
        assert "max_signal_bytes (200)" in refused(heat_engine, stack, {"samples": rows})
    signal(heat_engine, stack, {"samples": rows})
    assert all(stored(heat_engine, r["resource_id"]) == 1 for r in rows)


def test_a_signal_beyond_the_series_quota_is_refused_whole_for_that_project_only(
        heat_engine, stack, monkeypatch):
    from heat_alarming.resources.embedded import user_context
    engine = heat_engine
    store = engine.runtime.store
    other_ctx = user_context(tenant_id="quota-other-project")
    other = engine.create("hostile-samples-other", LONE_ALARM, ctx=other_ctx)
    held = store.index.series_of_project.get(stack["tenant"], 0)
    monkeypatch.setattr(store, "max_series_per_project", held + 3)
    rows = [row(f"vm-quota-{i}") for i in range(4)]
    message = refused(engine, stack, {"samples": rows})
    assert "samples[3].resource_id" in message and "quota of" in message, message
    assert "max_series_per_project" in message
    assert all(stored(engine, r["resource_id"]) == 0 for r in rows), "refused whole"
    signal(engine, other, {"samples": rows}, ctx=other_ctx)
    assert all(stored(engine, r["resource_id"]) == 1 for r in rows), \
        "the other project is unaffected"
    signal(engine, stack, {"samples": rows[:3]})  # within the quota
    assert store.index.series_of_project[stack["tenant"]] == held + 3
