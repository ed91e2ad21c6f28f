"""Templates written for Aodh + Gnocchi run unchanged with templates/environments/aodh-gnocchi.yaml.

templates/hot-gnocchi.yaml is an Aodh+Gnocchi autoscaling template (Heat's Gnocchi alarm
types, the server_group search with ``ended_at: null``, ``trust+`` signal URLs). Samples
arrive in the Gnocchi collector's shape (the resource's attributes as flat metadata) or
straight from Ceilometer's (``metering.server_group``); either scales the group.
"""
import pytest

from heat_alarming.metering.sample import Sample
from heat_alarming.resources.embedded import user_context
from tests.support.heat_engine import collector_load, environment, load, push, settle, size

ENV = "aodh-gnocchi.yaml"


def create(engine, name, template=None, ctx=None, **parameters):
    parameters.setdefault("granularity", 60)
    parameters.setdefault("cooldown", 0)
    return engine.create(name, template or engine.template("hot-gnocchi.yaml"),
                         params=environment(ENV, parameters), ctx=ctx)


def state(engine, ident, alarm, ctx=None):
    """The alarm's state as its owner committed it to the alarm database."""
    alarm_id = engine.physical_id(ident, alarm, ctx=ctx)
    return engine.runtime.evaluator.alarm_store.load_alarm(alarm_id).state


def close(engine, ident, at):
    engine.clock.set(at)
    engine.runtime.evaluator.evaluate()
    settle(engine, ident, group="asg")


def test_the_aodh_template_scales_out_and_back_in_on_collector_samples(heat_engine):
    engine = heat_engine
    ident = create(engine, "gnocchi-scaling")
    stack_id = ident["stack_id"]
    assert size(engine, ident) == 1
    types = {r["resource_name"]: r["resource_type"]
             for r in engine.client.list_stack_resources(engine.ctx, ident)}
    assert types["cpu_alarm_high"] == "OS::Aodh::GnocchiAggregationByResourcesAlarm"
    start = engine.clock()
    push(engine, ident, "cpu_alarm_high", collector_load(stack_id, 90.0, start, 2))
    close(engine, ident, start + 121)
    assert state(engine, ident, "cpu_alarm_high") == "alarm"
    assert size(engine, ident) == 2
    events = engine.client.list_events(engine.ctx, ident)
    assert any(e["resource_name"] == "web_server_scaleup_policy"
               and e["resource_action"] == "SIGNAL" for e in events), \
        "the trust+ signal_url was signalled in-process"

    push(engine, ident, "cpu_alarm_low", collector_load(stack_id, 5.0, start + 120, 2))
    close(engine, ident, start + 241)
    assert state(engine, ident, "cpu_alarm_low") == "alarm"
    assert state(engine, ident, "cpu_alarm_high") == "ok"
    assert size(engine, ident) == 1


def test_samples_straight_from_ceilometer_match_the_same_search(heat_engine):
    engine = heat_engine
    ident = create(engine, "gnocchi-ceilometer")
    start = engine.clock()
    # Ceilometer's own metadata: metering.server_group, no Gnocchi attributes at all
    push(engine, ident, "cpu_alarm_high", load(engine, ident["stack_id"], 90.0, start, 2))
    close(engine, ident, start + 121)
    assert state(engine, ident, "cpu_alarm_high") == "alarm"
    assert size(engine, ident) == 2


def test_ended_resources_and_other_groups_do_not_count(heat_engine):
    engine = heat_engine
    ident = create(engine, "gnocchi-ended")
    stack_id = ident["stack_id"]
    start = engine.clock()
    rows = (collector_load(stack_id, 30.0, start, 2, members=("live",))
            + collector_load(stack_id, 99.0, start, 2, members=("gone",),
                             ended_at="2026-12-01T00:00:00+00:00")
            + collector_load("another-group", 99.0, start, 2, members=("elsewhere",))
            + collector_load(stack_id, 99.0, start, 2, members=("disk",),
                             type="instance_disk"))
    push(engine, ident, "cpu_alarm_high", rows)
    close(engine, ident, start + 121)
    assert state(engine, ident, "cpu_alarm_high") == "ok", "only 'live' counts: 30 < 50"
    assert state(engine, ident, "cpu_alarm_low") == "ok"
    assert size(engine, ident) == 1


