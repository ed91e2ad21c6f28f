"""A composite alarm of project A can never read, mirror or hold an alarm of project B.

Through the library on SQLite and PostgreSQL: a reference to B's alarm is refused
exactly as one to an alarm that does not exist; a composite stored before that rule
(written straight to the alarm database) never reads B's state, and never blocks the
delete of B's alarm. The Heat side is tests/heat/test_security_composite.py.
"""
import pytest

from heat_alarming.engine import ALARM, UNKNOWN, Alarm, AlarmError
from tests.support.alarm_worlds import threshold_alarm


def composite_of(project, *alarm_ids, name="combo"):
    return {"name": name, "project_id": project,
            "composite_rule": {"or": [{"alarm_id": a} for a in alarm_ids]},
            "alarm_actions": ["inproc://test"]}


def error_of(evaluator, definition) -> str:
    with pytest.raises(AlarmError) as caught:
        evaluator.define(definition)
    return str(caught.value)


def test_another_projects_alarm_is_refused_as_if_it_did_not_exist(world):
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    foreign = error_of(world.evaluator, composite_of("project-a", theirs.alarm_id))
    missing = error_of(world.evaluator, composite_of("project-a", "no-such-alarm"))
    assert foreign == f"composite_rule.alarm_id: no alarm {theirs.alarm_id!r}"
    assert foreign.replace(theirs.alarm_id, "X") == missing.replace("no-such-alarm", "X")
    assert [a.project_id for a in world.evaluator.alarms()] == ["project-b"], \
        "nothing of A was stored"
    # its own project may compose it
    world.evaluator.define(composite_of("project-b", theirs.alarm_id))


def test_an_alarm_id_of_another_project_cannot_be_taken_over(world):
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    with pytest.raises(AlarmError, match="alarm_id"):
        world.evaluator.define(dict(threshold_alarm("project-a", "mine"),
                                    alarm_id=theirs.alarm_id))
    assert world.committed(theirs.alarm_id).project_id == "project-b"
    assert world.committed(theirs.alarm_id).name == "b-cpu"


def stored_cross_project_composite(world, their_id):
    """A's composite over B's alarm as an older release could have stored it."""
    combo = Alarm.from_dict(composite_of("project-a", their_id))
    world.alarm_store.save_alarm(combo)
    world.evaluator.reload()
    return combo.alarm_id


def test_a_stored_cross_project_leaf_is_never_read(world):
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    combo_id = stored_cross_project_composite(world, theirs.alarm_id)
    world.feed({"project-b": 90.0})
    assert world.committed(theirs.alarm_id).state == ALARM
    world.feed({"project-b": 95.0})
    assert world.committed(combo_id).state == UNKNOWN, "A's composite mirrored B's state"
    world.evaluator.dispatcher.deliver_due()
    assert {n["alarm_id"] for n in world.received} == {theirs.alarm_id}, \
        "only B's own alarm notified"


def test_nothing_of_another_project_blocks_a_delete(world):
    theirs = world.evaluator.define(threshold_alarm("project-b", "b-cpu"))
    combo_id = stored_cross_project_composite(world, theirs.alarm_id)
    assert world.evaluator.delete(theirs.alarm_id) is True
    assert world.committed(theirs.alarm_id) is None
    world.feed({"project-b": 90.0})  # the round still decides: the leaf is unknown
    assert world.committed(combo_id).state == UNKNOWN


def test_a_delete_is_still_refused_while_the_projects_own_composite_uses_it(world):
    mine = world.evaluator.define(threshold_alarm("project-a", "a-cpu"))
    world.evaluator.define(composite_of("project-a", mine.alarm_id, name="a-combo"))
    with pytest.raises(AlarmError, match="used by composite alarm.*a-combo"):
        world.evaluator.delete(mine.alarm_id)


def test_a_cycle_check_does_not_walk_another_projects_alarms(world):
    # B's composite names A's alarm (stored before the rule); A's composite over its
    # own alarm must be accepted without looking at B's definitions
    mine = world.evaluator.define(threshold_alarm("project-a", "a-cpu"))
    stored = Alarm.from_dict(dict(composite_of("project-b", mine.alarm_id),
                                  alarm_id="b-combo"))
    world.alarm_store.save_alarm(stored)
    world.evaluator.reload()
    combo = world.evaluator.define(composite_of("project-a", mine.alarm_id))
    with pytest.raises(AlarmError, match="no alarm 'b-combo'"):
        world.evaluator.define(composite_of("project-a", "b-combo", combo.alarm_id))
