"""Alarm definitions fit the alarm database, and one project's alarms are bounded.

On PostgreSQL a 300-character name, a NUL in a name or a 100-character id used to
escape as DataError/ValueError from the database; now Evaluator.define refuses
them with the field named, against the sizes of the columns in engine/models.py,
on SQLite and PostgreSQL alike. ``max_alarms_per_project`` refuses the alarm
over the quota to that project only.
"""
import pytest

from heat_alarming.engine import AlarmError, models
from tests.support.alarm_worlds import AlarmWorld, threshold_alarm

NAME_SIZE = models.alarms.c.name.type.length
ID_SIZE = models.alarms.c.alarm_id.type.length


@pytest.mark.parametrize("changes, field", [
    ({"name": "n" * (NAME_SIZE + 45)}, "name"),
    ({"name": "cpu\x00high"}, "name"),
    ({"name": "cpu\x1b[2Jhigh"}, "name"),
    ({"name": "cpu\ud800"}, "name"),
    ({"alarm_id": "i" * 100}, "alarm_id"),
    ({"alarm_id": "id\x00"}, "alarm_id"),
    ({"project_id": "p" * 100}, "project_id"),
    ({"user_id": "u\x00"}, "user_id"),
    ({"description": "nul \x00 inside"}, "description"),
    ({"alarm_actions": ["http://127.0.0.1/\x00"]}, "alarm_actions[0]"),
    ({"time_constraints": [{"name": "w\x00", "start": "0 9 * * *", "duration": 60}]},
     "time_constraints[0].name"),
])
def test_what_the_database_cannot_store_is_refused_naming_the_field(world, changes, field):
    definition = dict(threshold_alarm("project-a", "cpu-high"), **changes)
    with pytest.raises(AlarmError) as caught:
        world.evaluator.define(definition)
    assert caught.value.field == field
    assert world.evaluator.alarms() == [] and world.alarm_store.load_alarms() == []


def test_the_longest_values_the_columns_hold_round_trip(world):
    alarm = world.evaluator.define(dict(
        threshold_alarm("p" * models.alarms.c.project_id.type.length, "é" * NAME_SIZE),
        alarm_id="i" * ID_SIZE, description="two\nlines\tand a tab"))
    stored = world.committed(alarm.alarm_id)
    assert (stored.name, stored.project_id) == (alarm.name, alarm.project_id)
    assert stored.description == "two\nlines\tand a tab"


def test_a_project_over_its_alarm_quota_is_refused_alone(alarm_url):
    from heat_alarming.engine import Limits
    world = AlarmWorld(alarm_url, limits=Limits(alarms_per_project=3))
    try:
        mine = world.evaluator.define_many(threshold_alarm("project-a", f"a{i}")
                                           for i in range(3))
        with pytest.raises(AlarmError) as caught:
            world.evaluator.define(threshold_alarm("project-a", "a3"))
        assert caught.value.field == "project_id"
        assert "project project-a would have 4 alarms; the limit is 3" in str(caught.value)
        # a redefinition is not a new alarm; another project has its own quota
        world.evaluator.define(dict(mine[0].definition(), description="again"))
        world.evaluator.define_many(threshold_alarm("project-b", f"b{i}") for i in range(3))
        # a batch over the quota stores nothing of the batch
        world.evaluator.delete(mine[0].alarm_id)
        with pytest.raises(AlarmError, match="would have 4 alarms"):
            world.evaluator.define_many(threshold_alarm("project-a", f"c{i}")
                                        for i in range(2))
        assert sorted(a.name for a in world.alarm_store.load_alarms()
                      if a.project_id == "project-a") == ["a1", "a2"]
    finally:
        world.close()


def test_the_quota_and_bounds_come_from_the_configuration(tmp_path):
    from oslo_config import cfg

    from heat_alarming import opts
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", str(tmp_path / "a.sqlite"), opts.GROUP)
    conf.set_override("max_alarms_per_project", 7, opts.GROUP)
    conf.set_override("max_composite_leaves", 5, opts.GROUP)
    conf.set_override("max_composite_depth", 4, opts.GROUP)
    conf.set_override("max_time_constraints", 3, opts.GROUP)
    conf.set_override("max_actions_per_state", 2, opts.GROUP)
    evaluator = opts.evaluator_from_conf(conf, opts.store_from_conf(conf))
    limits = evaluator.limits
    assert (limits.alarms_per_project, limits.composite_leaves, limits.composite_depth,
            limits.time_constraints, limits.actions_per_state) == (7, 5, 4, 3, 2)
    evaluator.alarm_store.close()


@pytest.mark.parametrize("field,value,count", [
    # each constraint is a cron walk in every round: 1,000 alarms of 100 constraints
    # stretched one round, everybody's, to 49 s
    ("time_constraints", [{"name": f"c{i}", "start": "* * * * *", "duration": 60}
                          for i in range(11)], 11),
    # each action is a notification per transition, or per round with repeat_actions
    ("alarm_actions", [f"log://sink/{i}" for i in range(11)], 11),
    ("ok_actions", [f"log://sink/{i}" for i in range(11)], 11),
    ("insufficient_data_actions", [f"log://sink/{i}" for i in range(11)], 11),
])
def test_time_constraints_and_actions_of_one_alarm_are_bounded(world, field, value, count):
    definition = {"name": "wide", "project_id": "a", field: value,
                  "threshold_rule": {"meter_name": "cpu", "threshold": 1}}
    with pytest.raises(AlarmError) as refused:
        world.evaluator.define(definition)
    assert refused.value.field == field and f"{count} " in refused.value.reason
    assert world.alarm_store.load_alarms() == []
    world.evaluator.define(dict(definition, **{field: value[:10]}))  # the bound itself
