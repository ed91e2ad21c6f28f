"""Aodh's Gnocchi threshold rules as our threshold rules.

Aodh's ``gnocchi_aggregation_by_resources_threshold`` rule (Heat's
``OS::Aodh::GnocchiAggregationByResourcesAlarm``) and
``gnocchi_resources_threshold`` rule (``OS::Aodh::GnocchiResourcesAlarm``)
compare an aggregate of a Gnocchi metric with a threshold. Their fields map
onto a :class:`~heat_alarming.engine.alarm.ThresholdRule`:

================== =================================================
Aodh's field        ours
================== =================================================
metric              meter_name (the samples' name: the metric name)
aggregation_method  statistic (mean -> avg, median -> p50, Npct -> pN ...)
granularity         period (Aodh's default, 60)
evaluation_periods  evaluation_periods (default 1)
threshold           threshold
comparison_operator comparison_operator (default eq)
query               search (a Gnocchi resource search, JSON text)
resource_id         search ``{"=": {"id": ...}}``
resource_type       resource_type
================== =================================================

``gnocchi_aggregation_by_metrics_threshold`` names Gnocchi metric ids, which
samples do not carry: it is refused. Errors name Aodh's fields.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from heat_alarming.metering.gnocchi_search import (
    TranslationError,
    check_resource_type,
    statistic_for,
)

BY_RESOURCES = "gnocchi_aggregation_by_resources_threshold"
RESOURCES = "gnocchi_resources_threshold"
BY_METRICS = "gnocchi_aggregation_by_metrics_threshold"
GNOCCHI_TYPES = (RESOURCES, BY_RESOURCES, BY_METRICS)

#: our threshold rule's fields under the names Aodh's Gnocchi rules give them
AODH_NAMES = {"meter_name": "metric", "statistic": "aggregation_method",
              "period": "granularity", "search": "query"}
#: Gnocchi's bound on a resource's original id
MAX_RESOURCE_ID = 255
#: Aodh's default granularity
DEFAULT_GRANULARITY = 60

_COMMON = ("metric", "aggregation_method", "granularity", "evaluation_periods",
           "threshold", "comparison_operator", "type")
_FIELDS = {BY_RESOURCES: _COMMON + ("query", "resource_type"),
           RESOURCES: _COMMON + ("resource_id", "resource_type")}


def threshold_fields(kind: str, data: Mapping[str, Any]) -> dict:
    """Our threshold rule's fields for an Aodh Gnocchi rule of ``kind``.

    Raises :class:`TranslationError` naming Aodh's field ("": the rule itself). The
    result still goes through ``ThresholdRule.from_dict``, whose errors
    :data:`AODH_NAMES` renames.
    """
    if kind == BY_METRICS:
        raise TranslationError(
            "metrics", "Gnocchi metric ids cannot be matched: samples carry metric names "
            "and resource ids, not Gnocchi's metric ids; use "
            f"{BY_RESOURCES} with a query instead")
    if kind not in _FIELDS:
        raise TranslationError("type", f"{kind!r} is not one of {', '.join(GNOCCHI_TYPES)}")
    if not isinstance(data, Mapping):
        raise TranslationError("", "must be a mapping")
    unknown = set(data) - set(_FIELDS[kind])
    if unknown:
        raise TranslationError("", f"unknown field(s) {sorted(unknown)}")
    metric = data.get("metric")
    if not isinstance(metric, str) or not metric:
        raise TranslationError("metric", "a metric name is required")
    if data.get("threshold") is None:
        raise TranslationError("threshold", "a threshold is required")
    fields = {
        "meter_name": metric,
        "threshold": data["threshold"],
        "statistic": statistic_for(data.get("aggregation_method")),
        "period": _or_default(data.get("granularity"), DEFAULT_GRANULARITY),
        "evaluation_periods": _or_default(data.get("evaluation_periods"), 1),
        "comparison_operator": _or_default(data.get("comparison_operator"), "eq"),
        "resource_type": check_resource_type(data.get("resource_type")),
    }
    if kind == BY_RESOURCES:
        if data.get("query") is None:
            raise TranslationError("query", "a Gnocchi search is required, e.g. "
                                            '{"=": {"server_group": "..."}}')
        fields["search"] = data["query"]
    else:
        resource_id = data.get("resource_id")
        if not isinstance(resource_id, str) or not resource_id:
            raise TranslationError("resource_id", "a resource id is required")
        if len(resource_id) > MAX_RESOURCE_ID:
            raise TranslationError("resource_id", f"{len(resource_id)} characters is more "
                                                  f"than the {MAX_RESOURCE_ID} allowed")
        fields["search"] = json.dumps({"=": {"id": resource_id}})
    return fields


def aodh_field(field: str) -> str:
    """A field path of ours (``threshold_rule.period``) under Aodh's Gnocchi names."""
    head, _, last = field.rpartition(".")
    renamed = AODH_NAMES.get(last, last)
    return f"{head}.{renamed}" if head else renamed


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value
