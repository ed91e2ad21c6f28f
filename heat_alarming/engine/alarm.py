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
import datetime as dt
import functools
import json
import math
import sys
import unicodedata
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import croniter

from heat_alarming.engine import models, promql
from heat_alarming.engine.gnocchi_rules import GNOCCHI_TYPES, aodh_field, threshold_fields
from heat_alarming.metering.gnocchi_search import (
    TranslationError,
    check_resource_type,
    parse_search,
    resource_type_term,
    translate_search,
)
from heat_alarming.metering.query import OPERATORS, Query, QueryError, build_query
from heat_alarming.metering.statistics import StatisticsError, canonical_aggregate

OK, ALARM, UNKNOWN = "ok", "alarm", "insufficient data"
STATES = (OK, ALARM, UNKNOWN)
#: the reason of an alarm no round has judged yet (Aodh's words); its first round that
#: leaves it in insufficient data replaces it with why
NOT_EVALUATED = "Not evaluated yet"
SEVERITIES = ("low", "moderate", "critical")
MISSING_DATA = ("missing", "ignore", "breaching", "not_breaching")
THRESHOLD, COMPOSITE, PROMETHEUS = "threshold", "composite", "prometheus"

#: the deepest and/or nesting a composite rule may have at all, whatever the options
#: say (``max_composite_depth`` is bounded by it): every walk over a rule is recursive,
#: and this keeps them far from Python's recursion limit
MAX_NESTING = 50


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one project may define (the ``[heat_alarming]`` options)."""

    #: leaves (threshold rules and alarm references) of one composite rule
    composite_leaves: int = 100
    #: and/or levels of one composite rule (at most MAX_NESTING)
    composite_depth: int = 10
    #: alarms one project may have
    alarms_per_project: int = 1000
    #: time constraints of one alarm (each is a cron walk in every round)
    time_constraints: int = 10
    #: actions of one alarm for each state (each queues a notification per transition)
    actions_per_state: int = 10


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


def _column_size(column) -> int | None:
    """The length of a string column of the alarm database (None: unbounded)."""
    return getattr(column.type, "length", None)


#: text that goes into a column of its own: at most that column's length
_NAME_SIZE = _column_size(models.alarms.c.name)
_ID_SIZE = _column_size(models.alarms.c.alarm_id)
_PROJECT_SIZE = _column_size(models.alarms.c.project_id)
_LINE_BREAKS = frozenset("\t\n\r")


def _text(field: str, value: Any, size: int | None = None, *,
          multiline: bool = False) -> str:
    """Text the database can store: no NUL or other control character (tabs and line
    breaks too when ``multiline``), no lone surrogate, at most ``size`` characters."""
    if not isinstance(value, str):
        raise AlarmError(field, "must be text")
    if size is not None and len(value) > size:
        raise AlarmError(field, f"{len(value)} characters is more than the {size} allowed")
    if value.isascii() and value.isprintable():
        return value  # printable ASCII holds no control character: the usual text, at once
    for position, char in enumerate(value):
        if multiline and char in _LINE_BREAKS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise AlarmError(field, f"control character {char!r} at position {position}")
    return value


def _optional_text(field: str, value: Any, size: int | None = None) -> str | None:
    return None if value is None else _text(field, value, size)


def _optional_time(field: str, value: Any) -> float | None:
    return None if value is None else _float(field, value)


def _bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise AlarmError(field, f"{value!r} is not a boolean")


def _shared(text: Any) -> Any:
    """One object for every equal text (meter names, operators, project ids): alarms
    repeat the same few words, and a definition read back from JSON or the API brings
    its own copy of each; anything that is not exactly ``str`` is returned as it is."""
    return sys.intern(text) if type(text) is str else text


@functools.lru_cache(maxsize=8192)
def _one_of(words: tuple[str, ...]) -> tuple[str, ...]:
    return words


def _shared_words(words: tuple) -> tuple:
    """One object for equal tuples of text (action lists), among those met lately: most
    alarms repeat a few. A tuple holding anything but ``str`` is returned as it is
    (``1 == 1.0 == True``: sharing must never turn one value into another)."""
    if all(type(word) is str for word in words):
        return _one_of(words)
    return words


@functools.lru_cache(maxsize=4096, typed=True)  # typed: 60 and 60.0 stay themselves
def _one_number(number: float) -> float:
    return number


def _shared_number(number: float) -> float:
    """One object for equal thresholds and periods, among those met lately (most alarms
    share a few); zero as it is, since ``-0.0 == 0.0``."""
    return _one_number(number) if number else number


def _shared_pair(pair: tuple) -> tuple:
    """:func:`_shared_words` for a (key, value) pair, at the cost of two type checks."""
    return _one_of(pair) if type(pair[0]) is str and type(pair[1]) is str else pair


def _query_items(query: Any) -> tuple:
    """A rule's query items as stored on it: each item's sorted (key, value) pairs
    (``("op", "eq")`` and the like one object for all rules)."""
    return tuple(tuple(map(_shared_pair, sorted(item.items()))) for item in query)


#: the fields a threshold rule's mapping may hold
_RULE_FIELDS = frozenset(("meter_name", "threshold", "comparison_operator", "statistic",
                          "period", "evaluation_periods", "query", "matching_metadata",
                          "exclude_outliers", "datapoints_to_alarm", "missing_data",
                          "search", "resource_type", "type", "meter"))


@dataclasses.dataclass(frozen=True, slots=True)
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
    #: a Gnocchi resource search (JSON text) the series must also satisfy ("": none)
    search: str = ""
    #: a Gnocchi resource type; collector samples of another type are left out
    resource_type: str = ""
    #: :meth:`selector`'s answer, kept once built (every compilation asks again)
    _selector: Query | None = dataclasses.field(default=None, init=False, repr=False,
                                                compare=False)

    @classmethod
    def from_gnocchi(cls, kind: str, data: Mapping[str, Any],
                     where: str = "rule") -> ThresholdRule:
        """A rule from an Aodh Gnocchi rule (:mod:`.gnocchi_rules`); errors name Aodh's
        fields (``granularity``, ``aggregation_method``, ``query`` ...)."""
        try:
            fields = threshold_fields(kind, data)
        except TranslationError as exc:
            raise AlarmError(f"{where}.{exc.field}" if exc.field else where,
                             exc.reason) from None
        try:
            return cls.from_dict(fields, where)
        except AlarmError as exc:
            raise AlarmError(aodh_field(exc.field), exc.reason) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "rule") -> ThresholdRule:
        if not isinstance(data, Mapping):
            raise AlarmError(where, "must be a mapping")
        if data.get("type") in GNOCCHI_TYPES:
            return cls.from_gnocchi(data["type"], {k: v for k, v in data.items()}, where)
        unknown = set(data) - _RULE_FIELDS
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
            built = build_query(query, matching)
        except QueryError as exc:
            raise AlarmError(f"{where}.{str(exc).split(':', 1)[0]}",
                             str(exc).split(": ", 1)[-1]) from None
        search, resource_type = _search(where, data.get("search"),
                                        data.get("resource_type"))
        rule = cls(
            meter_name=_shared(meter),
            threshold=_shared_number(_float(f"{where}.threshold", data["threshold"])),
            comparison_operator=_shared(op), statistic=_shared(statistic),
            period=_shared_number(_int(f"{where}.period", data.get("period", 60), 1)),
            evaluation_periods=n,
            query=_query_items(query),
            matching_metadata=tuple(map(_shared_pair, sorted(
                (str(k), str(v)) for k, v in matching.items()))),
            exclude_outliers=_bool(f"{where}.exclude_outliers",
                                   data.get("exclude_outliers", False)),
            datapoints_to_alarm=m, missing_data=_shared(missing),
            search=search, resource_type=_shared(resource_type))
        if not (matching or search or resource_type):
            # the query checked above is the selector (matching_metadata's conditions
            # come in the rule's sorted order, so that one is built by selector())
            object.__setattr__(rule, "_selector", built)
        return rule

    def selector(self) -> Query:
        """The series this rule reads: query, matching_metadata and search together
        (built once per rule: the same object every time)."""
        if self._selector is not None:
            return self._selector
        built = build_query(self.query_items(), dict(self.matching_metadata))
        if self.search or self.resource_type:
            built = dataclasses.replace(
                built, conditions=built.conditions + _search_terms(self.search,
                                                                   self.resource_type))
        object.__setattr__(self, "_selector", built)  # frozen: the cache alone is set
        return built

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
        if self.search:
            data["search"] = self.search
        if self.resource_type:
            data["resource_type"] = self.resource_type
        return data


def _search(where: str, search: Any, resource_type: Any) -> tuple[str, str]:
    """A rule's Gnocchi search as canonical JSON text, and its resource type, checked."""
    if resource_type is not None and resource_type != "":
        try:
            resource_type = check_resource_type(resource_type)
        except TranslationError as exc:
            raise AlarmError(f"{where}.resource_type", exc.reason) from None
    else:
        resource_type = ""
    if search is None or search == "":
        return "", resource_type
    try:
        parsed = parse_search(search, "search")
        text = json.dumps(parsed, sort_keys=True, ensure_ascii=False)
        _search_terms(text, resource_type)
    except TranslationError as exc:
        raise AlarmError(f"{where}.search", exc.reason) from None
    return text, resource_type