def test_another_projects_resources_of_the_same_server_group_never_count(heat_engine):
    engine = heat_engine
    ident = create(engine, "gnocchi-isolated")
    stack_id = ident["stack_id"]
    start = engine.clock()
    push(engine, ident, "cpu_alarm_high", collector_load(stack_id, 30.0, start, 2,
                                                         members=("mine",)))
    # another project's resources with the same server_group (and the same resource
    # ids), as its Gnocchi collector or Ceilometer would report them
    theirs = [Sample.from_dict(dict(row, project_id="another-project", unit=""))
              for row in collector_load(stack_id, 99.0, start, 2, members=("mine", "x"))
              + load(engine, stack_id, 99.0, start, 2)]
    engine.runtime.push_samples("another-project", theirs)
    close(engine, ident, start + 121)
    assert state(engine, ident, "cpu_alarm_high") == "ok"
    assert size(engine, ident) == 1


RESOURCE_ALARM = """
heat_template_version: 2016-10-14
parameters:
  granularity: {type: number, default: 60}
  cooldown: {type: number, default: 0}
resources:
  busy:
    type: OS::Aodh::GnocchiResourcesAlarm
    properties:
      metric: memory.usage
      aggregation_method: max
      granularity: {get_param: granularity}
      threshold: 900
      comparison_operator: ge
      resource_type: instance
      resource_id: instance-0001
"""


def test_a_resources_alarm_watches_one_resource_by_either_id(heat_engine):
    engine = heat_engine
    ident = create(engine, "gnocchi-one", RESOURCE_ALARM)
    start = engine.clock()
    # Gnocchi's own id for a non-UUID original, with the original among the attributes
    push(engine, ident, "busy", collector_load(
        ident["stack_id"], 950.0, start, 1, members=("5d5c-gnocchi-id",),
        metric="memory.usage", original_resource_id="instance-0001"))
    push(engine, ident, "busy", collector_load(
        ident["stack_id"], 10.0, start, 1, members=("instance-0002",),
        metric="memory.usage"))
    engine.clock.set(start + 61)
    engine.runtime.evaluator.evaluate()
    assert state(engine, ident, "busy") == "alarm"


@pytest.mark.parametrize("old, new, words", [
    ('"}}, {"=": {"ended_at": null}}]}', '"}}, {">": {"ended_at": "2026-01-01"}}]}',
     ["query", "ended_at", "only be compared with null"]),
    ('"}}, {"=": {"ended_at": null}}]}', '"}}, {"=": {"created_by_project_id": "x"}}]}',
     ["query", "created_by_project_id"]),
    ("      aggregation_method: mean\n", "      aggregation_method: rate:mean\n",
     ["aggregation_method", "rate:mean"]),
    ("      resource_type: instance\n", "      resource_type: not a type\n",
     ["resource_type", "not a type"]),
])
def test_what_cannot_be_translated_fails_the_create_naming_the_property(heat_engine, old,
                                                                        new, words):
    engine = heat_engine
    template = engine.template("hot-gnocchi.yaml").replace(old, new, 1)
    with pytest.raises(Exception) as caught:
        create(engine, "gnocchi-bad", template)
    for word in words:
        assert word in str(caught.value)


def test_a_granularity_the_store_cannot_hold_is_named_as_granularity(heat_engine):
    engine = heat_engine
    with pytest.raises(Exception) as caught:
        create(engine, "gnocchi-granularity", granularity=15)
    assert "granularity" in str(caught.value) and "period" not in str(caught.value)


def test_another_projects_stack_sees_none_of_this_projects_samples_of_its_group(heat_engine):
    engine = heat_engine
    ctx = user_context("gnocchi-tenant-b")
    ident = create(engine, "gnocchi-b", ctx=ctx)
    assert ident["tenant"] == "gnocchi-tenant-b"
    start = engine.clock()
    # samples of B's very server_group, but of the default project: never B's
    ours = [Sample.from_dict(dict(row, project_id=engine.ctx.project_id, unit=""))
            for row in collector_load(ident["stack_id"], 99.0, start, 2)]
    engine.runtime.push_samples(engine.ctx.project_id, ours)
    engine.clock.set(start + 121)
    engine.runtime.evaluator.evaluate()
    assert state(engine, ident, "cpu_alarm_high", ctx=ctx) == "insufficient data"
