"""Alarms keep deciding right while the store forgets series and reuses their rows.

Issue 13, item 8: an alarm over a group whose series all went silent must not
read the rows that new series of another group took over, and an alarm on a
series that keeps sending decides as before.
"""
from heat_alarming.metering import Sample

from .conftest import PERIOD, T0


def group_samples(prefix, group, n, at, value):
    return [Sample("cpu_util", value, f"{prefix}-{i}", project_id="p", timestamp=at + 0.5,
                   resource_metadata={"metering.server_group": group}) for i in range(n)]


def test_alarms_read_only_their_own_series_across_a_reclamation(world):
    rule = {"evaluation_periods": 1}
    web = world.alarm(dict(rule, matching_metadata={"metadata.user_metadata.server_group":
                                                    "web"}), name="web", project_id="p")
    db = world.alarm(dict(rule, matching_metadata={"metadata.user_metadata.server_group":
                                                   "db"}), name="db", project_id="p")
    live = world.alarm(dict(rule, query=[{"field": "resource_id", "op": "eq",
                                          "value": "vm-live"}]), name="live", project_id="p")
    store, clock, evaluator = world.store, world.clock, world.evaluator

    def period(index, extra=()):
        start = T0 + index * PERIOD
        rows = [Sample("cpu_util", 90.0, "vm-live", project_id="p", timestamp=start + 1)]
        assert store.ingest(rows + list(extra)).rejected == []
        clock.set(start + PERIOD + 0.5)
        evaluator.evaluate()
        return {a.name: evaluator.get(a.alarm_id).state for a in (web, db, live)}

    states = period(0, group_samples("web", "web", 300, T0, 90.0))
    assert states == {"web": "alarm", "db": "insufficient data", "live": "alarm"}
    assert len(store) == 301
    rows = store.index.n_rows
    n_periods = 2 * store.retention // PERIOD
    for index in range(1, n_periods):
        states = period(index)
        assert states["live"] == "alarm", index
        if index > 1:  # the evaluator looks one period back
            assert states["web"] == "insufficient data", index
    assert len(store) == 1, "the web series were forgotten"
    index = n_periods
    states = period(index, group_samples("db", "db", 300, T0 + index * PERIOD, 90.0))
    assert store.index.n_rows == rows, "the db series took the web series' rows"
    assert states == {"web": "insufficient data", "db": "alarm", "live": "alarm"}
