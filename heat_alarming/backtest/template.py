"""A HOT template read as a backtest scenario, without Heat.

The template is parsed with yaml and the properties a backtest needs are
resolved here: ``get_param`` (the given values, else the parameters'
defaults; ``OS::stack_id``, ``OS::stack_name`` and ``OS::project_id`` are
:data:`STACK_ID`), ``get_resource``, ``get_attr: [policy, alarm_url |
signal_url]`` (the action then targets that policy), ``str_replace`` (Aodh
templates write ``trust+`` before a policy's URL) and ``list_join``.

Resources read:

* ``OS::Heat::AutoScalingGroup`` (one per template): min_size, max_size,
  desired_capacity (else min_size, as Heat), cooldown;
* ``OS::Heat::ScalingPolicy`` and ``OS::Metering::ScalingPolicy`` (step
  adjustments, target tracking; signals of other states than alarm ignored);
* ``OS::Metering::Alarm`` (also ``OS::Aodh::Alarm`` and ``OS::Ceilometer::Alarm``,
  read as ours), ``OS::Metering::CompositeAlarm`` and ``AWS::CloudWatch::Alarm``.

Alarm definitions are made by :mod:`heat_alarming.engine.definitions`, the
translation the live resources use, with the alarm's resource name as its id
and name, project :data:`STACK_ID`, and each action naming a policy as
``inproc://backtest/<policy>`` (:func:`policy_action`). Actions that name no
policy (webhooks) are not replayed; they are listed in
:attr:`Scenario.unreplayed_actions`. Every refusal is a :class:`TemplateError`
naming the template path of the value, e.g.
``resources.cpu_alarm_high.properties.period: 'x' is not a whole number``.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from heat_alarming.backtest.group import GroupSpec, PolicySpec
from heat_alarming.engine import definitions, scaling
from heat_alarming.engine.alarm import Alarm, AlarmError
from heat_alarming.metering.query import matching_metadata_field

#: the stack id, stack name and project a backtest stands in for
STACK_ID = "backtest"
#: the in-process target the alarms' policy actions name
TARGET = "backtest"
GROUP_TYPES = ("OS::Heat::AutoScalingGroup",)
HEAT_POLICY, METERING_POLICY = "OS::Heat::ScalingPolicy", "OS::Metering::ScalingPolicy"
THRESHOLD_TYPES = ("OS::Metering::Alarm", "OS::Aodh::Alarm", "OS::Ceilometer::Alarm")
COMPOSITE_TYPE, CLOUDWATCH_TYPE = "OS::Metering::CompositeAlarm", "AWS::CloudWatch::Alarm"
#: types that would scale or alarm in the live stack but that a backtest cannot replay
UNSUPPORTED_TYPES = ("AWS::AutoScaling::AutoScalingGroup", "AWS::AutoScaling::ScalingPolicy",
                     "OS::Heat::InstanceGroup", "OS::Aodh::CompositeAlarm",
                     "OS::Metering::PrometheusAlarm", "OS::Aodh::PrometheusAlarm",
                     "OS::Metering::GnocchiResourcesAlarm",
                     "OS::Metering::GnocchiAggregationByResourcesAlarm",
                     "OS::Aodh::GnocchiResourcesAlarm",
                     "OS::Aodh::GnocchiAggregationByResourcesAlarm",
                     "OS::Aodh::GnocchiAggregationByMetricsAlarm")
PSEUDO_PARAMETERS = ("OS::stack_id", "OS::stack_name", "OS::project_id")
POLICY_ATTRIBUTES = ("alarm_url", "signal_url")
#: template functions a backtest does not evaluate
UNSUPPORTED_FUNCTIONS = frozenset((
    "get_file", "repeat", "digest", "resource_facade", "if", "yaql", "map_merge",
    "map_replace", "str_split", "list_concat", "list_concat_unique",
    "contains", "filter", "make_url", "str_replace_strict", "str_replace_vstrict",
    "get_reference", "Ref", "Fn::GetAtt", "Fn::Join", "Fn::Select", "Fn::Base64"))
#: what an action is before the attribute it is made of resolves (the live resource's
#: heat_alarming.resources.alarm.UNRESOLVED)
UNRESOLVED = frozenset({"trust+"})
#: Heat's (and AWS's) OS::Metering::Alarm-family property names a template may set
_THRESHOLD_KEYS = frozenset(definitions.RULE_KEYS + definitions.COMMON_KEYS
                            + (definitions.STABILIZATION_WINDOW,))
_COMPOSITE_KEYS = frozenset(definitions.COMMON_KEYS + (definitions.COMPOSITE_RULE,
                                                       definitions.STABILIZATION_WINDOW))
_CW_KEYS = frozenset(definitions.CW_KEYS + ("Namespace", "Units"))
_CW_REQUIRED = (definitions.CW_COMPARISON_OPERATOR, definitions.CW_EVALUATION_PERIODS,
                definitions.CW_METRIC_NAME, definitions.CW_PERIOD, definitions.CW_STATISTIC,
                definitions.CW_THRESHOLD)
_HEAT_POLICY_KEYS = frozenset(("auto_scaling_group_id", "scaling_adjustment",
                               "adjustment_type", "cooldown", "min_adjustment_step"))
_METERING_POLICY_KEYS = _HEAT_POLICY_KEYS | {"step_adjustments", "target_value", "tolerance"}
#: the most members a backtest simulates (each reports a sample every tick)
MAX_MEMBERS = 10_000
_GROUP_KEYS = frozenset(("min_size", "max_size", "desired_capacity", "cooldown", "resource",
                         "rolling_updates"))


class TemplateError(ValueError):
    """A template a backtest cannot replay: ``<where>: <reason>``."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What a template makes: the group, its policies and the engine alarm definitions."""

    group: GroupSpec
    policies: dict[str, PolicySpec]
    alarms: dict[str, dict]     # resource name -> definition for Alarm.from_dict
    meter: str                  # the meter of the first alarm's first rule
    metadata: dict              # what samples must carry to be selected by the alarms
    group_name: str = "group"
    project_id: str = STACK_ID
    #: alarm -> actions that name no policy (webhooks): not replayed
    unreplayed_actions: dict = dataclasses.field(default_factory=dict)


