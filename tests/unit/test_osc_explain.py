"""``openstack metering alarm explain``: the ``explanation`` attribute heat-api hands over,
shown as fields (the summary first, a period a line, times in ISO 8601), and the
alarm's own words when it cannot explain. heat-api is a stand-in here that answers
with what a real evaluator explains; the command runs against a real heat-api in
tests/functional/test_deployment.py."""
import datetime as dt
import json
import types

import pytest
from osc_lib import exceptions

from heat_alarming.explain_text import cell
from heat_alarming.osc.v1 import alarms
from heat_alarming.osc.v1.explanation import FactColumn, PeriodsColumn, SummaryColumn
from tests.support.alarm_worlds import AlarmWorld, threshold_alarm

STACK = "web/8f0b8a39-1f3c-4a52-9d54-7bb0b2bd7a11"


class HeatApi:
    """The two requests the commands make of heat-api (resource list and show), for one
    alarm resource whose attributes are ``attributes``."""

    def __init__(self, alarm_id: str, attributes: dict):
        self.alarm_id = alarm_id
        self.shown = attributes
        self.asked: list = []
        self.resources = self

    def list(self, stack, nested_depth):
        return [types.SimpleNamespace(
            resource_name="cpu_alarm_high", physical_resource_id=self.alarm_id,
            resource_type="OS::Metering::Alarm", resource_status="CREATE_COMPLETE",
            links=[{"rel": "stack", "href": f"http://heat/v1/p/stacks/{STACK}"}])]

    def get(self, stack, name, with_attr=None):
        self.asked.append((stack, name, with_attr))
        return types.SimpleNamespace(attributes=dict(self.shown))


def run(command_class, heat_api, *argv):
    app = types.SimpleNamespace(client_manager=types.SimpleNamespace(metering=heat_api))
    command = command_class(app, None)
    parsed = command.get_parser("openstack metering alarm").parse_args(
        [*argv, "--stack", "web"])
    return command.take_action(parsed)


@pytest.fixture(scope="module")
def explained():
    """What a real evaluator explains of an alarm over three periods of samples."""
    world = AlarmWorld("sqlite://")
    alarm = world.evaluator.define(threshold_alarm("p1", "cpu-high"))
    for value in (20.0, 80.0, 90.0):
        world.feed({"p1": value})
    yield alarm.alarm_id, world.evaluator.explain(alarm.alarm_id)
    world.close()


def iso(timestamp):
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def test_explain_shows_the_explanation_summary_first(explained):
    alarm_id, explanation = explained
    heat_api = HeatApi(alarm_id, {"state": "alarm", "explanation": explanation})
    names, values = run(alarms.ExplainAlarm, heat_api, alarm_id)
    assert heat_api.asked == [(STACK, "cpu_alarm_high", ["explanation"])]
    assert names[0] == "summary" and values[0] == explanation["summary"]
    assert set(names) == set(explanation)
    shown = dict(zip(names, values))
    assert shown["alarm_id"] == alarm_id
    assert shown["evaluated_at"] == iso(explanation["evaluated_at"])
    periods = shown["periods"]
    assert isinstance(periods, PeriodsColumn)
    lines = periods.human_readable().splitlines()
    assert len(lines) == len(explanation["periods"])
    for line, period in zip(lines, explanation["periods"]):
        assert line.startswith(f"{iso(period['start'])} .. {iso(period['end'])}")
        assert ("breach" in line) == bool(period["breach"])
    machine = periods.machine_readable()
    assert [p["start"] for p in machine] == [iso(p["start"]) for p in explanation["periods"]]
    assert [p["value"] for p in machine] == [p["value"] for p in explanation["periods"]]
    rule = shown["rule"]
    assert isinstance(rule, FactColumn)
    assert f"threshold: {cell(explanation['rule']['threshold'])}" in \
        rule.human_readable().splitlines()
    assert rule.machine_readable()["comparison_operator"] == \
        explanation["rule"]["comparison_operator"]
    json.dumps([v.machine_readable() if hasattr(v, "machine_readable") else v
                for v in values])


def test_show_gives_the_summary_of_the_explanation(explained):
    alarm_id, explanation = explained
    heat_api = HeatApi(alarm_id, {"state": "alarm", "state_reason": "r",
                                  "state_timestamp": 0, "history": [],
                                  "explanation": explanation})
    names, values = run(alarms.ShowAlarm, heat_api, alarm_id)
    column = dict(zip(names, values))["explanation"]
    assert isinstance(column, SummaryColumn)
    assert column.human_readable() == explanation["summary"]
    assert column.machine_readable()["evaluated_at"] == iso(explanation["evaluated_at"])


def test_an_alarm_that_cannot_explain_says_why_in_one_line():
    heat_api = HeatApi("a1", {"explanation": {"error": "alarm a1 is not known to the "
                                                       "evaluator (deleted, or not created "
                                                       "yet)"}})
    with pytest.raises(exceptions.CommandError) as refused:
        run(alarms.ExplainAlarm, heat_api, "a1")
    assert str(refused.value) == ("alarm a1: alarm a1 is not known to the evaluator "
                                  "(deleted, or not created yet)")


def test_an_engine_older_than_the_client_is_named():
    heat_api = HeatApi("a1", {"state": "ok", "explanation": None})
    with pytest.raises(exceptions.CommandError, match="heat-engine answered no "
                                                      "explanation"):
        run(alarms.ExplainAlarm, heat_api, "a1")
