"""The store remembers each project's recently refused samples, for explanations, in
bounded memory: a project's last refusals, and a bounded number of projects."""
from heat_alarming.metering import ManualClock, RollingStore
from heat_alarming.metering import store as store_mod


def bad(project, meter="cpu_util"):
    return {"name": meter, "volume": "x", "resource_id": "vm", "project_id": project,
            "timestamp": 1_800_000_000.0}


def test_a_refusal_is_remembered_for_its_project_and_meter():
    store = RollingStore(clock=ManualClock(1_800_000_000.0))
    store.ingest([bad("p1"), bad("p1"), bad("p1", "mem")])
    store.ingest([bad("p2")])
    (refused,) = store.refusals("p1", "cpu_util")
    assert (refused["field"], refused["rows"]) == ("volume", 2)
    assert [r["meter"] for r in store.refusals("p1")] == ["mem", "cpu_util"]  # newest first
    assert store.refusals("p3") == []


def test_a_project_keeps_only_its_newest_refusals():
    store = RollingStore(clock=ManualClock(1_800_000_000.0))
    for i in range(store_mod.REFUSALS_PER_PROJECT + 5):
        store.ingest([bad("p1", f"meter-{i}")])
    kept = store.refusals("p1")
    assert len(kept) == store_mod.REFUSALS_PER_PROJECT
    assert kept[0]["meter"] == f"meter-{store_mod.REFUSALS_PER_PROJECT + 4}"


def test_the_projects_remembered_are_bounded_the_oldest_forgotten(monkeypatch):
    monkeypatch.setattr(store_mod, "REFUSING_PROJECTS", 3)
    store = RollingStore(clock=ManualClock(1_800_000_000.0))
    for project in ("a", "b", "c", "d"):
        store.ingest([bad(project)])
    assert store.refusals("a") == [] and len(store.refusals("d")) == 1


def test_refusals_noted_from_outside_the_store_count_too():
    store = RollingStore(clock=ManualClock(1_800_000_000.0))
    store.note_refusals([("p1", "cpu_util", "timestamp", "too old")])
    assert store.refusals("p1", "cpu_util")[0]["reason"] == "too old"
