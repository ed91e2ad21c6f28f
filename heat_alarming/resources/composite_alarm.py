"""``OS::Metering::CompositeAlarm``: and/or over threshold rules and other alarms.

``composite_rule`` uses Aodh's syntax: ``{"and": [...]}`` / ``{"or": [...]}``
nesting threshold rules (the properties of ``OS::Metering::Alarm``'s rule) and
``{"alarm_id": {get_resource: other_alarm}}`` references to alarms of the stack.
"""
from __future__ import annotations

from heat.common.i18n import _
from heat.engine import properties
from heat.engine.resources import alarm_base

from heat_alarming.engine import definitions
from heat_alarming.resources.alarm import MeteringAlarm

COMMON = alarm_base.common_properties_schema


class CompositeAlarm(MeteringAlarm):
    """An alarm whose state is an and/or composition of rules and other alarms."""

    PROPERTIES = (COMPOSITE_RULE, STABILIZATION_WINDOW) = ("composite_rule",
                                                          "stabilization_window")

    properties_schema = {
        COMPOSITE_RULE: properties.Schema(
            properties.Schema.MAP,
            _('The composition: {"and": [...]} or {"or": [...]} of threshold rules '
              '(meter_name, statistic, period, evaluation_periods, threshold, '
              'comparison_operator, matching_metadata, query, ...) and '
              '{"alarm_id": ...} references to other alarms.'),
            required=True, update_allowed=True),
        STABILIZATION_WINDOW: MeteringAlarm.properties_schema[
            MeteringAlarm.STABILIZATION_WINDOW],
    }
    properties_schema.update({k: v for k, v in COMMON.items()
                              if k not in alarm_base.INTERNAL_PROPERTIES})

    def _definition(self, props=None) -> dict:
        props = props if props is not None else self.properties
        return definitions.composite_definition(
            props, self._identity(), lambda key: self._engine_actions(props, key))


def resource_mapping():
    return {"OS::Metering::CompositeAlarm": CompositeAlarm}
