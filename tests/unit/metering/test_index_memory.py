"""The series index's memory under metadata that keeps changing on live series.

The attack: a project keeps one series alive and gives it a new, large value
of a metadata key that some alarm's query names, in every sample.  Each value
becomes a text of that key's attribute column; texts no row uses any more
must be dropped while the series lives (not only when it is forgotten), and
every query must keep selecting the right series across those compactions.
"""
import random
import tracemalloc

from heat_alarming.metering import RollingStore, Sample
from heat_alarming.metering.index import COMPACT_FLOOR
from heat_alarming.metering.query import build_query

from .conftest import T0

RETENTION = 3600


def _query(field, op, value):
    return [{"field": field, "op": op, "value": value}]


def _names(store, rows):
    return {store.index.keys[r][1] for r in rows.tolist()}


def test_a_live_series_with_ever_new_large_metadata_holds_bounded_memory(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    store.ingest([Sample("cpu", 1.0, "vm", project_id="A", timestamp=T0,
                         resource_metadata={"x": "first"})])
    # an alarm's query names metadata.x: its column now exists
    assert _names(store, store.select("cpu", _query("metadata.x", "eq", "first"), None,
                                      "A")) == {"vm"}
    big = "v" * 7000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for batch in range(60):  # 60 x 50 = 3,000 values of 7 KB: 21 MB if all kept
            clock.advance(1)
            samples = [Sample("cpu", 1.0, "vm", project_id="A", timestamp=clock(),
                              resource_metadata={"x": f"{batch}-{i}-{big}"})
                       for i in range(50)]
            assert store.ingest(samples).accepted == 50
            del samples
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert store.index.texts_held()["metadata.x"] <= COMPACT_FLOOR + 2
    assert held < 3_000_000, f"{held} bytes still held for one live series"
    last = f"59-49-{big}"
    assert _names(store, store.select("cpu", _query("metadata.x", "eq", last), None,
                                      "A")) == {"vm"}
    assert store.select("cpu", _query("metadata.x", "eq", f"0-0-{big}")).size == 0


def test_queries_answer_right_before_and_after_every_compaction(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    rand = random.Random(13)
    names = [f"vm-{i}" for i in range(30)]
    queries = [("eq", "7"), ("ne", "7"), ("lt", "5"), ("ge", "50")]
    numeric = [("gt", 40), ("le", 3)]
    compacted = False
    peak = 0
    for round_ in range(80):
        clock.advance(1)
        # a few shared values, and a stream of fresh ones that are soon dropped
        values = {name: str(rand.choice([7, 3, rand.randrange(1000)])) for name in names}
        store.ingest([Sample("cpu", 1.0, name, project_id="A", timestamp=clock(),
                             resource_metadata={"x": value, "flavor": {"ram": value}})
                      for name, value in values.items()])
        for op, value in queries:
            expected = {n for n, v in values.items()
                        if {"eq": v == value, "ne": v != value, "lt": v < value,
                            "ge": v >= value}[op]}
            assert _names(store, store.select("cpu", _query("metadata.x", op, value))) \
                == expected, (round_, op, value)
        for op, value in numeric:
            expected = {n for n, v in values.items()
                        if (float(v) > value if op == "gt" else float(v) <= value)}
            assert _names(store, store.select(
                "cpu", _query("metadata.flavor.ram", op, value))) == expected
        held = store.index.texts_held()["metadata.x"]
        compacted |= held < peak
        peak = max(peak, held)
    assert compacted, "the stream of fresh values must have triggered compactions"
    assert peak <= 2 * len(names) + COMPACT_FLOOR


def test_a_selection_taken_before_a_compaction_is_recomputed(clock):
    store = RollingStore(10, RETENTION, clock=clock)

    def push(values):
        clock.advance(10)
        assert store.ingest([Sample("cpu", float(i), f"vm-{i}", project_id="A",
                                    timestamp=clock(), resource_metadata={"x": v})
                             for i, v in enumerate(values)]).accepted == len(values)

    push(["keep", "keep", "drop", "drop"])
    selectors = [("cpu", build_query(_query("metadata.x", "eq", "keep")), "A"),
                 ("cpu", build_query(_query("metadata.x", "gt", "k")), "A")]
    selection = store.select_many(selectors)
    assert _names(store, selection.rows[:selection.lengths[0]]) == {"vm-0", "vm-1"}
    before = store.index.texts_held()["metadata.x"]
    for n in range(2 * COMPACT_FLOOR):  # vm-0 leaves "keep"; vm-2 and vm-3 churn
        push(["moved", "keep", f"fresh-{n}", f"fresh-{n}b"])
    assert store.index.texts_held()["metadata.x"] < 2 * COMPACT_FLOOR + before
    assert store.index_version != selection.version, "the selection must be recomputed"
    fresh = store.select_many(selectors)
    first, second = (fresh.rows[s:s + n] for s, n in zip(fresh.starts, fresh.lengths))
    assert _names(store, first) == {"vm-1"}
    assert _names(store, second) == {"vm-0", "vm-1"}  # "moved", "keep" > "k"; fresh-* < "k"
    counts, values, _ = store.aggregate(fresh, 60, int(clock() // 60), 1, ["avg"])
    assert values["avg"][0].tolist() == [1.0, 0.5], "vm-1 alone (1.0); vm-0 and vm-1"


def _many_keys(i):
    keys = {f"k{j:x}": j % 10 for j in range(800)}  # about 8 KB of JSON in 800 keys
    keys["k0"] = f"series-{i}"
    return keys


def _held_per_series(clock, metadata_of, n=150):
    store = RollingStore(10, RETENTION, clock=clock, max_metadata_bytes=16384)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = store.ingest([Sample("cpu", 1.0, f"vm-{i}", project_id="A", timestamp=T0,
                                      resource_metadata=metadata_of(i)) for i in range(n)])
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert result.accepted == n
    return store, held / n


def test_a_series_metadata_of_many_small_keys_is_held_once(clock):
    store, flat = _held_per_series(clock, _many_keys)
    assert flat < 45_000, f"{flat:.0f} bytes per series: the metadata is held twice"
    _, nested = _held_per_series(clock, lambda i: {"tags": _many_keys(i)})
    assert nested < 70_000, f"{nested:.0f} bytes per series"
    # what is kept is still the series' metadata: same samples are no change,
    # queries select by it and a snapshot keeps it
    version = store.index_version
    assert store.ingest([Sample("cpu", 2.0, "vm-3", project_id="A", timestamp=T0,
                                resource_metadata=_many_keys(3))]).accepted == 1
    assert store.index_version == version, "equal metadata is no change of the series"
    assert _names(store, store.select("cpu", _query("metadata.k0", "eq", "series-3"))) \
        == {"vm-3"}
    assert store.select("cpu", _query("metadata.k7", "eq", "7")).size == 150
    meta, arrays = store.export_state()
    assert [s[-1] for s in meta["series"]][:2] == [_many_keys(0), _many_keys(1)]


def test_nested_and_aliased_metadata_is_kept_as_sent(clock):
    store = RollingStore(10, RETENTION, clock=clock)
    metadata = {"metering.group": "web", "user_metadata": {"tier": "gold"},
                "ports": [1, 2], "flavor": {"ram": 512}}
    store.ingest([Sample("cpu", 1.0, "vm", project_id="A", timestamp=T0,
                         resource_metadata=metadata)])
    version = store.index_version
    store.ingest([Sample("cpu", 1.0, "vm", project_id="A", timestamp=T0 + 1,
                         resource_metadata=dict(metadata))])
    assert store.index_version == version
    meta, _ = store.export_state()
    assert meta["series"][0][-1] == metadata
    for field, value in [("metadata.metering.group", "web"), ("user_metadata.group", "web"),
                         ("metadata.user_metadata.tier", "gold"), ("metering.tier", "gold"),
                         ("metadata.ports", "[1, 2]")]:
        assert _names(store, store.select("cpu", _query(field, "eq", value))) == {"vm"}, field
    assert _names(store, store.select("cpu", [{"field": "metadata.flavor.ram", "op": "ge",
                                               "value": 256}])) == {"vm"}
