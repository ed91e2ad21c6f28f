"""Aodh's Gnocchi threshold rules are our threshold rules, over Gnocchi's resource search."""
import pytest

from heat_alarming.engine.alarm import ALARM, OK, Alarm, AlarmError, ThresholdRule

from .conftest import PERIOD

SEARCH = '{"and": [{"=": {"server_group": "web"}}, {"=": {"ended_at": null}}]}'
BY_RESOURCES = {"metric": "cpu_util", "aggregation_method": "mean", "granularity": PERIOD,
                "evaluation_periods": 2, "threshold": 50, "comparison_operator": "gt",
                "resource_type": "instance", "query": SEARCH}


def gnocchi_alarm(world, rule=None, kind="gnocchi_aggregation_by_resources_threshold",
                  **fields):
    data = {"name": "web-busy", "type": kind, f"{kind}_rule": dict(BY_RESOURCES, **(rule or {})),
            "alarm_actions": ["inproc://test"], "ok_actions": ["inproc://test"]}
    data.update(fields)
    return world.evaluator.define(data)


def test_aodhs_fields_map_onto_a_threshold_rule():
    alarm = Alarm.from_dict({"type": "gnocchi_aggregation_by_resources_threshold",
                             "gnocchi_aggregation_by_resources_threshold_rule": BY_RESOURCES})
    rule = alarm.rule
    assert (rule.meter_name, rule.statistic, rule.period, rule.evaluation_periods,
            rule.threshold, rule.comparison_operator, rule.resource_type) == (
        "cpu_util", "avg", PERIOD, 2, 50.0, "gt", "instance")
    assert rule.search == ('{"and": [{"=": {"server_group": "web"}}, '
                           '{"=": {"ended_at": null}}]}')
    again = ThresholdRule.from_dict(rule.to_dict())
    assert again == rule, "the stored definition reads back as the same rule"


def test_aodhs_defaults_apply():
    rule = ThresholdRule.from_gnocchi("gnocchi_aggregation_by_resources_threshold", {
        "metric": "cpu", "aggregation_method": "max", "threshold": 1,
        "resource_type": "instance", "query": "{}"})
    assert (rule.period, rule.evaluation_periods, rule.comparison_operator) == (60, 1, "eq")


def test_a_resources_rule_watches_one_resource():
    rule = ThresholdRule.from_gnocchi("gnocchi_resources_threshold", {
        "metric": "cpu_util", "aggregation_method": "last", "threshold": 1,
        "resource_type": "instance", "resource_id": "vm-7"})
    assert rule.statistic == "last"
    assert rule.search == '{"=": {"id": "vm-7"}}'


@pytest.mark.parametrize("change, field, words", [
    ({"aggregation_method": "rate:mean"}, "rule.aggregation_method", "rate_of_change"),
    ({"aggregation_method": None}, "rule.aggregation_method", "required"),
    ({"granularity": 0}, "rule.granularity", "minimum"),
    ({"metric": ""}, "rule.metric", "required"),
    ({"query": '{"=": {"started_at": "2026-01-01"}}'}, "rule.query", "only be compared"),
    ({"query": "not json"}, "rule.query", "not JSON"),
    ({"query": None}, "rule.query", "required"),
    ({"resource_type": "bad type"}, "rule.resource_type", "resource type name"),
    ({"comparison_operator": "gte"}, "rule.comparison_operator", "'gte'"),
    ({"extra": 1}, "rule", "unknown field"),
])
def test_bad_fields_are_named_as_aodh_names_them(change, field, words):
    with pytest.raises(AlarmError) as caught:
        ThresholdRule.from_gnocchi("gnocchi_aggregation_by_resources_threshold",
                                   dict(BY_RESOURCES, **change))
    assert caught.value.field == field
    assert words in caught.value.reason


def test_aggregation_by_metrics_is_refused_with_the_reason():
    with pytest.raises(AlarmError) as caught:
        Alarm.from_dict({"type": "gnocchi_aggregation_by_metrics_threshold",
                         "gnocchi_aggregation_by_metrics_threshold_rule": {
                             "metrics": ["0f6e..."], "aggregation_method": "mean",
                             "threshold": 1}})
    assert caught.value.field.endswith("metrics")
    assert "metric ids" in caught.value.reason


def test_a_composite_may_have_gnocchi_leaves():
    alarm = Alarm.from_dict({"type": "composite", "composite_rule": {"or": [
        dict(BY_RESOURCES, type="gnocchi_aggregation_by_resources_threshold"),
        {"meter_name": "load", "threshold": 2}]}})
    first = alarm.threshold_rules()[0]
    assert first.resource_type == "instance" and first.statistic == "avg"


def test_collector_and_ceilometer_samples_of_the_group_both_count(world):
    alarm = gnocchi_alarm(world)
    collector = {"server_group": "web", "ended_at": None, "type": "instance"}
    ceilometer = {"user_metadata": {"server_group": "web"}}
    # 90 from the collector's resource, 30 from Ceilometer's: the group's mean is 60
    for period in range(3):
        for meta, value, resource in ((collector, 90.0, "g-1"), (ceilometer, 30.0, "c-2")):
            world.feed_one(value, resource, metadata=meta, period=period)
        world.close(period)
    assert alarm.state == ALARM
    assert "most recent: 60.0" in alarm.state_reason


def test_ended_resources_and_other_groups_do_not_count(world):
    alarm = gnocchi_alarm(world)
    for period in range(3):
        world.feed_one(10.0, "live", metadata={"server_group": "web"}, period=period)
        world.feed_one(99.0, "ended", metadata={"server_group": "web",
                                                "ended_at": "2026-12-01T00:00:00"},
                       period=period)
        world.feed_one(99.0, "other", metadata={"metering.server_group": "db"},
                       period=period)
        world.feed_one(99.0, "disk", metadata={"server_group": "web",
                                               "type": "instance_disk"}, period=period)
        world.close(period)
    assert alarm.state == OK


def test_another_projects_resources_of_the_same_group_never_count(world):
    alarm = gnocchi_alarm(world, project_id="mine")
    for period in range(3):
        world.feed_one(10.0, "mine-1", metadata={"server_group": "web"}, period=period,
                       project="mine")
        world.feed_one(99.0, "theirs-1", metadata={"server_group": "web"}, period=period,
                       project="theirs")
        world.close(period)
    assert alarm.state == OK
    assert "most recent: 10.0" in alarm.state_reason


def test_a_changed_search_is_a_new_measurement(world):
    alarm = gnocchi_alarm(world)
    for period in range(3):
        world.feed_one(90.0, "g-1", metadata={"server_group": "web"}, period=period)
        world.close(period)
    assert alarm.state == ALARM
    data = alarm.definition()
    data["threshold_rule"]["search"] = '{"=": {"server_group": "db"}}'
    redefined = world.evaluator.define(data)
    assert redefined.state != ALARM, "the state of another measurement is not kept"