def policy_action(policy: str) -> str:
    """The engine action of an alarm that signals ``policy``."""
    return f"inproc://{TARGET}/{quote(policy, safe='')}"


def policy_of(action: str) -> str | None:
    """The policy an engine action signals (None: it signals none)."""
    parts = urlsplit(action)
    if parts.scheme != "inproc" or parts.netloc != TARGET:
        return None
    return unquote(parts.path.lstrip("/")) or None


# -- reading ------------------------------------------------------------------------
def read_template(path: str | os.PathLike, parameters: Mapping[str, Any] | None = None,
                  resize_seconds: float = 0.0) -> Scenario:
    """The scenario of the HOT template in ``path`` with ``parameters`` (name -> value,
    text as given on a command line or typed values)."""
    shown = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise TemplateError(shown, f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TemplateError(shown, f"is not UTF-8 text ({exc.reason})") from None
    try:
        template = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        raise TemplateError(where, f"not YAML: {getattr(exc, 'problem', None) or exc}") \
            from None
    return scenario_of(template, parameters, resize_seconds)


def scenario_of(template: Any, parameters: Mapping[str, Any] | None = None,
                resize_seconds: float = 0.0) -> Scenario:
    """The scenario of a parsed template (a mapping, as yaml gives it)."""
    if not isinstance(template, Mapping):
        raise TemplateError("", "a template is a mapping (heat_template_version, "
                                "parameters, resources)")
    if "Resources" in template and "resources" not in template:
        raise TemplateError("Resources", "CFN templates are not read by a backtest; "
                                         "write the template in HOT")
    resources = template.get("resources")
    if not isinstance(resources, Mapping) or not resources:
        raise TemplateError("resources", "must be a mapping of one resource or more")
    for name, body in resources.items():
        if not isinstance(body, Mapping) or not isinstance(body.get("type"), str):
            raise TemplateError(f"resources.{name}", "needs a type")
        props = body.get("properties", {})
        if props is not None and not isinstance(props, Mapping):
            raise TemplateError(f"resources.{name}.properties", "must be a mapping")
    resolver = _Resolver(template, resources, _parameters(template, parameters or {}))
    return _Reader(resolver, resources, float(resize_seconds)).scenario()


def _parameters(template: Mapping, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = template.get("parameters") or {}
    if not isinstance(declared, Mapping):
        raise TemplateError("parameters", "must be a mapping")
    for name in given:
        if name not in declared:
            raise TemplateError(f"parameters.{name}", "the template has no such parameter "
                                f"(it has {', '.join(sorted(map(str, declared))) or 'none'})")
    values: dict[str, Any] = {p: STACK_ID for p in PSEUDO_PARAMETERS}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, Mapping) else {}
        where = f"parameters.{name}"
        if name in given:
            value = _typed(where, spec.get("type", "string"), given[name])
        elif "default" in spec:
            value = _typed(where, spec.get("type", "string"), spec["default"])
        else:
            value = None  # refused where it is used: an unused parameter needs no value
        if value is not None:
            _check_constraints(where, spec.get("constraints") or [], value)
        values[name] = value
    return values


def _typed(where: str, kind: str, value: Any) -> Any:
    if kind == "number":
        number = _number(where, value)
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1", "t", "y"):
            return True
        if text in ("false", "no", "off", "0", "f", "n"):
            return False
        raise TemplateError(where, f"{value!r} is not a boolean")
    if kind == "json":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise TemplateError(where, f"not JSON: {exc}") from None
        return value
    if kind == "comma_delimited_list":
        if isinstance(value, str):
            return [item.strip() for item in value.split(",")] if value else []
        return list(value)
    return value if isinstance(value, str) else str(value)


def _check_constraints(where: str, constraints: Any, value: Any) -> None:
    for item in constraints if isinstance(constraints, list) else []:
        if not isinstance(item, Mapping):
            continue
        allowed = item.get("allowed_values")
        if allowed is not None and value not in allowed:
            raise TemplateError(where, f"{value!r} is not one of {allowed}")
        bounds = item.get("range")
        if isinstance(bounds, Mapping) and isinstance(value, (int, float)):
            low, high = bounds.get("min"), bounds.get("max")
            if (low is not None and value < low) or (high is not None and value > high):
                raise TemplateError(where, f"{value!r} is outside the range "
                                    f"[{low}, {high}]")


class _Resolver:
    """Evaluates the template functions a backtest understands."""

    def __init__(self, template: Mapping, resources: Mapping, values: dict) -> None:
        self.template, self.resources, self.values = template, resources, values

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            method = getattr(self, f"_{key}", None) if key in (
                "get_param", "get_resource", "get_attr", "str_replace", "list_join") else None
            if method is not None:
                return method(arg, f"{where}.{key}")
            if key in UNSUPPORTED_FUNCTIONS:
                raise TemplateError(where, f"{key} is not evaluated by a backtest")
        return {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}

    def _get_param(self, arg: Any, where: str) -> Any:
        path = arg if isinstance(arg, list) else [arg]
        if not path:
            raise TemplateError(where, "names no parameter")
        name = self.resolve(path[0], where)
        if name not in self.values:
            raise TemplateError(where, f"no parameter {name!r}")
        value = self.values[name]
        if value is None:
            raise TemplateError(f"parameters.{name}", "no value given and no default")
        for key in path[1:]:
            try:
                value = value[self.resolve(key, where)]
            except (KeyError, IndexError, TypeError):
                raise TemplateError(where, f"parameter {name!r} has no {key!r}") from None
        return value

    def _get_resource(self, arg: Any, where: str) -> str:
        name = self.resolve(arg, where)
        if not isinstance(name, str) or name not in self.resources:
            raise TemplateError(where, f"no resource {name!r}")
        return name

    def _get_attr(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) < 2:
            raise TemplateError(where, "takes [resource, attribute, ...]")
        name, attribute = self.resolve(arg[0], where), self.resolve(arg[1], where)
        if not isinstance(name, str) or name not in self.resources:
            raise TemplateError(where, f"no resource {name!r}")
        kind = self.resources[name].get("type")
        if kind in (HEAT_POLICY, METERING_POLICY) and attribute in POLICY_ATTRIBUTES:
            return policy_action(name)
        raise TemplateError(where, f"{name}.{attribute} ({kind}) has no value in a backtest; "
                            "only a scaling policy's alarm_url and signal_url do")

    def _str_replace(self, arg: Any, where: str) -> str:
        arg = self.resolve(arg, where)
        if not isinstance(arg, Mapping) or not isinstance(arg.get("template"), str):
            raise TemplateError(where, "takes {template: text, params: {...}}")
        text, params = arg["template"], arg.get("params") or {}
        if not isinstance(params, Mapping):
            raise TemplateError(f"{where}.params", "must be a mapping")
        for key in sorted(params, key=lambda k: len(str(k)), reverse=True):
            value = params[key]
            text = text.replace(str(key), value if isinstance(value, str) else
                                json.dumps(value) if isinstance(value, (dict, list))
                                else str(value))
        return text

    def _list_join(self, arg: Any, where: str) -> str:
        arg = self.resolve(arg, where)
        if not isinstance(arg, list) or not arg or not isinstance(arg[0], str):
            raise TemplateError(where, "takes [delimiter, list, ...]")
        items = [str(v) for part in arg[1:] for v in (part if isinstance(part, list)
                                                      else [part])]
        return arg[0].join(items)


class _Reader:
    """Reads the group, policies and alarms of the template's resources."""

    def __init__(self, resolver: _Resolver, resources: Mapping, resize_seconds: float) -> None:
        self.resolver, self.resources, self.resize_seconds = resolver, resources, resize_seconds

    def _of(self, *types: str) -> list[str]:
        return [n for n, body in self.resources.items() if body["type"] in types]

    def _props(self, name: str, known: frozenset) -> dict:
        raw = self.resources[name].get("properties") or {}
        for key in raw:
            if key not in known:
                raise TemplateError(f"resources.{name}.properties.{key}",
                                    f"is not a property of {self.resources[name]['type']}")
        return {k: self.resolver.resolve(v, f"resources.{name}.properties.{k}")
                for k, v in raw.items() if k not in ("resource", "rolling_updates")}

    def scenario(self) -> Scenario:
        for name, body in self.resources.items():
            if body["type"] in UNSUPPORTED_TYPES:
                raise TemplateError(f"resources.{name}.type", f"{body['type']} is not "
                                    "replayed by a backtest")
        groups = self._of(*GROUP_TYPES)
        if len(groups) != 1:
            raise TemplateError("resources", f"a backtest replays one {GROUP_TYPES[0]}; the "
                                f"template has {len(groups)}")
        group_name = groups[0]
        group = self._group(group_name)
        policies = {n: self._policy(n, group_name) for n in self._of(HEAT_POLICY,
                                                                      METERING_POLICY)}
        alarms: dict[str, dict] = {}
        unreplayed: dict[str, list[str]] = {}
        for name in self._of(*THRESHOLD_TYPES, COMPOSITE_TYPE, CLOUDWATCH_TYPE):
            alarms[name], dropped = self._alarm(name, policies)
            if dropped:
                unreplayed[name] = dropped
        if not alarms:
            raise TemplateError("resources", "the template has no alarm a backtest replays ("
                                + ", ".join(THRESHOLD_TYPES + (COMPOSITE_TYPE, CLOUDWATCH_TYPE))
                                + ")")
        built = [Alarm.from_dict(d) for d in alarms.values()]
        rules = [rule for alarm in built for rule in alarm.threshold_rules()]
        if not rules:
            raise TemplateError("resources", "the template's alarms measure no meter")
        return Scenario(group=group, policies=policies, alarms=alarms,
                        meter=rules[0].meter_name, metadata=_metadata(rules),
                        group_name=group_name, unreplayed_actions=unreplayed)

    # -- the group and its policies ------------------------------------------------
    def _group(self, name: str) -> GroupSpec:
        props = self._props(name, _GROUP_KEYS)
        where = f"resources.{name}.properties"
        low = _whole(f"{where}.min_size", props.get("min_size"), required=True)
        high = _whole(f"{where}.max_size", props.get("max_size"), required=True)
        desired = _whole(f"{where}.desired_capacity", props.get("desired_capacity"))
        cooldown = props.get("cooldown")
        if cooldown is not None:
            cooldown = _number(f"{where}.cooldown", cooldown)
        if low < 0:
            raise TemplateError(f"{where}.min_size", f"{low} is below 0")
        if high < low:
            raise TemplateError(f"{where}.max_size", f"{high} is below min_size ({low})")
        if high > MAX_MEMBERS:
            raise TemplateError(f"{where}.max_size", f"{high} is above {MAX_MEMBERS}, the most "
                                "members a backtest simulates")
        if desired is not None and not low <= desired <= high:
            raise TemplateError(f"{where}.desired_capacity",
                                f"{desired} is outside [{low}, {high}]")
        if self.resize_seconds < 0 or not math.isfinite(self.resize_seconds):
            raise TemplateError("resize_seconds", f"{self.resize_seconds:g} must be 0 or more")
        return GroupSpec(low, high, low if not desired else desired, self.resize_seconds,
                         cooldown)

    def _policy(self, name: str, group: str) -> PolicySpec:
        kind = self.resources[name]["type"]
        metering = kind == METERING_POLICY
        props = self._props(name, _METERING_POLICY_KEYS if metering else _HEAT_POLICY_KEYS)
        where = f"resources.{name}.properties"
        target = props.get("auto_scaling_group_id")
        if target is None:
            raise TemplateError(f"{where}.auto_scaling_group_id", "is required")
        if target != group:
            raise TemplateError(f"{where}.auto_scaling_group_id",
                                f"{target!r} is not the template's group ({group})")
        adjustment_type = props.get("adjustment_type")
        if adjustment_type not in scaling.ADJUSTMENT_TYPES:
            raise TemplateError(f"{where}.adjustment_type",
                                f"{adjustment_type!r} is not one of "
                                f"{', '.join(scaling.ADJUSTMENT_TYPES)}")
        step = _whole(f"{where}.min_adjustment_step", props.get("min_adjustment_step"))
        if step is not None and adjustment_type != scaling.PERCENT_CHANGE_IN_CAPACITY:
            raise TemplateError(f"{where}.min_adjustment_step", "is used only with "
                                f"adjustment_type {scaling.PERCENT_CHANGE_IN_CAPACITY}")
        if step is not None and step < 0:
            raise TemplateError(f"{where}.min_adjustment_step", f"{step} is below 0")
        cooldown = props.get("cooldown")
        if cooldown is not None:
            cooldown = _number(f"{where}.cooldown", cooldown)
        adjustment = props.get("scaling_adjustment")
        steps = props.get("step_adjustments") or []
        target_value, tolerance = props.get("target_value"), props.get("tolerance",
                                                                      scaling.TOLERANCE)
        try:
            if metering:
                modes = [adjustment is not None, bool(steps), target_value is not None]
                if sum(modes) != 1:
                    raise TemplateError(where, "set exactly one of scaling_adjustment, "
                                        "step_adjustments and target_value")
            elif adjustment is None:
                raise TemplateError(f"{where}.scaling_adjustment", "is required")
            if adjustment is not None:
                adjustment = scaling.check_adjustment("scaling_adjustment", adjustment,
                                                      adjustment_type)
            elif steps:
                if not isinstance(steps, list) or not all(isinstance(s, Mapping)
                                                          for s in steps):
                    raise TemplateError(f"{where}.step_adjustments",
                                        "must be a list of mappings")
                scaling.check_steps("step_adjustments", steps, adjustment_type)
            else:
                scaling.check_target("target_value", target_value, "tolerance", tolerance)
        except scaling.ScalingError as exc:
            raise TemplateError(f"{where}.{exc.field}", exc.reason) from None
        return PolicySpec(
            name=name, adjustment_type=adjustment_type,
            scaling_adjustment=0 if adjustment is None else adjustment,
            cooldown=cooldown, min_adjustment_step=step,
            step_adjustments=tuple(dict(s) for s in steps),
            target_value=None if target_value is None else float(target_value),
            tolerance=float(tolerance) if metering else None, only_on_alarm=metering)

    # -- alarms -----------------------------------------------------------------
    def _alarm(self, name: str, policies: Mapping[str, PolicySpec]) -> tuple[dict, list[str]]:
        kind = self.resources[name]["type"]
        where = f"resources.{name}.properties"
        identity = {"alarm_id": name, "name": name, "project_id": STACK_ID, "user_id": None}
        dropped: list[str] = []

        def actions(key: str) -> list[str]:
            return self._actions(f"{where}.{key}", props.get(key), policies, dropped)

        if kind == CLOUDWATCH_TYPE:
            props = dict.fromkeys(definitions.CW_KEYS)  # unset: None, as Heat's are
            props.update(self._props(name, _CW_KEYS))
            for key in _CW_REQUIRED:
                if props.get(key) is None:
                    raise TemplateError(f"{where}.{key}", "is required")
            for key, allowed in ((definitions.CW_STATISTIC, definitions.CW_STATISTICS),
                                 (definitions.CW_COMPARISON_OPERATOR,
                                  definitions.CW_OPERATORS)):
                if props[key] not in allowed:
                    raise TemplateError(f"{where}.{key}", f"{props[key]!r} is not one of "
                                        f"{', '.join(allowed)}")
            dimensions = props.get(definitions.CW_DIMENSIONS) or []
            if not isinstance(dimensions, list) or not all(
                    isinstance(d, Mapping) and "Name" in d and "Value" in d for d in dimensions):
                raise TemplateError(f"{where}.{definitions.CW_DIMENSIONS}",
                                    "must be a list of {Name: ..., Value: ...}")
            definition = definitions.cloudwatch_definition(props, identity, actions)
        elif kind == COMPOSITE_TYPE:
            props = copy.deepcopy(dict(definitions.COMMON_DEFAULTS, stabilization_window=(
                definitions.ALARM_DEFAULTS[definitions.STABILIZATION_WINDOW])))
            props.update(self._props(name, _COMPOSITE_KEYS))
            if props.get(definitions.COMPOSITE_RULE) is None:
                raise TemplateError(f"{where}.composite_rule", "is required")
            definition = definitions.composite_definition(props, identity, actions)
        else:
            props = copy.deepcopy(dict(definitions.COMMON_DEFAULTS,
                                       **definitions.ALARM_DEFAULTS))
            props.update(self._props(name, _THRESHOLD_KEYS))
            for key in (definitions.METER_NAME, definitions.THRESHOLD):
                if props.get(key) is None:
                    raise TemplateError(f"{where}.{key}", "is required")
            definition = definitions.threshold_definition(props, identity, actions)
        try:
            Alarm.from_dict(definition)
        except AlarmError as exc:
            field = exc.field.removeprefix("threshold_rule.")
            raise TemplateError(f"{where}.{field}", exc.reason) from None
        return definition, dropped

    def _actions(self, where: str, values: Any, policies: Mapping[str, PolicySpec],
                 dropped: list[str]) -> list[str]:
        """A property's actions as engine actions: those naming a policy (its name, its
        alarm_url or signal_url, with or without trust+); the others are dropped."""
        if values is None:
            return []
        if not isinstance(values, list):
            raise TemplateError(where, "must be a list of actions")
        out = []
        for i, value in enumerate(values):
            if value is None or value in UNRESOLVED:
                continue
            text = str(value)
            if "://" not in text:
                if text not in policies:
                    raise TemplateError(f"{where}[{i}]", f"{text!r} is no scaling policy "
                                        "of the template")
                out.append(policy_action(text))
                continue
            action = text.removeprefix("trust+")
            if policy_of(action) in policies:
                out.append(action)
            else:
                dropped.append(text)
        return out


def _metadata(rules) -> dict:
    """What a sample must carry to be selected: the rules' matching_metadata and the
    equality conditions of their queries on metadata (as the demo's members carry)."""
    metadata: dict[str, Any] = {}
    for rule in rules:
        wanted = [(matching_metadata_field(key), value)
                  for key, value in rule.matching_metadata] + [
            (item["field"], item["value"]) for item in rule.query_items()
            if item.get("op", "eq") == "eq" and str(item.get("field", "")).startswith(
                "metadata.")]
        for key, value in wanted:
            metadata[key.removeprefix("metadata.")] = value
    return metadata


def _whole(where: str, value: Any, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise TemplateError(where, "is required")
        return None
    number = _number(where, value)
    if not number.is_integer():
        raise TemplateError(where, f"{value!r} is not a whole number")
    return int(number)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise TemplateError(where, f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TemplateError(where, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise TemplateError(where, f"{value!r} is not a finite number")
    return number
