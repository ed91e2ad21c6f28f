"""An alarm of project A may signal only A's own stacks (issue 13, item 1).

The engine signals with an admin context, which skips Heat's own tenant
check, so the tenant written in an action URL proves nothing: the stack is
resolved by its id in Heat and the project Heat stores for it must be the
alarm's. Template validation refuses what it can know, and every delivery
checks again. Real heat-engine in this process (tests/heat/conftest.py);
two projects are two tenants' request contexts.
"""
import uuid

import pytest

from heat_alarming.resources import actions
from tests.support.heat_projects import (
    ALARM,
    GROUP,
    LATE_ALARM,
    PROJECT_A,
    PROJECT_B,
    action_history,
    arn_url,
    context_of,
    fire,
    signal_url,
    size,
    unique,
)


@pytest.fixture
def projects(heat_engine):
    """B's stack with a group of 1, and A's own such stack."""
    engine = heat_engine
    b_ctx, a_ctx = context_of(PROJECT_B), context_of(PROJECT_A)
    theirs = engine.create(unique("theirs"), GROUP, ctx=b_ctx)
    mine = engine.create(unique("mine"), GROUP, ctx=a_ctx)
    return engine, theirs, b_ctx, mine, a_ctx


def _refused_at_validation(engine, ctx, action):
    with pytest.raises(Exception) as caught:
        engine.create(unique("attack"), ALARM, params={"action": action}, ctx=ctx)
    return str(caught.value)


def _hostile_actions(theirs, mine):
    b_name, b_id = theirs["stack_name"], theirs["stack_id"]
    a_name, a_id = mine["stack_name"], mine["stack_id"]
    return {
        "A's tenant next to B's stack": signal_url(PROJECT_A, b_name, b_id),
        "B's own signal_url": signal_url(PROJECT_B, b_name, b_id),
        "B's signal_url behind Aodh's trust+": "trust+" + signal_url(PROJECT_B, b_name, b_id),
        "trust+ with A's tenant next to B's stack": "trust+" + signal_url(
            PROJECT_A, b_name, b_id, host="https://127.0.0.1:9"),
        "ARN with A's tenant": arn_url(PROJECT_A, b_name, b_id),
        "A's stack name with B's id": signal_url(PROJECT_A, a_name, b_id),
        "B's stack name with A's id": signal_url(PROJECT_A, b_name, a_id),
        "an id smuggled with %2F": signal_url(PROJECT_A, a_name,
                                              f"{b_id}%2F..%2F{a_id}"),
        "engine action written by hand": actions.signal_action(PROJECT_A, b_name, b_id,
                                                               "scale_up"),
    }


def test_validation_refuses_every_form_of_another_projects_stack(projects):
    engine, theirs, b_ctx, mine, a_ctx = projects
    for label, action in _hostile_actions(theirs, mine).items():
        message = _refused_at_validation(engine, a_ctx, action)
        assert "alarm_actions[0]" in message, (label, message)
        assert f"is not a stack of project {PROJECT_A}" in message, (label, message)
    assert size(engine, theirs, b_ctx) == 1


def test_a_foreign_stack_and_a_missing_one_get_the_same_refusal(projects):
    engine, theirs, b_ctx, mine, a_ctx = projects
    b_name, b_id = theirs["stack_name"], theirs["stack_id"]
    missing = str(uuid.uuid4())
    foreign = _refused_at_validation(engine, a_ctx, signal_url(PROJECT_A, b_name, b_id))
    absent = _refused_at_validation(engine, a_ctx, signal_url(PROJECT_A, b_name, missing))
    assert foreign.replace(b_id, "<id>") == absent.replace(missing, "<id>")


def test_a_missing_resource_of_the_own_stack_is_refused(projects):
    engine, theirs, b_ctx, mine, a_ctx = projects
    message = _refused_at_validation(engine, a_ctx, signal_url(
        PROJECT_A, mine["stack_name"], mine["stack_id"], resource="no_such_policy"))
    assert f"stack {mine['stack_name']} has no resource no_such_policy" in message
    # a resource name is looked up in the alarm's own stack only
    message = _refused_at_validation(engine, a_ctx, "no_such_policy")
    assert "alarm_actions[0]" in message


def test_an_action_known_only_at_create_is_refused_then(projects):
    engine, theirs, b_ctx, mine, a_ctx = projects
    action = signal_url(PROJECT_A, theirs["stack_name"], theirs["stack_id"])
    with pytest.raises(Exception, match=f"is not a stack of project {PROJECT_A}"):
        engine.create(unique("late"), LATE_ALARM, params={"action": action}, ctx=a_ctx)
    assert size(engine, theirs, b_ctx) == 1


def _stored_alarm(engine, action):
    """An alarm of project A already in the alarm database (defined before this check
    existed, say) whose action names ``action``: only delivery can refuse it."""
    alarm_id = str(uuid.uuid4())
    engine.runtime.evaluator.define({
        "alarm_id": alarm_id, "name": unique("stored"), "project_id": PROJECT_A,
        "type": "threshold", "alarm_actions": [action],
        "threshold_rule": {"meter_name": "load", "threshold": 50,
                           "comparison_operator": "gt", "period": 60}})
    return alarm_id


def test_delivery_refuses_another_projects_stack_and_records_it(projects):
    engine, theirs, b_ctx, mine, a_ctx = projects
    b_name, b_id = theirs["stack_name"], theirs["stack_id"]
    for action in (actions.signal_action(PROJECT_A, b_name, b_id, "scale_up"),
                   actions.signal_action(PROJECT_A, b_name, str(uuid.uuid4()), "scale_up")):
        alarm_id = _stored_alarm(engine, action)
        fire(engine, alarm_id, PROJECT_A)
        (failure,) = action_history(engine, alarm_id)
        assert failure.type == "action failed"
        assert f"of project {PROJECT_A} may not signal scale_up" in failure.reason
        assert f"is not a stack of project {PROJECT_A}" in failure.reason
        engine.runtime.evaluator.delete(alarm_id)
    assert size(engine, theirs, b_ctx) == 1, "B's group did not grow"
    events = engine.client.list_events(b_ctx, theirs, filters={"resource_action": "SIGNAL"})
    assert events == []


@pytest.mark.parametrize("form", ["signal_url", "arn"])
def test_the_own_projects_hand_built_url_still_scales(projects, form):
    engine, theirs, b_ctx, mine, a_ctx = projects
    name, stack_id = mine["stack_name"], mine["stack_id"]
    action = (signal_url(PROJECT_A, name, stack_id) if form == "signal_url"
              else engine.outputs(mine, ctx=a_ctx)["alarm_url"])
    alarming = engine.create(unique("alarming"), ALARM, params={"action": action}, ctx=a_ctx)
    alarm_id = engine.physical_id(alarming, "alarm", ctx=a_ctx)
    fire(engine, alarm_id, PROJECT_A)
    assert [h.reason_data.get("outcome") for h in action_history(engine, alarm_id)] == [
        "signalled"]
    assert size(engine, mine, a_ctx) == 2
