"""``AWS::CloudWatch::Alarm`` backed by heat-alarming's engine.

The AWS property names translate to a threshold rule: MetricName, Statistic
(SampleCount, Average, Sum, Minimum, Maximum), ComparisonOperator
(GreaterThanThreshold ...), Period, EvaluationPeriods, Threshold, the three
action lists and Dimensions, which become matching_metadata (user tags), so
CFN templates with ``AWS::AutoScaling::ScalingPolicy`` work unchanged.
"""
from __future__ import annotations

from heat.common.i18n import _
from heat.engine import constraints, properties

from heat_alarming.engine import definitions
from heat_alarming.resources.alarm import MeteringAlarm

STATISTICS, OPERATORS = definitions.CW_STATISTICS, definitions.CW_OPERATORS


class CloudWatchAlarm(MeteringAlarm):
    """A CloudWatch-style alarm evaluated inside heat-engine."""

    PROPERTIES = (
        COMPARISON_OPERATOR_, ALARM_DESCRIPTION, EVALUATION_PERIODS_, METRIC_NAME, NAMESPACE,
        PERIOD_, STATISTIC_, ALARM_ACTIONS_, OK_ACTIONS_, DIMENSIONS, INSUFFICIENT_DATA_ACTIONS_,
        THRESHOLD_, UNITS,
    ) = (
        "ComparisonOperator", "AlarmDescription", "EvaluationPeriods", "MetricName",
        "Namespace", "Period", "Statistic", "AlarmActions", "OKActions", "Dimensions",
        "InsufficientDataActions", "Threshold", "Units",
    )

    properties_schema = {
        COMPARISON_OPERATOR_: properties.Schema(
            properties.Schema.STRING, _("Operator used to compare the specified Statistic "
                                        "with Threshold."),
            required=True, update_allowed=True,
            constraints=[constraints.AllowedValues(list(OPERATORS))]),
        ALARM_DESCRIPTION: properties.Schema(properties.Schema.STRING, _("Description."),
                                             update_allowed=True),
        EVALUATION_PERIODS_: properties.Schema(properties.Schema.INTEGER,
                                               _("Number of periods to evaluate over."),
                                               required=True, update_allowed=True,
                                               constraints=[constraints.Range(min=1)]),
        METRIC_NAME: properties.Schema(properties.Schema.STRING, _("Metric name."),
                                       required=True),
        NAMESPACE: properties.Schema(properties.Schema.STRING,
                                     _("Namespace of the metric (kept for compatibility)."),
                                     default="system/linux"),
        PERIOD_: properties.Schema(properties.Schema.INTEGER, _("Period in seconds."),
                                   required=True, update_allowed=True,
                                   constraints=[constraints.Range(min=1)]),
        STATISTIC_: properties.Schema(properties.Schema.STRING, _("Metric statistic."),
                                      required=True, update_allowed=True,
                                      constraints=[constraints.AllowedValues(list(STATISTICS))]),
        ALARM_ACTIONS_: properties.Schema(properties.Schema.LIST,
                                          _("Actions when the alarm goes to ALARM."),
                                          update_allowed=True),
        OK_ACTIONS_: properties.Schema(properties.Schema.LIST,
                                       _("Actions when the alarm goes to OK."),
                                       update_allowed=True),
        INSUFFICIENT_DATA_ACTIONS_: properties.Schema(
            properties.Schema.LIST, _("Actions when the alarm goes to INSUFFICIENT_DATA."),
            update_allowed=True),
        DIMENSIONS: properties.Schema(
            properties.Schema.LIST, _("Dimensions (Name, Value) the samples must carry as "
                                      "user tags."),
            schema=properties.Schema(properties.Schema.MAP, schema={
                "Name": properties.Schema(properties.Schema.STRING, required=True),
                "Value": properties.Schema(properties.Schema.STRING, required=True)})),
        THRESHOLD_: properties.Schema(properties.Schema.NUMBER, _("Threshold."),
                                      required=True, update_allowed=True),
        UNITS: properties.Schema(properties.Schema.STRING, _("Unit of the metric "
                                                              "(informative).")),
    }

    ACTION_PROPERTIES = (ALARM_ACTIONS_, OK_ACTIONS_, INSUFFICIENT_DATA_ACTIONS_)

    def _definition(self, props=None) -> dict:
        props = props if props is not None else self.properties
        return definitions.cloudwatch_definition(
            props, self._identity(), lambda key: self._engine_actions(props, key))

    def _enabled_on_resume(self) -> bool:
        return True  # CloudWatch alarms have no enabled property


def resource_mapping():
    return {"AWS::CloudWatch::Alarm": CloudWatchAlarm}
