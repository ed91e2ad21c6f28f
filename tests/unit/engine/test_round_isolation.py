"""One alarm's bad definition or failure is its own: every other alarm is decided.

A definition that cannot work is refused when it is defined, with the field named;
one that still fails when evaluated (written straight to the alarm database, as an
older release could, or failing in the store) alone goes to insufficient data with
the error as its reason, while every other alarm, of its project or another, is
decided and committed in the same round. On SQLite and PostgreSQL.
"""
import dataclasses
import json
import time

import pytest
import sqlalchemy as sa

from heat_alarming.engine import (
    ALARM,
    OK,
    UNKNOWN,
    Alarm,
    AlarmError,
    TimeConstraint,
    models,
)
from heat_alarming.metering import RollingStore
from tests.support.alarm_worlds import AlarmWorld, threshold_alarm
from tests.support.databases import DATABASES, database_url


@pytest.fixture(params=DATABASES)
def world(request, tmp_path):
    world = AlarmWorld(database_url(request.param, tmp_path, request))
    yield world
    world.close()


def store_directly(world, alarm: Alarm) -> str:
    """Write a definition as an older release could have, bypassing validation."""
    world.alarm_store.save_alarm(alarm)
    world.evaluator.reload()
    return alarm.alarm_id


def test_a_cron_that_never_fires_is_refused_naming_the_field(world):
    with pytest.raises(AlarmError, match=r"time_constraints\[0\]\.start: '0 0 31 2 \*' "
                                         "never fires"):
        world.evaluator.define(threshold_alarm("project-a", "feb-31", time_constraints=[
            {"name": "never", "start": "0 0 31 2 *", "duration": 60}]))
    assert world.evaluator.alarms() == []


def test_a_stored_time_constraint_that_raises_fails_alone(world):
    bad = Alarm.from_dict(dict(threshold_alarm("project-a", "feb-31"), state=OK))
    bad.time_constraints = (TimeConstraint("never", "0 0 31 2 *", 60),)
    store_directly(world, bad)
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    results = world.feed({"project-a": 90.0, "project-b": 90.0})
    assert {(r["alarm_id"], r["current"]) for r in results if r["transition"]} == {
        (bad.alarm_id, UNKNOWN), (theirs.alarm_id, ALARM)}, "both decided in one round"
    assert world.committed(theirs.alarm_id).state == ALARM, "B was decided in that round"
    failed = world.committed(bad.alarm_id)
    assert failed.state == UNKNOWN
    assert failed.state_reason.startswith("Alarm could not be evaluated")
    assert "date" in failed.state_reason  # croniter's own words: no date found
    world.feed({"project-a": 90.0, "project-b": 10.0})
    assert world.committed(theirs.alarm_id).state == OK, "and in every later round"


def test_a_stored_composite_of_10000_leaves_is_decided(world):
    leaf = threshold_alarm("project-a", "x")["threshold_rule"]
    huge = Alarm.from_dict({"name": "huge", "project_id": "project-a",
                            "composite_rule": {"or": [leaf] * 10_000}})
    store_directly(world, huge)
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    world.feed({"project-a": 90.0, "project-b": 90.0})
    assert world.committed(theirs.alarm_id).state == ALARM
    assert world.committed(huge.alarm_id).state == ALARM


def composite(tree):
    return {"name": "c", "project_id": "project-a", "composite_rule": tree}


def nested(depth):
    rule = threshold_alarm("project-a", "x")["threshold_rule"]
    tree = rule
    for _ in range(depth):
        tree = {"and": [tree]}
    return tree


def test_composite_size_and_depth_are_bounded(world):
    rule = threshold_alarm("project-a", "x")["threshold_rule"]
    world.evaluator.define(composite({"or": [rule] * 100}))
    with pytest.raises(AlarmError, match="composite_rule: 101 rules and alarms is more "
                                         "than the 100 allowed"):
        world.evaluator.define(composite({"or": [rule] * 101}))
    world.evaluator.define(composite(nested(10)))
    with pytest.raises(AlarmError, match="composite_rule: and/or nested 11 levels deep"):
        world.evaluator.define(composite(nested(11)))


def test_the_bounds_are_options(tmp_path):
    from heat_alarming.engine import Limits
    world = AlarmWorld(str(tmp_path / "a.sqlite"),
                       limits=Limits(composite_leaves=3, composite_depth=2))
    rule = threshold_alarm("project-a", "x")["threshold_rule"]
    with pytest.raises(AlarmError, match="4 rules and alarms is more than the 3"):
        world.evaluator.define(composite({"or": [rule] * 4}))
    with pytest.raises(AlarmError, match="nested 3 levels deep"):
        world.evaluator.define(composite(nested(3)))
    world.close()


def test_nesting_3000_deep_is_a_clean_alarm_error(world):
    for build in (Alarm.from_dict, world.evaluator.define):
        with pytest.raises(AlarmError) as caught:
            build(composite(nested(3000)))
        assert caught.value.field.startswith("composite_rule")
        assert "nested more than 50 levels deep" in caught.value.reason