@functools.lru_cache(maxsize=4096)
def _search_terms(search: str, resource_type: str) -> tuple:
    """The query terms of a search and a resource type (kept per text: rounds recompile)."""
    terms = translate_search(search, resource_type or "generic", "search") if search else ()
    type_term = resource_type_term(resource_type) if resource_type else None
    return terms + ((type_term,) if type_term is not None else ())


@dataclasses.dataclass(frozen=True, slots=True)
class PromQLRule:
    """Compare the answer of a PromQL query with a threshold (Aodh's prometheus rule).

    The query is evaluated by Prometheus, scoped to the alarm's project
    (:func:`heat_alarming.engine.promql.scope`); every series of its instant
    vector (a scalar is one) is a datapoint: all beyond the threshold -> alarm,
    none -> ok, a mix keeps the state, as Aodh's evaluator judges its series.
    """

    query: str
    threshold: float
    comparison_operator: str = "eq"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "prometheus_rule") -> PromQLRule:
        if not isinstance(data, Mapping):
            raise AlarmError(where, "must be a mapping")
        unknown = set(data) - {"query", "threshold", "comparison_operator", "type"}
        if unknown:
            raise AlarmError(where, f"unknown field(s) {sorted(unknown)}")
        query = data.get("query")
        if not isinstance(query, str) or not query.strip():
            raise AlarmError(f"{where}.query", "a PromQL query is required")
        _text(f"{where}.query", query, multiline=True)
        try:
            promql.check(query)
        except promql.PromQLError as exc:
            raise AlarmError(f"{where}.query", exc.reason) from None
        if "threshold" not in data:
            raise AlarmError(f"{where}.threshold", "a threshold is required")
        op = data.get("comparison_operator") or "eq"
        if op not in OPERATORS:
            raise AlarmError(f"{where}.comparison_operator",
                             f"{op!r} is not one of {', '.join(OPERATORS)}")
        return cls(query=query, threshold=_float(f"{where}.threshold", data["threshold"]),
                   comparison_operator=op)

    def to_dict(self) -> dict:
        return {"type": PROMETHEUS, "query": self.query, "threshold": self.threshold,
                "comparison_operator": self.comparison_operator}


