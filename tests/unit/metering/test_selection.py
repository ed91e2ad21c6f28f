"""Many selectors at once: the fast full select and the incremental reselect.

Issue 18, part 2: resolving every alarm's selector by a pass over all the
meter's series cost alarms x series, after any new series.  Whatever the
index holds and however it changed, both must select exactly what
:meth:`SeriesIndex.select` selects per selector, and a reselect must report
exactly the segments that gained or lost a row or hold a row released since.
"""
import numpy as np
import pytest

from heat_alarming.metering import selection as selection_mod
from heat_alarming.metering.index import SeriesIndex
from heat_alarming.metering.query import AllOf, AnyOf, Condition, Not, Present, Query
from heat_alarming.metering.selection import Selectors, reselect, scoped, select

METERS = ("cpu", "mem", "disk")
RESOURCES = tuple(f"vm-{i}" for i in range(12))
PROJECTS = ("p", "q", "r")
USERS = ("u1", "u2", None)
SOURCES = ("openstack", "other")
META_KEYS = ("group", "size", "zone", "late")  # "late": on no series at first
META_VALUES = ("web", "db", "1", 2, 3.5, "10", True)
TEXT_FIELDS = ("resource_id", "project_id", "user_id", "source") + tuple(
    f"metadata.{k}" for k in META_KEYS)


def pick(rng, options):
    return options[int(rng.integers(len(options)))]


def random_metadata(rng, late=False):
    keys = META_KEYS if late else META_KEYS[:-1]
    return {k: pick(rng, META_VALUES) for k in keys if rng.random() < 0.6}


def random_value(rng, field):
    return {"resource_id": RESOURCES, "project_id": PROJECTS, "user_id": USERS[:2],
            "source": SOURCES}.get(field, tuple(str(v) for v in META_VALUES) + ("nope",))


def random_condition(rng):
    field = pick(rng, TEXT_FIELDS)
    kind = rng.random()
    if kind < 0.45:
        return Condition(field, "eq", pick(rng, random_value(rng, field)))
    if kind < 0.55:
        return Condition(field, "ne", pick(rng, random_value(rng, field)))
    if kind < 0.65:
        return Condition(field, "like", pick(rng, ("vm-1%", "%b", "_", "%")))
    if kind < 0.75:
        return Condition(field, pick(rng, ("lt", "gt")), pick(rng, ("m", "vm-5", "3")))
    if kind < 0.85:
        return Condition(field, pick(rng, ("lt", "ge", "eq")), float(rng.integers(0, 4)),
                         numeric=True)
    if kind < 0.92:  # an "in": any of a few values
        return AnyOf(tuple(Condition(field, "eq", pick(rng, random_value(rng, field)))
                           for _ in range(int(rng.integers(1, 4)))))
    if kind < 0.96:
        return Not(random_condition(rng))
    if kind < 0.98:
        return Present(field)
    return AllOf((random_condition(rng), random_condition(rng)))


def random_selectors(rng, n):
    selectors = []
    for _ in range(n):
        conditions = tuple(random_condition(rng) for _ in range(int(rng.integers(0, 4))))
        if rng.random() < 0.5:  # the common case: one resource
            conditions = (Condition("resource_id", "eq", pick(rng, RESOURCES)),) + conditions
        project = pick(rng, PROJECTS + (None,))
        selectors.append((pick(rng, METERS), Query(conditions), project))
    if selectors and rng.random() < 0.5:
        selectors.append(selectors[0])  # the same question twice
    return selectors


class RandomIndex:
    """A SeriesIndex changed at random: new series, releases (rows reused after the
    quarantine), attribute and metadata updates."""

    def __init__(self, rng):
        self.rng = rng
        self.index = SeriesIndex(capacity=4)
        self.late = False  # once true, series may carry the "late" metadata key
        for _ in range(int(rng.integers(0, 40))):
            self.add()

    def add(self):
        rng = self.rng
        key = (pick(rng, METERS), pick(rng, RESOURCES), pick(rng, PROJECTS + ("",)))
        if key in self.index.row_of:
            return
        self.index.add(key, user_id=pick(rng, USERS), source=pick(rng, SOURCES), unit="%",
                       type_="gauge", metadata=random_metadata(rng, self.late))

    def change(self):
        rng, index = self.rng, self.index
        live = index.live_rows()
        kind = rng.random()
        if kind < 0.1:
            self.late = True
        if kind < 0.45 or live.size == 0:
            for _ in range(int(rng.integers(1, 4))):
                self.add()
        elif kind < 0.65:
            index.release(rng.choice(live, size=int(rng.integers(0, min(live.size, 4) + 1)),
                                     replace=False))
        elif kind < 0.85:
            index.update(int(pick(rng, live)), user_id=pick(rng, USERS),
                         source=pick(rng, SOURCES), unit="%", type_="gauge",
                         metadata=random_metadata(rng, self.late))
        else:
            index.set_metadata(int(pick(rng, live)), random_metadata(rng, self.late))


