"""``OS::Metering::Gnocchi*Alarm``: Heat's Aodh+Gnocchi alarms, evaluated inside heat-engine.

The property names are those of Heat's ``OS::Aodh::GnocchiAggregationByResourcesAlarm``
and ``OS::Aodh::GnocchiResourcesAlarm`` (templates/environments/aodh-gnocchi.yaml maps
those types here, so an Aodh template runs unchanged with ``-e``). The translation into
a threshold rule needs no Heat and lives in :mod:`heat_alarming.engine.gnocchi_rules`
and :mod:`heat_alarming.metering.gnocchi_search`; this module only declares the
properties. ``OS::Aodh::GnocchiAggregationByMetricsAlarm`` has no counterpart: it
names Gnocchi metric ids, which samples do not carry.
"""
from __future__ import annotations

from heat.common.i18n import _
from heat.engine import constraints, properties, support
from heat.engine.resources import alarm_base

from heat_alarming.engine.gnocchi_rules import BY_RESOURCES, RESOURCES, aodh_field
from heat_alarming.resources.alarm import COMMON, MeteringAlarm


def _gnocchi_schema(selector: str, selector_schema: properties.Schema) -> dict:
    """The whole properties schema of a Gnocchi alarm whose resources ``selector``
    chooses: the metric, the selector, the resource type, the properties Heat's Gnocchi
    alarms share (heat's common_gnocchi_properties_schema, with Aodh's defaults written
    in the descriptions: Aodh applies them, Heat does not) and Heat's common alarm
    properties."""
    schema = {
        "metric": properties.Schema(
            properties.Schema.STRING, _("Metric name watched by the alarm."),
            required=True, update_allowed=True),
        selector: selector_schema,
        "resource_type": properties.Schema(
            properties.Schema.STRING, _("Gnocchi resource type."), required=True,
            update_allowed=True),
        "comparison_operator": properties.Schema(
            properties.Schema.STRING,
            _("Operator used to compare the aggregate with the threshold (default eq)."),
            constraints=[alarm_base.BaseAlarm.QF_OP_VALS], update_allowed=True),
        "evaluation_periods": properties.Schema(
            properties.Schema.INTEGER, _("Number of periods to evaluate over (default 1)."),
            update_allowed=True, constraints=[constraints.Range(min=1)]),
        "aggregation_method": properties.Schema(
            properties.Schema.STRING,
            _("The aggregation method to compare to the threshold: mean, max, min, sum, "
              "count, last, std, median or Npct."),
            required=True, update_allowed=True),
        "granularity": properties.Schema(
            properties.Schema.INTEGER,
            _("The time range in seconds of one period (default 60); a multiple of the "
              "store resolution."),
            update_allowed=True, constraints=[constraints.Range(min=1)]),
        "threshold": properties.Schema(
            properties.Schema.NUMBER, _("Threshold to evaluate against."),
            required=True, update_allowed=True),
        MeteringAlarm.STABILIZATION_WINDOW: MeteringAlarm.properties_schema[
            MeteringAlarm.STABILIZATION_WINDOW],
    }
    schema.update({k: v for k, v in COMMON.items() if k not in alarm_base.INTERNAL_PROPERTIES})
    return schema


class GnocchiAggregationByResourcesAlarm(MeteringAlarm):
    """An aggregate of a metric over the resources a Gnocchi search selects.

    The samples are those of the metric's name in the stack's project, from the
    Gnocchi collector (the resource's attributes as metadata) or straight from
    Ceilometer (its resource metadata); the search is translated onto both
    (docs: "Aodh and Gnocchi templates").
    """

    support_status = support.SupportStatus(version="27.0.0")

    KIND = BY_RESOURCES
    #: the rule's own properties (the rest are Heat's common alarm properties)
    RULE_PROPERTIES = ("metric", "query", "resource_type", "comparison_operator",
                       "evaluation_periods", "aggregation_method", "granularity",
                       "threshold")

    properties_schema = _gnocchi_schema("query", properties.Schema(
        properties.Schema.STRING,
        _('The Gnocchi search (JSON text) of the resources, e.g. '
          '{"and": [{"=": {"server_group": "..."}}, {"=": {"ended_at": null}}]}.'),
        required=True, update_allowed=True))

    def _rule(self, props) -> dict:
        rule = {k: props[k] for k in self.RULE_PROPERTIES if props.get(k) is not None}
        rule["type"] = self.KIND
        return rule

    def _property_error(self, field, message):
        # the engine names our rule's fields (period); the template has Aodh's (granularity)
        return super()._property_error(aodh_field(field), message)


class GnocchiResourcesAlarm(GnocchiAggregationByResourcesAlarm):
    """An aggregate of one Gnocchi resource's metric."""

    KIND = RESOURCES
    RULE_PROPERTIES = ("metric", "resource_id", "resource_type", "comparison_operator",
                       "evaluation_periods", "aggregation_method", "granularity",
                       "threshold")

    properties_schema = _gnocchi_schema("resource_id", properties.Schema(
        properties.Schema.STRING,
        _("Id of the resource (Gnocchi's id, or the original id it was made from)."),
        required=True, update_allowed=True))


def resource_mapping():
    return {"OS::Metering::GnocchiAggregationByResourcesAlarm":
            GnocchiAggregationByResourcesAlarm,
            "OS::Metering::GnocchiResourcesAlarm": GnocchiResourcesAlarm}
