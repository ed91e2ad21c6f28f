"""Engine alarm definitions from alarm resource properties, without Heat.

The one translation of ``OS::Metering::Alarm`` (and ``OS::Aodh::Alarm``),
``OS::Metering::CompositeAlarm`` and ``AWS::CloudWatch::Alarm`` properties into
a definition for :meth:`heat_alarming.engine.alarm.Alarm.from_dict`. The live
resources (:mod:`heat_alarming.resources.alarm` and its neighbours) call it
with Heat's resolved properties; the backtest's template reader with the
properties it resolves itself, so the two can never disagree.

``props`` is any mapping of property values with their defaults applied
(:data:`ALARM_DEFAULTS` are ours, :data:`COMMON_DEFAULTS` Heat's);
``identity`` gives ``alarm_id``, ``name``, ``project_id`` and ``user_id``;
``actions(key)`` turns the action property ``key`` into engine action URLs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

RULE_KEYS = (
    METER_NAME, STATISTIC, PERIOD, EVALUATION_PERIODS, THRESHOLD, COMPARISON_OPERATOR,
    MATCHING_METADATA, QUERY, EXCLUDE_OUTLIERS, DATAPOINTS_TO_ALARM, MISSING_DATA,
) = (
    "meter_name", "statistic", "period", "evaluation_periods", "threshold",
    "comparison_operator", "matching_metadata", "query", "exclude_outliers",
    "datapoints_to_alarm", "missing_data",
)
STABILIZATION_WINDOW, COMPOSITE_RULE = "stabilization_window", "composite_rule"
#: Heat's common alarm properties (heat.engine.resources.alarm_base)
COMMON_KEYS = (DESCRIPTION, ENABLED, SEVERITY, ALARM_ACTIONS, OK_ACTIONS,
               INSUFFICIENT_DATA_ACTIONS, REPEAT_ACTIONS, TIME_CONSTRAINTS) = (
    "description", "enabled", "severity", "alarm_actions", "ok_actions",
    "insufficient_data_actions", "repeat_actions", "time_constraints")
ACTION_KEYS = (ALARM_ACTIONS, OK_ACTIONS, INSUFFICIENT_DATA_ACTIONS)

#: the defaults of OS::Metering::Alarm's own properties (its schema reads them here)
ALARM_DEFAULTS: dict[str, Any] = {
    STATISTIC: "avg", PERIOD: 60, EVALUATION_PERIODS: 1, COMPARISON_OPERATOR: "eq",
    MATCHING_METADATA: {}, EXCLUDE_OUTLIERS: False, MISSING_DATA: "missing",
    STABILIZATION_WINDOW: 0,
}
#: Heat's defaults of the common alarm properties, as Heat 27's alarm_base has them
#: (for readers of templates without Heat; tests compare them with Heat's)
COMMON_DEFAULTS: dict[str, Any] = {
    DESCRIPTION: None, ENABLED: True, SEVERITY: "low", ALARM_ACTIONS: None,
    OK_ACTIONS: None, INSUFFICIENT_DATA_ACTIONS: None, REPEAT_ACTIONS: True,
    TIME_CONSTRAINTS: [],
}

#: AWS::CloudWatch::Alarm's statistics and operators in the engine's words
CW_STATISTICS = {"SampleCount": "count", "Average": "avg", "Sum": "sum", "Minimum": "min",
                 "Maximum": "max"}
CW_OPERATORS = {"GreaterThanOrEqualToThreshold": "ge", "GreaterThanThreshold": "gt",
                "LessThanThreshold": "lt", "LessThanOrEqualToThreshold": "le"}
CW_KEYS = (CW_COMPARISON_OPERATOR, CW_DESCRIPTION, CW_EVALUATION_PERIODS, CW_METRIC_NAME,
           CW_PERIOD, CW_STATISTIC, CW_ALARM_ACTIONS, CW_OK_ACTIONS, CW_DIMENSIONS,
           CW_INSUFFICIENT_DATA_ACTIONS, CW_THRESHOLD) = (
    "ComparisonOperator", "AlarmDescription", "EvaluationPeriods", "MetricName", "Period",
    "Statistic", "AlarmActions", "OKActions", "Dimensions", "InsufficientDataActions",
    "Threshold")
CW_ACTION_KEYS = (CW_ALARM_ACTIONS, CW_OK_ACTIONS, CW_INSUFFICIENT_DATA_ACTIONS)

Actions = Callable[[str], list]


def threshold_rule(props: Mapping[str, Any]) -> dict:
    """The threshold rule of an alarm's properties (those set, and ``type``)."""
    rule = {k: props[k] for k in RULE_KEYS if props.get(k) is not None}
    rule["type"] = "threshold"
    return rule