@dataclasses.dataclass(frozen=True, slots=True)
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
    def _parse(cls, node: Any, where: str, depth: int = 0) -> tuple:
        if isinstance(node, Mapping) and len(node) == 1 and next(iter(node)) in ("and", "or"):
            op = next(iter(node))
            if depth >= MAX_NESTING:
                raise AlarmError(where, f"and/or nested more than {MAX_NESTING} levels deep")
            children = node[op]
            if not isinstance(children, Sequence) or isinstance(children, str) \
                    or len(children) < 1:
                raise AlarmError(f"{where}.{op}", "must be a non-empty list of rules")
            return (op, tuple(cls._parse(c, f"{where}.{op}[{i}]", depth + 1)
                              for i, c in enumerate(children)))
        if isinstance(node, Mapping) and set(node) == {"alarm_id"}:
            if not isinstance(node["alarm_id"], str) or not node["alarm_id"]:
                raise AlarmError(f"{where}.alarm_id", "must name an alarm")
            return ("alarm", _text(f"{where}.alarm_id", node["alarm_id"], _ID_SIZE))
        if isinstance(node, Mapping):
            kind = node.get("type", THRESHOLD)
            if kind != THRESHOLD and kind not in GNOCCHI_TYPES:
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

    def depth(self) -> int:
        """and/or levels: 0 for a lone rule, 1 for ``{"and": [rules]}``."""
        deepest, todo = 0, [(self.tree, 0)]
        while todo:
            node, level = todo.pop()
            if node[0] in ("and", "or"):
                todo += [(child, level + 1) for child in node[1]]
            deepest = max(deepest, level)
        return deepest

    def to_dict(self) -> Any:
        def dump(node: tuple) -> Any:
            if node[0] in ("and", "or"):
                return {node[0]: [dump(c) for c in node[1]]}
            if node[0] == "alarm":
                return {"alarm_id": node[1]}
            return node[1].to_dict()
        return dump(self.tree)


