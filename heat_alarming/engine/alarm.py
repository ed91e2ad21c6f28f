"""Alarm definitions: threshold and composite rules, time constraints, actions.

The vocabulary is Aodh's (threshold rule fields, composite ``and``/``or``
syntax, time constraints, severities, ``repeat_actions``) plus ours:
``exclude_outliers``, ``datapoints_to_alarm`` (M of N), ``missing_data`` (as
CloudWatch's TreatMissingData) and ``stabilization_window`` (flapping
protection).  Every definition is validated when it is built, and each error
names the field that is wrong.
"""
from __future__ import annotations

import dataclasses
import math
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import croniter

from heat_alarming.metering.query import OPERATORS, QueryError, build_query
from heat_alarming.metering.statistics import StatisticsError, canonical_aggregate

OK, ALARM, UNKNOWN = "ok", "alarm", "insufficient data"
STATES = (OK, ALARM, UNKNOWN)
SEVERITIES = ("low", "moderate", "critical")
MISSING_DATA = ("missing", "ignore", "breaching", "not_breaching")
THRESHOLD, COMPOSITE = "threshold", "composite"


class AlarmError(ValueError):
    """An alarm definition is invalid; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _int(field: str, value: Any, minimum: int) -> int:
    """An integer (CFN-style text accepted) of at least ``minimum``."""
    if isinstance(value, bool):
        raise AlarmError(field, f"{value!r} is not an integer")
    try:
        number = int(value) if not isinstance(value, float) else value
    except (TypeError, ValueError):
        raise AlarmError(field, f"{value!r} is not an integer") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise AlarmError(field, f"{value!r} is not an integer")
        number = int(number)
    if number < minimum:
        raise AlarmError(field, f"{number} is below the minimum of {minimum}")
    return number


def _float(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise AlarmError(field, f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AlarmError(field, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise AlarmError(field, f"{value!r} is not a finite number")
    return number


def _bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise AlarmError(field, f"{value!r} is not a boolean")


@dataclasses.dataclass(frozen=True)
class ThresholdRule:
    """Compare a per-period statistic of a meter with a threshold (Aodh's threshold rule)."""

    meter_name: str
    threshold: float
    comparison_operator: str = "eq"
    statistic: str = "avg"
    period: int = 60
    evaluation_periods: int = 1
    query: tuple = ()
    matching_metadata: tuple = ()  # sorted (key, value) pairs
    exclude_outliers: bool = False
    datapoints_to_alarm: int | None = None
    missing_data: str = "missing"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "rule") -> ThresholdRule:
        if not isinstance(data, Mapping):
            raise AlarmError(where, "must be a mapping")
        known = {f.name for f in dataclasses.fields(cls)} | {"type", "meter"}
        unknown = set(data) - known
        if unknown:
            raise AlarmError(where, f"unknown field(s) {sorted(unknown)}")
        meter = data.get("meter_name", data.get("meter"))
        if not isinstance(meter, str) or not meter:
            raise AlarmError(f"{where}.meter_name", "a meter name is required")
        if "threshold" not in data:
            raise AlarmError(f"{where}.threshold", "a threshold is required")
        op = data.get("comparison_operator", "eq")
        if op not in OPERATORS:
            raise AlarmError(f"{where}.comparison_operator",
                             f"{op!r} is not one of {', '.join(OPERATORS)}")
        try:
            statistic = canonical_aggregate(data.get("statistic", "avg"))
        except StatisticsError as exc:
            raise AlarmError(f"{where}.statistic", str(exc).split(": ", 1)[-1]) from None
        n = _int(f"{where}.evaluation_periods", data.get("evaluation_periods", 1), 1)
        m = data.get("datapoints_to_alarm")
        if m is not None:
            m = _int(f"{where}.datapoints_to_alarm", m, 1)
            if m > n:
                raise AlarmError(f"{where}.datapoints_to_alarm",
                                 f"{m} is more than evaluation_periods ({n})")
        missing = data.get("missing_data", "missing")
        if missing not in MISSING_DATA:
            raise AlarmError(f"{where}.missing_data",
                             f"{missing!r} is not one of {', '.join(MISSING_DATA)}")
        query = data.get("query") or ()
        matching = data.get("matching_metadata") or {}
        try:
            build_query(query, matching)
        except QueryError as exc:
            raise AlarmError(f"{where}.{str(exc).split(':', 1)[0]}",
                             str(exc).split(": ", 1)[-1]) from None
        return cls(
            meter_name=meter,
            threshold=_float(f"{where}.threshold", data["threshold"]),
            comparison_operator=op, statistic=statistic,
            period=_int(f"{where}.period", data.get("period", 60), 1),
            evaluation_periods=n,
            query=tuple(tuple(sorted(item.items())) for item in query),
            matching_metadata=tuple(sorted((str(k), str(v)) for k, v in matching.items())),
            exclude_outliers=_bool(f"{where}.exclude_outliers",
                                   data.get("exclude_outliers", False)),
            datapoints_to_alarm=m, missing_data=missing)

    @property
    def look_back(self) -> int:
        """Closed periods a decision reads: N and the one before (Aodh's look-back),
        or 2N with outlier exclusion, which needs the extra points to judge."""
        n = self.evaluation_periods
        return n + (n if self.exclude_outliers else 1)

    def query_items(self) -> list[dict]:
        return [dict(item) for item in self.query]

    def to_dict(self) -> dict:
        data = {"type": THRESHOLD, "meter_name": self.meter_name,
                "threshold": self.threshold,
                "comparison_operator": self.comparison_operator,
                "statistic": self.statistic, "period": self.period,
                "evaluation_periods": self.evaluation_periods,
                "exclude_outliers": self.exclude_outliers,
                "missing_data": self.missing_data}
        if self.query:
            data["query"] = self.query_items()
        if self.matching_metadata:
            data["matching_metadata"] = dict(self.matching_metadata)
        if self.datapoints_to_alarm is not None:
            data["datapoints_to_alarm"] = self.datapoints_to_alarm
        return data


