"""The openstack CLI plugin's agreements with the rest of heat-alarming.

The plugin imports neither Heat nor the resources (tests/unit/test_house_rules.py), so
what it knows of them is written twice; these tests hold the two copies together. The
commands themselves run against a real heat-api in tests/functional/test_deployment.py.
"""
from importlib import metadata

from heat_alarming.osc import plugin
from heat_alarming.osc.v1 import alarms
from heat_alarming.resources import alarm as alarm_resource
from heat_alarming.resources.plugin import available_resource_mapping


def test_the_commands_know_every_alarm_type_of_the_plugin():
    registered = {name for name, cls in available_resource_mapping().items()
                  if issubclass(cls, alarm_resource.MeteringAlarm)}
    assert alarms.ALARM_TYPES == registered


def test_history_pages_are_asked_as_the_alarms_answer_them():
    assert alarms.HISTORY_PAGE == alarm_resource.HISTORY_PAGE
    assert alarms.HISTORY_PAGE_MAX == alarm_resource.HISTORY_PAGE_MAX
    assert alarm_resource.parse_history_page(
        f"{alarms.HISTORY_PAGE}:{alarms.DEFAULT_PAGE_SIZE}") == (alarms.DEFAULT_PAGE_SIZE,
                                                                  None)


def test_the_openstack_cli_finds_the_plugin_and_its_commands():
    (extension,) = [e for e in metadata.entry_points(group="openstack.cli.extension")
                    if e.name == "metering"]
    assert extension.load() is plugin
    commands = {e.name: e.load() for e in metadata.entry_points(
        group=f"openstack.{plugin.API_NAME}.v{plugin.DEFAULT_API_VERSION}")}
    assert commands == {"metering_alarm_list": alarms.ListAlarm,
                        "metering_alarm_show": alarms.ShowAlarm,
                        "metering_alarm_state": alarms.StateAlarm,
                        "metering_alarm_history": alarms.HistoryAlarm,
                        "metering_alarm_explain": alarms.ExplainAlarm}
