"""Rounds are incremental, and decide exactly as a whole reduction of the window does.

A threshold group keeps its window's reduced periods between rounds and reduces
only the period that closed, plus any period a late sample changed; rules whose
N newest periods all have data are decided from kept facts. These tests hold
every round of randomised groups against the whole-window decision, and show
the kept periods giving way to late samples, retired buckets and new selections.
"""
import numpy as np
import pytest

from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.engine.alarm import ALARM, OK, ThresholdRule
from heat_alarming.engine.threshold import ThresholdGroup
from heat_alarming.metering import ManualClock, RollingStore
from heat_alarming.metering.reduced import ReducedPeriods, subselection

PERIOD, T0 = 60, 1_767_225_600.0
STATISTICS = ("avg", "sum", "min", "max", "count", "std", "last")


def random_rules(rng, n):
    rules = []
    for i in range(n):
        n_periods = int(rng.integers(1, 5))
        rules.append(ThresholdRule.from_dict({
            "meter_name": "load", "period": PERIOD,
            "statistic": str(rng.choice(STATISTICS)),
            "evaluation_periods": n_periods,
            "datapoints_to_alarm": int(rng.integers(1, n_periods + 1))
            if rng.random() < 0.2 else None,
            "missing_data": str(rng.choice(["missing", "missing", "ignore", "breaching",
                                            "not_breaching"])),
            "exclude_outliers": bool(rng.random() < 0.15),
            "threshold": float(rng.uniform(20, 80)),
            "comparison_operator": str(rng.choice(["gt", "ge", "lt", "le", "eq", "ne"])),
            "query": [{"field": "resource_id", "op": "eq", "value": f"r{i % 7}"}]}))
    return rules


def whole_window_verdicts(group, store, now):
    """The decision from one reduction of the whole window, kept nowhere."""
    first, n = group.closed_periods(now)
    counts, values, _ = store.aggregate(group.selection(store), PERIOD, first, n,
                                        group.statistics)
    return group.decide(counts, values)


def feed(store, rng, start, rows, late_rows=()):
    """A period's samples for some series (gaps at random), and late ones for
    series ``late_rows`` into the period before."""
    chosen = rows[rng.random(rows.size) < 0.8]
    if chosen.size:
        times = start + rng.uniform(0, PERIOD - 1, chosen.size)
        store.ingest_arrays(chosen, times, rng.choice([10.0, 50.0, 90.0], chosen.size)
                            + rng.normal(0, 1, chosen.size))
    for row in late_rows:
        store.ingest_arrays(np.array([row]), np.array([start - PERIOD / 2]),
                            np.array([float(rng.uniform(0, 100))]))


@pytest.mark.parametrize("seed", range(6))
def test_every_round_decides_as_the_whole_window_does(seed):
    rng = np.random.default_rng(seed)
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    rows = np.array([store.series_id("load", f"r{i}", None) for i in range(7)])
    rules = random_rules(rng, 40)
    group = ThresholdGroup(PERIOD, rules, [None] * len(rules))
    for round_ in range(14):
        start = clock()
        late = rows[rng.random(rows.size) < 0.3] if round_ % 3 == 2 else ()
        feed(store, rng, start, rows, late)
        clock.set(start + PERIOD)
        got = group.evaluate(store, clock())
        want = whole_window_verdicts(group, store, clock())
        for name in ("verdict", "trend", "points", "outside", "most_recent"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name),
                                          err_msg=f"round {round_}: {name}")


def kept_store():
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    rows = np.array([store.series_id("load", f"r{i}", None) for i in range(3)])
    return clock, store, rows


def one_period(store, clock, rows, value=50.0):
    """A sample of each series early in the period and one in its last bucket (the ring
    then holds all of the period's buckets)."""
    start = clock()
    store.ingest_arrays(np.concatenate((rows, rows)),
                        np.concatenate((np.full(rows.size, start + 5.0),
                                        np.full(rows.size, start + 55.0))),
                        np.full(2 * rows.size, value))
    clock.set(start + PERIOD)


def every_series(store):
    """One selector: every series of the meter."""
    return store.select_many([("load", ThresholdRule.from_dict(
        {"meter_name": "load", "threshold": 1}).selector(), None)])