@dataclasses.dataclass(frozen=True)
class CompositeRule:
    """``{"and": [...]}`` / ``{"or": [...]}`` over threshold rules and other alarms.

    ``tree`` is ``("and" | "or", children)``, ``("rule", ThresholdRule)`` or
    ``("alarm", alarm_id)``; leaves are named rule1, rule2 ... in the order
    Aodh names them (depth first).
    """

    tree: tuple
    source: Any = dataclasses.field(compare=False, default=None)

    @classmethod
    def from_dict(cls, data: Any, where: str = "rule") -> CompositeRule:
        return cls(cls._parse(data, where), source=data)

    @classmethod
    def _parse(cls, node: Any, where: str) -> tuple:
        if isinstance(node, Mapping) and len(node) == 1 and next(iter(node)) in ("and", "or"):
            op = next(iter(node))
            children = node[op]
            if not isinstance(children, Sequence) or isinstance(children, str) \
                    or len(children) < 1:
                raise AlarmError(f"{where}.{op}", "must be a non-empty list of rules")
            return (op, tuple(cls._parse(c, f"{where}.{op}[{i}]")
                              for i, c in enumerate(children)))
        if isinstance(node, Mapping) and set(node) == {"alarm_id"}:
            if not isinstance(node["alarm_id"], str) or not node["alarm_id"]:
                raise AlarmError(f"{where}.alarm_id", "must name an alarm")
            return ("alarm", node["alarm_id"])
        if isinstance(node, Mapping):
            kind = node.get("type", THRESHOLD)
            if kind not in (THRESHOLD, "gnocchi_resources_threshold"):
                raise AlarmError(f"{where}.type", f"{kind!r} is not a threshold rule type")
            return ("rule", ThresholdRule.from_dict(node, where))
        raise AlarmError(where, "must be an and/or mapping, a threshold rule or "
                                "{'alarm_id': ...}")

    def leaves(self) -> list[tuple]:
        """Leaves in Aodh's naming order (depth first)."""
        out: list[tuple] = []

        def walk(node: tuple) -> None:
            if node[0] in ("and", "or"):
                for child in node[1]:
                    walk(child)
            else:
                out.append(node)
        walk(self.tree)
        return out

    def to_dict(self) -> Any:
        def dump(node: tuple) -> Any:
            if node[0] in ("and", "or"):
                return {node[0]: [dump(c) for c in node[1]]}
            if node[0] == "alarm":
                return {"alarm_id": node[1]}
            return node[1].to_dict()
        return dump(self.tree)