def plain(index, selectors):
    """Each selector's rows, one select each: the specification."""
    return [index.select(meter, scoped(query, project)) for meter, query, project in selectors]


def segments(selection):
    return [selection.rows[s:s + n] for s, n in zip(selection.starts, selection.lengths)]


def assert_same(selection, expected, index):
    assert selection.version == index.version
    assert len(segments(selection)) == len(expected)
    for i, (got, want) in enumerate(zip(segments(selection), expected)):
        assert got.tolist() == want.tolist(), i


@pytest.mark.parametrize("seed", range(60))
def test_fast_select_and_reselect_agree_with_one_select_per_selector(seed):
    rng = np.random.default_rng(seed)
    world = RandomIndex(rng)
    index = world.index
    plan = Selectors(random_selectors(rng, int(rng.integers(0, 30))))
    assert list(plan) == plan[:], "a plan reads as its selectors"
    before = plain(index, plan)
    selection = select(index, plan)
    assert_same(selection, before, index)
    for _ in range(25):
        old_version = index.version
        for _ in range(int(rng.integers(0, 6))):  # releases, then adds reuse rows
            world.change()
        _, released = index.changed_since(old_version)
        selection, changed = reselect(index, plan, selection)
        after = plain(index, plan)
        assert_same(selection, after, index)
        moved = {i for i, (a, b) in enumerate(zip(before, after))
                 if a.tolist() != b.tolist() or np.isin(a, released).any()}
        assert changed.tolist() == sorted(moved)
        assert_same(select(index, plan), after, index)
        before = after


def test_many_changes_fall_back_to_a_full_select_reported_everywhere(monkeypatch):
    rng = np.random.default_rng(7)
    world = RandomIndex(rng)
    plan = Selectors(random_selectors(rng, 10))
    selection = select(world.index, plan)
    monkeypatch.setattr(selection_mod, "RESELECT_FLOOR", 0)
    for _ in range(40):
        world.add()
    selection, changed = reselect(world.index, plan, selection)
    assert_same(selection, plain(world.index, plan), world.index)
    assert changed.tolist() == list(range(len(plan)))


def test_a_released_row_reused_by_another_series_leaves_the_old_segments():
    index = SeriesIndex()
    meta = {"group": "web"}
    for i in range(3):
        index.add(("cpu", f"vm-{i}", "p"), user_id=None, source="s", unit="%", type_="gauge",
                  metadata=meta)
    plan = Selectors([("cpu", Query((Condition("resource_id", "eq", "vm-1"),)), "p"),
                      ("cpu", Query((Condition("resource_id", "eq", "vm-9"),)), "p"),
                      ("cpu", Query((Condition("metadata.group", "eq", "web"),)), None),
                      ("cpu", Query(), "p")])
    selection = select(index, plan)
    assert [s.tolist() for s in segments(selection)] == [[1], [], [0, 1, 2], [0, 1, 2]]
    index.release([1])
    index.release([])  # the quarantine ends: row 1 is free
    index.add(("cpu", "vm-9", "p"), user_id=None, source="s", unit="%", type_="gauge",
              metadata={"group": "db"})
    assert index.row_of[("cpu", "vm-9", "p")] == 1, "the new series took the released row"
    selection, changed = reselect(index, plan, selection)
    assert [s.tolist() for s in segments(selection)] == [[], [1], [0, 2], [0, 1, 2]]
    assert changed.tolist() == [0, 1, 2, 3], "the project's rows are the same, a series not"


def test_a_reselect_with_nothing_changed_keeps_the_rows():
    index = SeriesIndex()
    index.add(("cpu", "vm-1", "p"), user_id=None, source="s", unit="%", type_="gauge",
              metadata={})
    plan = Selectors([("cpu", Query((Condition("resource_id", "eq", "vm-1"),)), "p")])
    selection = select(index, plan)
    index.add(("mem", "vm-1", "p"), user_id=None, source="s", unit="%", type_="gauge",
              metadata={})
    again, changed = reselect(index, plan, selection)
    assert again.rows is selection.rows and again.version == index.version
    assert changed.size == 0