def test_a_steady_read_reduces_only_the_period_that_closed():
    """(A period with a bucket the ring has not reached yet is read again each time:
    the ring holds all of these.)"""
    clock, store, rows = kept_store()
    selection, kept = every_series(store), ReducedPeriods(PERIOD, ["avg"], 4)
    for _ in range(5):
        one_period(store, clock, rows)
        kept.read(store, selection, int(clock() // PERIOD) - 4)
    assert kept.fresh_periods.tolist() == [3], "the three older periods were kept"
    counts, values = kept.window()
    assert counts[:, 0].tolist() == [6, 6, 6, 6]
    assert values["avg"][:, 0].tolist() == [50.0] * 4


def test_a_late_sample_reduces_its_period_again():
    clock, store, rows = kept_store()
    selection, kept = every_series(store), ReducedPeriods(PERIOD, ["avg"], 4)
    for _ in range(5):
        one_period(store, clock, rows)
    first = int(clock() // PERIOD) - 4
    kept.read(store, selection, first)
    store.ingest_arrays(rows[:1], np.array([(first + 1) * PERIOD + 30.0]), np.array([110.0]))
    kept.read(store, selection, first)
    assert kept.fresh_periods.tolist() == [1], "only the period the late sample fell in"
    _, values = kept.window()
    assert values["avg"][1, 0] == pytest.approx((6 * 50.0 + 110.0) / 7)


def test_changed_segments_of_a_new_selection_are_reduced_again_in_every_period():
    clock, store, rows = kept_store()
    conditions = [ThresholdRule.from_dict({"meter_name": "load", "threshold": 1, "query": [
        {"field": "resource_id", "op": "eq", "value": f"r{i}"}]}).selector() for i in (0, 1)]
    selectors = [("load", c, None) for c in conditions]
    kept = ReducedPeriods(PERIOD, ["count"], 3)
    for _ in range(4):
        one_period(store, clock, rows)
    first = int(clock() // PERIOD) - 3
    kept.read(store, store.select_many(selectors), first)
    # a wider selection for segment 1 (as a new series matching it would give)
    wider = store.select_many([selectors[0], ("load", ThresholdRule.from_dict(
        {"meter_name": "load", "threshold": 1}).selector(), None)])
    kept.read(store, wider, first, changed=np.array([1]))
    assert kept.fresh_periods.size == 0 and kept.fresh_segments.tolist() == [1]
    counts, _ = kept.window()
    assert counts[:, 0].tolist() == [2, 2, 2] and counts[:, 1].tolist() == [6, 6, 6]


def test_a_subselection_keeps_the_rows_of_the_segments_picked():
    clock, store, rows = kept_store()
    everything = ThresholdRule.from_dict({"meter_name": "load", "threshold": 1}).selector()
    one = ThresholdRule.from_dict({"meter_name": "load", "threshold": 1, "query": [
        {"field": "resource_id", "op": "eq", "value": "r2"}]}).selector()
    selection = store.select_many([("load", everything, None), ("load", one, None),
                                   ("load", everything, None)])
    part = subselection(selection, np.array([1, 2]))
    assert part.lengths.tolist() == [1, 3] and part.starts.tolist() == [0, 1]
    assert part.rows.tolist() == [int(rows[2])] + rows.tolist()


def test_percentiles_are_not_kept():
    with pytest.raises(ValueError, match="percentiles"):
        ReducedPeriods(PERIOD, ["p95"], 3)


def test_a_late_sample_into_a_decided_period_changes_the_next_rounds_verdict():
    clock = ManualClock(T0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, AlarmStore("sqlite://"), clock=clock)
    alarm = evaluator.define({
        "alarm_id": "a", "name": "load-high", "project_id": "p",
        "threshold_rule": {"meter_name": "load", "statistic": "max", "period": PERIOD,
                           "evaluation_periods": 2, "threshold": 75,
                           "comparison_operator": "gt",
                           "query": [{"field": "resource_id", "op": "eq", "value": "vm"}]}})
    row = np.array([store.series_id("load", "vm", "p")])
    for _ in range(3):
        start = clock()
        store.ingest_arrays(row, np.array([start + 5.0]), np.array([10.0]))
        clock.set(start + PERIOD)
        evaluator.evaluate()
    assert alarm.state == OK
    # late samples above the threshold into both judged periods, decided ok already:
    # the next round, with no newer period closed, reads them
    store.ingest_arrays(np.repeat(row, 2), np.array([start - PERIOD + 30.0, start + 30.0]),
                        np.array([95.0, 96.0]))
    (change,) = evaluator.evaluate()
    assert alarm.state == ALARM and change["reason_data"]["most_recent"] == 96.0
    # and one late sample of a series that no alarm watches changes nothing
    other = np.array([store.series_id("load", "elsewhere", "p")])
    store.ingest_arrays(other, np.array([start + 30.0]), np.array([1.0]))
    assert evaluator.evaluate() == [] and alarm.state == ALARM


def test_a_group_moved_to_a_restored_store_reads_that_store_afresh():
    """Write marks and index versions count one store's changes: a store rebuilt from a
    snapshot starts them again, so nothing kept from the first store may be reused."""
    clock, store, rows = kept_store()
    rule = ThresholdRule.from_dict({"meter_name": "load", "statistic": "max", "threshold": 75,
                                    "evaluation_periods": 1, "period": PERIOD})
    group = ThresholdGroup(PERIOD, [rule], [None])
    for _ in range(30):
        one_period(store, clock, rows, value=10.0)
        group.evaluate(store, clock())
    restored = RollingStore.from_state(*store.export_state(), clock=clock)
    group.evaluate(restored, clock())
    newest = int(clock() // PERIOD) - 1
    restored.ingest_arrays(rows[:1], np.array([newest * PERIOD + 30.0]), np.array([99.0]))
    got = group.evaluate(restored, clock())
    want = whole_window_verdicts(group, restored, clock())
    assert got.most_recent.tolist() == want.most_recent.tolist() == [99.0]
