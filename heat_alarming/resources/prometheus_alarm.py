"""``OS::Metering::PrometheusAlarm``: a PromQL query compared with a threshold.

The properties of Heat's ``OS::Aodh::PrometheusAlarm`` (``query``,
``threshold``, ``comparison_operator`` and Heat's common alarm properties),
evaluated inside heat-engine by our evaluator: the query goes to the
operator's Prometheus (``[heat_alarming] prometheus_url``, never a template's
choice), scoped to the stack's project, and the alarm's actions signal
scaling policies in-process as ``OS::Metering::Alarm``'s do.
"""
from __future__ import annotations

from heat.common import exception
from heat.common.i18n import _
from heat.engine import constraints, properties
from heat.engine.resources import alarm_base
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.resources.alarm import MeteringAlarm, is_history_page

COMMON = alarm_base.common_properties_schema


class PrometheusAlarm(MeteringAlarm):
    """An alarm on the answer of a PromQL query, evaluated in heat-engine."""

    PROPERTIES = (QUERY, THRESHOLD, COMPARISON_OPERATOR, STABILIZATION_WINDOW) = (
        "query", "threshold", "comparison_operator", "stabilization_window")

    properties_schema = {
        QUERY: properties.Schema(
            properties.Schema.STRING,
            _("The PromQL query whose answer is compared with the threshold; every "
              "series of the answer is a datapoint. It reads only the stack project's "
              "series: each selector is given the project's label matcher."),
            required=True, update_allowed=True),
        THRESHOLD: properties.Schema(
            properties.Schema.NUMBER, _("Threshold to evaluate against."),
            required=True, update_allowed=True),
        COMPARISON_OPERATOR: properties.Schema(
            properties.Schema.STRING,
            _("Operator used to compare the query's values with the threshold."),
            default="eq", update_allowed=True,
            constraints=[alarm_base.BaseAlarm.QF_OP_VALS]),
        STABILIZATION_WINDOW: properties.Schema(
            properties.Schema.INTEGER,
            _("Seconds a new state must hold before the alarm changes state (flapping "
              "protection); 0 changes at once."),
            default=0, update_allowed=True, constraints=[constraints.Range(min=0)]),
    }
    properties_schema.update({k: v for k, v in COMMON.items()
                              if k not in alarm_base.INTERNAL_PROPERTIES})

    # the state, not the push addresses: Prometheus is where its data comes from
    ATTRIBUTES = (STATE, STATE_REASON, STATE_TIMESTAMP, HISTORY, EXPLANATION) = (
        "state", "state_reason", "state_timestamp", "history", "explanation")
    attributes_schema = {name: MeteringAlarm.attributes_schema[name] for name in ATTRIBUTES}

    def _definition(self, props=None) -> dict:
        props = props if props is not None else self.properties
        definition = self._common_definition(props)
        definition.update(type="prometheus", prometheus_rule={
            "query": props[self.QUERY], "threshold": props[self.THRESHOLD],
            "comparison_operator": props[self.COMPARISON_OPERATOR]})
        return definition

    def validate(self):
        opts.register_opts(cfg.CONF)
        if not cfg.CONF[opts.GROUP].prometheus_url:
            raise exception.StackValidationFailed(message=_(
                "OS::Metering::PrometheusAlarm is not available here: the operator has "
                "not configured a Prometheus ([heat_alarming] prometheus_url)"))
        super().validate()

    def _property_error(self, field: str, message: str) -> exception.StackValidationFailed:
        # the rule's fields are properties of their own
        return super()._property_error(field.removeprefix("prometheus_rule."), message)

    def _signal_check_hook(self, details):
        super(MeteringAlarm, self)._signal_check_hook(details)
        if isinstance(details, dict) and "unset_hook" in details:
            return
        raise exception.StackValidationFailed(message=_(
            "OS::Metering::PrometheusAlarm takes no samples: its data comes from "
            "Prometheus"))

    def handle_signal(self, details=None):
        self._signal_check_hook(details)

    def _resolve_attribute(self, name):
        if name not in self.ATTRIBUTES and not is_history_page(name):
            return None
        return super()._resolve_attribute(name)


def resource_mapping():
    return {"OS::Metering::PrometheusAlarm": PrometheusAlarm}