@dataclasses.dataclass(frozen=True, slots=True)
class TimeConstraint:
    """Evaluate only within ``duration`` seconds after each ``start`` (cron) in ``timezone``."""

    name: str
    start: str
    duration: int
    timezone: str = ""
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str,
                  checked: bool = True) -> TimeConstraint:
        """``checked=False`` (a stored definition) skips what only a new definition needs:
        whether the cron expression fires and the time zone exists."""
        if not isinstance(data, Mapping):
            raise AlarmError(where, "must be a mapping")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise AlarmError(f"{where}.name", "a name is required")
        start = data.get("start")
        if not isinstance(start, str):
            raise AlarmError(f"{where}.start", f"{start!r} is not a cron expression")
        timezone = data.get("timezone") or ""
        if not isinstance(timezone, str):
            raise AlarmError(f"{where}.timezone", f"{timezone!r} is not a time zone")
        description = data.get("description") or ""
        if checked:
            _text(f"{where}.name", name)
            _text(f"{where}.description", str(description), multiline=True)
            _check_cron(f"{where}.start", start)
            if timezone:
                try:
                    zoneinfo.ZoneInfo(timezone)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    raise AlarmError(f"{where}.timezone",
                                     f"{timezone!r} is not a time zone") from None
        return cls(name=name, start=start,
                   duration=_int(f"{where}.duration", data.get("duration"), 1),
                   timezone=timezone, description=str(description))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_cron(field: str, start: str) -> None:
    """A cron expression that fires, before and after now (croniter's is_valid accepts
    ``0 0 31 2 *``, which never does, and whose every evaluation would raise)."""
    problem = _cron_problem(start)
    if problem is not None:
        raise AlarmError(field, f"{start!r} {problem}")


@functools.lru_cache(maxsize=1024)
def _cron_problem(start: str) -> str | None:
    """What is wrong with a cron expression (None: nothing); kept per expression, so
    that defining many alarms with one window searches croniter's calendar once."""
    try:
        valid = croniter.croniter.is_valid(start)
    except Exception:  # croniter raises assorted errors on odd text
        valid = False
    if not valid:
        return "is not a cron expression"
    now = dt.datetime.now(dt.timezone.utc)
    try:
        croniter.croniter(start, now).get_next(dt.datetime)
        croniter.croniter(start, now).get_prev(dt.datetime)
    except Exception:  # CroniterBadDateError and friends
        return "never fires"
    return None