def test_a_stored_definition_nested_3000_deep_is_reported_not_fatal(world):
    rule = json.dumps(threshold_alarm("project-a", "x")["threshold_rule"])
    tree = '{"and": [' * 3000 + rule + "]}" * 3000
    definition = ('{"alarm_id": "deep", "name": "deep", "project_id": "project-a", '
                  '"type": "composite", "composite_rule": ' + tree + "}")
    with world.alarm_store.engine.begin() as connection:
        connection.execute(models.alarms.insert().values(
            alarm_id="deep", project_id="project-a", name="deep", definition=definition,
            state=OK, state_reason="", updated_at=time.time()))
    world.evaluator.reload()
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    world.feed({"project-b": 90.0})
    assert world.committed(theirs.alarm_id).state == ALARM
    with world.alarm_store.engine.connect() as connection:
        row = connection.execute(sa.select(models.alarms.c.state, models.alarms.c.state_reason)
                                 .where(models.alarms.c.alarm_id == "deep")).one()
    assert row.state == UNKNOWN
    assert row.state_reason.startswith("Alarm could not be evaluated: invalid stored "
                                       "definition")
    assert world.evaluator.delete("deep") is True, "it can still be deleted"


class PoisonedStore(RollingStore):
    """A fault injector (no validated rule can make the store fail any longer): selecting
    the meter "poison" raises; aggregate calls are counted."""

    aggregate_calls = 0

    def select_many(self, selectors):
        if any(meter == "poison" for meter, _, _ in selectors):
            raise RuntimeError("poisoned selector")
        return super().select_many(selectors)

    def aggregate(self, *args, **kwargs):
        type(self).aggregate_calls += 1
        return super().aggregate(*args, **kwargs)


def test_a_failing_rule_is_narrowed_down_and_the_rest_of_its_group_decided(tmp_path):
    world = AlarmWorld(str(tmp_path / "a.sqlite"), store_class=PoisonedStore)
    theirs = world.evaluator.define_many(
        threshold_alarm("project-b", f"b-{i}") for i in range(40))
    PoisonedStore.aggregate_calls = 0
    world.feed({"project-b": 90.0})
    assert PoisonedStore.aggregate_calls == 1, "one whole-array call for the group"
    poisoned = world.evaluator.define(threshold_alarm("project-a", "poison",
                                                      rule={"meter_name": "poison"}))
    PoisonedStore.aggregate_calls = 0
    world.feed({"project-b": 10.0})
    assert {world.committed(a.alarm_id).state for a in theirs} == {OK}
    assert 1 < PoisonedStore.aggregate_calls < 20, "halving, not one call per alarm"
    failed = world.committed(poisoned.alarm_id)
    assert failed.state == UNKNOWN
    assert failed.state_reason == ("Alarm could not be evaluated: RuntimeError: "
                                   "poisoned selector")
    world.close()


class StoreFailingReasons(RollingStore):
    """A fault injector: the refused samples of project-a, which a reason reads, cannot be
    read."""

    def refusals(self, project_id, meter=None):
        if project_id == "project-a":
            raise RuntimeError("no refusals today")
        return super().refusals(project_id, meter)


def test_an_alarm_whose_reason_cannot_be_made_fails_alone(tmp_path):
    world = AlarmWorld(str(tmp_path / "a.sqlite"), store_class=StoreFailingReasons)
    mine = world.evaluator.define(dict(threshold_alarm("project-a", "a-cpu"), state=OK))
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    results = world.feed({"project-a": 90.0, "project-b": 90.0})
    assert {(r["alarm_id"], r["current"]) for r in results if r["transition"]} == {
        (mine.alarm_id, UNKNOWN), (theirs.alarm_id, ALARM)}, "both decided in one round"
    failed = world.committed(mine.alarm_id)
    assert failed.state == UNKNOWN
    assert failed.state_reason == ("Alarm could not be evaluated: RuntimeError: "
                                   "no refusals today")
    assert world.committed(theirs.alarm_id).state == ALARM
    world.close()


def test_a_failing_composite_fails_alone(world):
    mine = world.evaluator.define(threshold_alarm("project-a", "a-cpu"))
    bad = Alarm.from_dict(dict(composite({"or": [{"alarm_id": mine.alarm_id}]}), state=OK))
    bad = dataclasses.replace(bad, time_constraints=(TimeConstraint("z", "0 9 * * *", 60,
                                                                    "Mars/Olympus"),))
    store_directly(world, bad)
    world.feed({"project-a": 90.0})
    assert world.committed(mine.alarm_id).state == ALARM
    failed = world.committed(bad.alarm_id)
    assert failed.state == UNKNOWN and "Mars/Olympus" in failed.state_reason


def test_a_failed_commit_still_reloads_from_the_database(world):
    bad = Alarm.from_dict(dict(threshold_alarm("project-a", "feb-31"), state=OK))
    bad.time_constraints = (TimeConstraint("never", "0 0 31 2 *", 60),)
    store_directly(world, bad)
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    commit = world.alarm_store.commit_round

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("commit", {}, Exception("database went away"))
    world.alarm_store.commit_round = broken
    with pytest.raises(sa.exc.OperationalError):
        world.feed({"project-b": 90.0})
    assert world.evaluator.get(theirs.alarm_id).state == UNKNOWN, "memory as the store has it"
    world.alarm_store.commit_round = commit
    world.feed({"project-b": 90.0})
    assert world.committed(theirs.alarm_id).state == ALARM