@dataclasses.dataclass(frozen=True)
class TimeConstraint:
    """Evaluate only within ``duration`` seconds after each ``start`` (cron) in ``timezone``."""

    name: str
    start: str
    duration: int
    timezone: str = ""
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> TimeConstraint:
        if not isinstance(data, Mapping):
            raise AlarmError(where, "must be a mapping")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise AlarmError(f"{where}.name", "a name is required")
        start = data.get("start")
        if not isinstance(start, str) or not croniter.croniter.is_valid(start):
            raise AlarmError(f"{where}.start", f"{start!r} is not a cron expression")
        timezone = data.get("timezone") or ""
        if timezone:
            try:
                zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise AlarmError(f"{where}.timezone", f"{timezone!r} is not a time zone") \
                    from None
        return cls(name=name, start=start,
                   duration=_int(f"{where}.duration", data.get("duration"), 1),
                   timezone=timezone, description=str(data.get("description") or ""))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _actions(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise AlarmError(field, "must be a list of action URLs")
    for i, url in enumerate(value):
        if not isinstance(url, str) or "://" not in url:
            raise AlarmError(f"{field}[{i}]", f"{url!r} is not an action URL (scheme://...)")
    return tuple(value)


@dataclasses.dataclass
class Alarm:
    """An alarm: its definition plus its evaluation state."""

    alarm_id: str
    name: str
    type: str
    rule: ThresholdRule | CompositeRule
    project_id: str | None = None
    user_id: str | None = None
    description: str = ""
    enabled: bool = True
    severity: str = "low"
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    repeat_actions: bool = False
    time_constraints: tuple[TimeConstraint, ...] = ()
    stabilization_window: int = 0
    state: str = UNKNOWN
    state_reason: str = "Not evaluated yet"
    state_timestamp: float | None = None
    pending_state: str | None = None
    pending_since: float | None = None


    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alarm:
        """Build and validate an alarm from Aodh-style fields.

        ``threshold_rule`` / ``composite_rule`` (or ``rule``) carries the rule;
        ``type`` defaults to what the rule is.
        """
        if not isinstance(data, Mapping):
            raise AlarmError("alarm", "must be a mapping")
        kind = data.get("type")
        if "composite_rule" in data or kind == COMPOSITE:
            kind = COMPOSITE
            rule_data = data.get("composite_rule", data.get("rule"))
            rule: ThresholdRule | CompositeRule = CompositeRule.from_dict(
                rule_data, "composite_rule")
        else:
            if kind not in (None, THRESHOLD):
                raise AlarmError("type", f"{kind!r} is not one of threshold, composite")
            kind = THRESHOLD
            rule_data = data.get("threshold_rule", data.get("rule"))
            if rule_data is None:
                raise AlarmError("threshold_rule", "a rule is required")
            rule = ThresholdRule.from_dict(rule_data, "threshold_rule")
        severity = data.get("severity", "low")
        if severity not in SEVERITIES:
            raise AlarmError("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
        state = data.get("state", UNKNOWN)
        if state not in STATES:
            raise AlarmError("state", f"{state!r} is not one of {', '.join(STATES)}")
        constraints = data.get("time_constraints") or ()
        if isinstance(constraints, (str, Mapping)):
            raise AlarmError("time_constraints", "must be a list")
        names = [c.get("name") for c in constraints if isinstance(c, Mapping)]
        if len(names) != len(set(names)):
            raise AlarmError("time_constraints", "names must be unique")
        name = data.get("name") or ""
        if not isinstance(name, str):
            raise AlarmError("name", "must be text")
        alarm_id = data.get("alarm_id") or str(uuid.uuid4())
        return cls(
            alarm_id=str(alarm_id), name=name or str(alarm_id), type=kind, rule=rule,
            project_id=data.get("project_id"), user_id=data.get("user_id"),
            description=str(data.get("description") or ""),
            enabled=_bool("enabled", data.get("enabled", True)),
            severity=severity,
            alarm_actions=_actions("alarm_actions", data.get("alarm_actions")),
            ok_actions=_actions("ok_actions", data.get("ok_actions")),
            insufficient_data_actions=_actions("insufficient_data_actions",
                                               data.get("insufficient_data_actions")),
            repeat_actions=_bool("repeat_actions", data.get("repeat_actions", False)),
            time_constraints=tuple(TimeConstraint.from_dict(c, f"time_constraints[{i}]")
                                   for i, c in enumerate(constraints)),
            stabilization_window=_int("stabilization_window",
                                      data.get("stabilization_window", 0), 0),
            state=state, state_reason=str(data.get("state_reason") or "Not evaluated yet"),
            state_timestamp=data.get("state_timestamp"),
            pending_state=data.get("pending_state"),
            pending_since=data.get("pending_since"))

    def definition(self) -> dict:
        """The definition as JSON-able Aodh-style fields (no state)."""
        rule_key = "composite_rule" if self.type == COMPOSITE else "threshold_rule"
        return {"alarm_id": self.alarm_id, "name": self.name, "type": self.type,
                rule_key: self.rule.to_dict(), "project_id": self.project_id,
                "user_id": self.user_id, "description": self.description,
                "enabled": self.enabled, "severity": self.severity,
                "alarm_actions": list(self.alarm_actions), "ok_actions": list(self.ok_actions),
                "insufficient_data_actions": list(self.insufficient_data_actions),
                "repeat_actions": self.repeat_actions,
                "time_constraints": [c.to_dict() for c in self.time_constraints],
                "stabilization_window": self.stabilization_window}

    def threshold_rules(self) -> list[ThresholdRule]:
        """The threshold rules this alarm evaluates: its rule, or its composite's leaves."""
        if isinstance(self.rule, ThresholdRule):
            return [self.rule]
        return [leaf[1] for leaf in self.rule.leaves() if leaf[0] == "rule"]

    def actions_for(self, state: str) -> tuple[str, ...]:
        return {ALARM: self.alarm_actions, OK: self.ok_actions,
                UNKNOWN: self.insufficient_data_actions}[state]