def _actions(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise AlarmError(field, "must be a list of action URLs")
    for i, url in enumerate(value):
        if not isinstance(url, str) or "://" not in url:
            raise AlarmError(f"{field}[{i}]", f"{url!r} is not an action URL (scheme://...)")
        _text(f"{field}[{i}]", url)
    return _shared_words(tuple(value))


@dataclasses.dataclass(slots=True)  # a million of them: no __dict__ each
class Alarm:
    """An alarm: its definition plus its evaluation state."""

    alarm_id: str
    name: str
    type: str
    rule: ThresholdRule | CompositeRule | PromQLRule
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
    state_reason: str = NOT_EVALUATED
    state_timestamp: float | None = None
    pending_state: str | None = None
    pending_since: float | None = None


    @classmethod
    def from_dict(cls, data: Mapping[str, Any], checked: bool = True) -> Alarm:
        """Build and validate an alarm from Aodh-style fields.

        ``threshold_rule`` / ``composite_rule`` (or ``rule``) carries the rule;
        ``type`` defaults to what the rule is.  Text fields must fit their database
        columns and hold no control character.  ``checked=False`` is for definitions
        read back from the alarm database: they are parsed, but what only a new
        definition must pass (text, cron expressions, time zones) is not checked again,
        so that a stricter release still loads what an older one stored.
        """
        if not isinstance(data, Mapping):
            raise AlarmError("alarm", "must be a mapping")
        kind = data.get("type")
        if "prometheus_rule" in data or kind == PROMETHEUS:
            kind = PROMETHEUS
            rule_data = data.get("prometheus_rule", data.get("rule"))
            if rule_data is None:
                raise AlarmError("prometheus_rule", "a rule is required")
            rule = PromQLRule.from_dict(rule_data, "prometheus_rule")
        elif "composite_rule" in data or kind == COMPOSITE:
            kind = COMPOSITE
            rule_data = data.get("composite_rule", data.get("rule"))
            rule: ThresholdRule | CompositeRule = CompositeRule.from_dict(
                rule_data, "composite_rule")
        elif kind in GNOCCHI_TYPES:  # Aodh's Gnocchi rules, in Aodh's fields
            where = f"{kind}_rule"
            rule_data = data.get(where, data.get("rule"))
            if rule_data is None:
                raise AlarmError(where, "a rule is required")
            rule = ThresholdRule.from_gnocchi(kind, rule_data, where)
            kind = THRESHOLD
        else:
            if kind not in (None, THRESHOLD):
                raise AlarmError("type", f"{kind!r} is not one of threshold, composite, "
                                 + "prometheus, " + ", ".join(GNOCCHI_TYPES))
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
        pending = data.get("pending_state")
        if pending is not None and pending not in STATES:
            raise AlarmError("pending_state", f"{pending!r} is not one of {', '.join(STATES)}")
        constraints = data.get("time_constraints") or ()
        if isinstance(constraints, (str, Mapping)) or not isinstance(constraints, Sequence):
            raise AlarmError("time_constraints", "must be a list")
        names = [c.get("name") for c in constraints if isinstance(c, Mapping)]
        if len(names) != len(set(names)):
            raise AlarmError("time_constraints", "names must be unique")
        name = data.get("name") or ""
        if not isinstance(name, str):
            raise AlarmError("name", "must be text")
        alarm_id = str(data.get("alarm_id") or uuid.uuid4())
        description = str(data.get("description") or "")
        state_reason = str(data.get("state_reason") or NOT_EVALUATED)
        if state_reason == NOT_EVALUATED:
            state_reason = NOT_EVALUATED  # every new alarm's reason: one text for all
        if checked:
            _text("alarm_id", alarm_id, _ID_SIZE)
            _text("name", name, _NAME_SIZE)
            _optional_text("project_id", data.get("project_id"), _PROJECT_SIZE)
            # a Keystone id, as the project's (kept in the definition, bounded alike)
            _optional_text("user_id", data.get("user_id"), _PROJECT_SIZE)
            _text("description", description, multiline=True)
            _text("state_reason", state_reason, multiline=True)
        return cls(
            alarm_id=alarm_id, name=name or alarm_id, type=kind, rule=rule,
            project_id=_shared(data.get("project_id")), user_id=_shared(data.get("user_id")),
            description=description,
            enabled=_bool("enabled", data.get("enabled", True)),
            severity=_shared(severity),
            alarm_actions=_actions("alarm_actions", data.get("alarm_actions")),
            ok_actions=_actions("ok_actions", data.get("ok_actions")),
            insufficient_data_actions=_actions("insufficient_data_actions",
                                               data.get("insufficient_data_actions")),
            repeat_actions=_bool("repeat_actions", data.get("repeat_actions", False)),
            time_constraints=tuple(
                TimeConstraint.from_dict(c, f"time_constraints[{i}]", checked)
                for i, c in enumerate(constraints)),
            stabilization_window=_int("stabilization_window",
                                      data.get("stabilization_window", 0), 0),
            state=_shared(state), state_reason=state_reason,
            state_timestamp=_optional_time("state_timestamp", data.get("state_timestamp")),
            pending_state=_shared(pending),
            pending_since=_optional_time("pending_since", data.get("pending_since")))

    def definition(self) -> dict:
        """The definition as JSON-able Aodh-style fields (no state)."""
        rule_key = {COMPOSITE: "composite_rule", PROMETHEUS: "prometheus_rule"}.get(
            self.type, "threshold_rule")
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
        if isinstance(self.rule, PromQLRule):
            return []  # Prometheus evaluates it, not the store
        return [leaf[1] for leaf in self.rule.leaves() if leaf[0] == "rule"]

    def actions_for(self, state: str) -> tuple[str, ...]:
        if state == ALARM:
            return self.alarm_actions
        if state == OK:
            return self.ok_actions
        if state == UNKNOWN:
            return self.insufficient_data_actions
        raise KeyError(state)