def common_definition(props: Mapping[str, Any], identity: Mapping[str, Any],
                      actions: Actions) -> dict:
    """Everything but the rule, from Heat's common alarm properties."""
    return {
        "alarm_id": identity["alarm_id"], "name": identity["name"],
        "project_id": identity["project_id"], "user_id": identity["user_id"],
        "description": props[DESCRIPTION] or "",
        "enabled": props[ENABLED], "severity": props[SEVERITY],
        "alarm_actions": actions(ALARM_ACTIONS),
        "ok_actions": actions(OK_ACTIONS),
        "insufficient_data_actions": actions(INSUFFICIENT_DATA_ACTIONS),
        "repeat_actions": props[REPEAT_ACTIONS],
        "time_constraints": props[TIME_CONSTRAINTS] or [],
        "stabilization_window": props[STABILIZATION_WINDOW],
    }


def threshold_definition(props: Mapping[str, Any], identity: Mapping[str, Any],
                         actions: Actions, rule: Mapping[str, Any] | None = None) -> dict:
    """An ``OS::Metering::Alarm``'s definition; ``rule`` replaces :func:`threshold_rule`'s
    (the Gnocchi alarms' rules, in Aodh's fields)."""
    definition = common_definition(props, identity, actions)
    definition.update(type="threshold",
                      threshold_rule=threshold_rule(props) if rule is None else dict(rule))
    return definition


def composite_definition(props: Mapping[str, Any], identity: Mapping[str, Any],
                         actions: Actions) -> dict:
    """An ``OS::Metering::CompositeAlarm``'s definition."""
    definition = common_definition(props, identity, actions)
    definition.update(type="composite", composite_rule=props[COMPOSITE_RULE])
    return definition


def cloudwatch_definition(props: Mapping[str, Any], identity: Mapping[str, Any],
                          actions: Actions) -> dict:
    """An ``AWS::CloudWatch::Alarm``'s definition: Dimensions become matching_metadata."""
    return {
        "alarm_id": identity["alarm_id"], "name": identity["name"],
        "type": "threshold",
        "threshold_rule": {
            METER_NAME: props[CW_METRIC_NAME],
            STATISTIC: CW_STATISTICS[props[CW_STATISTIC]],
            COMPARISON_OPERATOR: CW_OPERATORS[props[CW_COMPARISON_OPERATOR]],
            PERIOD: props[CW_PERIOD],
            EVALUATION_PERIODS: props[CW_EVALUATION_PERIODS],
            THRESHOLD: props[CW_THRESHOLD],
            MATCHING_METADATA: {d["Name"]: d["Value"] for d in props[CW_DIMENSIONS] or []}},
        "project_id": identity["project_id"], "user_id": identity["user_id"],
        "description": props[CW_DESCRIPTION] or "",
        "alarm_actions": actions(CW_ALARM_ACTIONS),
        "ok_actions": actions(CW_OK_ACTIONS),
        "insufficient_data_actions": actions(CW_INSUFFICIENT_DATA_ACTIONS),
        "repeat_actions": False,
    }
