"""Gnocchi's vocabulary over our samples: resource search, aggregation methods, types.

Aodh's Gnocchi alarms (and Heat's ``OS::Aodh::Gnocchi*Alarm``) select
resources with a Gnocchi *search*, JSON text such as::

    {"and": [{"=": {"server_group": "web"}}, {"=": {"ended_at": null}}]}

:func:`translate_search` turns one into query terms (:mod:`.query`) over the
attributes samples carry, with the semantics of Gnocchi's SQL indexer:

* operators ``=``/``==``/``eq``, ``!=``/``≠``/``ne``, ``<``/``lt``,
  ``<=``/``≤``/``le``, ``>``/``gt``, ``>=``/``≥``/``ge``, ``in`` (a list),
  ``like`` (SQL LIKE: ``%``, ``_``, backslash escapes; case-sensitive), and
  ``and``/``∧``, ``or``/``∨``, ``not``;
* ``{"=": {"x": null}}`` is true where a series lacks ``x`` (or carries it as
  null), ``!=`` null where it has it; ``!=`` a value also matches a series
  without the attribute (Gnocchi's ``x IS NULL OR x != v``); any other
  comparison with an attribute a series lacks is unknown, and ``not`` keeps
  it unknown (SQL's three-valued logic);
* a JSON number compares numerically, a JSON string as text, true/false as 1/0.

Where an attribute is looked up: a sample from the Gnocchi collector carries
the Gnocchi resource's attributes as flat metadata keys (``server_group``);
a sample straight from Ceilometer carries Ceilometer's resource metadata, from
which Ceilometer's ``gnocchi_resources.yaml`` derives those attributes
(``server_group`` from ``user_metadata.server_group``, which our metadata folds
``metering.server_group`` onto). So an attribute is the metadata key of its
Gnocchi name when a series has it, and otherwise the first of its Ceilometer
paths the series has (:data:`CEILOMETER_PATHS`; for an attribute the table does
not list, the user tag of the same name); where Ceilometer itself reads the
Gnocchi name only after other keys (an instance's ``host`` after
``instance_host``), Ceilometer's order rules. ``id`` is the resource id (or the
``original_resource_id`` a collector sample carries), ``project_id`` and
``user_id`` the sample's own; ``original_resource_id`` falls back to the
resource id.

What has no meaning for samples is refused with the reason, naming
``query``: time comparisons of ``started_at``/``ended_at``/``revision_*`` (only
null tests: samples carry no resource history), ``lifespan``, the creator
fields (an alarm sees its own project's samples only, whatever the query
says), values that are lists or maps, ``like`` on a number.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from heat_alarming.metering.metadata import canonical_metadata_key
from heat_alarming.metering.query import AllOf, AnyOf, Condition, Not, Present

#: bounds on one search: its JSON text, its and/or/not nesting, its comparisons
#: (each value of an ``in`` counts); each comparison is a whole-array pass over the
#: meter's series whenever the store's index changes
MAX_SEARCH_CHARS = 8192
MAX_DEPTH = 10
MAX_COMPARISONS = 64

BINARY = {"=": "eq", "==": "eq", "eq": "eq", "!=": "ne", "≠": "ne", "ne": "ne",
          "<": "lt", "lt": "lt", "<=": "le", "≤": "le", "le": "le",
          ">": "gt", "gt": "gt", ">=": "ge", "≥": "ge", "ge": "ge"}
# as Gnocchi's indexer reads them (its API schema lists the symbols the other way round)
MULTIPLE = {"and": "and", "∧": "and", "or": "or", "∨": "or"}

#: Gnocchi attributes that are times of the resource's life; samples carry no history
TIME_ATTRIBUTES = ("started_at", "ended_at", "revision_start", "revision_end")
#: Gnocchi fields no sample carries
UNKNOWN_FIELDS = {
    "lifespan": "the resource's life span is not known to samples",
    "creator": "the creator of a resource is not known to samples; an alarm sees "
               "only its own project's samples",
    "created_by_user_id": "the creator of a resource is not known to samples",
    "created_by_project_id": "the creator of a resource is not known to samples; an "
                             "alarm sees only its own project's samples",
    "revision": "resource revisions are not known to samples",
}
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_]{0,62}$")
_TYPE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")

#: where Ceilometer's samples carry what Gnocchi's resource types hold (after
#: Ceilometer's gnocchi_resources.yaml, in its order of preference); keys are
#: flattened resource_metadata keys
CEILOMETER_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "instance": {
        "host": ("instance_host", "host"),
        "flavor_id": ("instance_flavor_id", "flavor.id", "flavor_id"),
        "flavor_name": ("instance_type", "flavor.name", "flavor_name"),
        "server_group": ("user_metadata.server_group",),
        "display_name": ("display_name",),
        "image_ref": ("image_ref",),
    },
    "instance_network_interface": {"name": ("vnic_name",),
                                   "instance_id": ("instance_id",)},
    "instance_disk": {"name": ("disk_name",), "instance_id": ("instance_id",)},
    "image": {"name": ("name",)},
}

#: Gnocchi aggregation methods and the statistic of ours that computes them
AGGREGATION_METHODS = {"mean": "avg", "sum": "sum", "min": "min", "max": "max",
                       "count": "count", "last": "last", "std": "std", "median": "p50"}
_PCT = re.compile(r"^([1-9][0-9]?)pct$")


class TranslationError(ValueError):
    """Something of Gnocchi's cannot be translated; ``field`` names the property."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def statistic_for(aggregation_method: Any) -> str:
    """Our statistic for a Gnocchi aggregation method (refused, naming it, if none)."""
    if not isinstance(aggregation_method, str) or not aggregation_method:
        raise TranslationError("aggregation_method", "an aggregation method is required")
    method = aggregation_method.strip()
    if method in AGGREGATION_METHODS:
        return AGGREGATION_METHODS[method]
    match = _PCT.match(method)
    if match:
        return f"p{match.group(1)}"
    if method.startswith("rate:"):
        raise TranslationError(
            "aggregation_method",
            f"{method!r} is not supported: rates are not computed by the alarm; make "
            "the rate in the pipeline (the rate_of_change or cpu_util transformer) "
            "and alarm on its meter with mean")
    if method in ("first", "var"):
        raise TranslationError("aggregation_method",
                               f"{method!r} is not supported (the store keeps no {method})")
    raise TranslationError(
        "aggregation_method",
        f"{method!r} is not one of {', '.join(AGGREGATION_METHODS)} or Npct (1pct-99pct)")


def check_resource_type(resource_type: Any) -> str:
    """A Gnocchi resource type name (refused, naming ``resource_type``, if not one)."""
    if not isinstance(resource_type, str) or not _TYPE_NAME.match(resource_type):
        raise TranslationError("resource_type",
                               f"{resource_type!r} is not a Gnocchi resource type name")
    return resource_type


def resource_type_term(resource_type: str) -> Any | None:
    """The term that keeps series of another Gnocchi resource type out.

    A collector sample that carries its resource's ``type`` must be of
    ``resource_type``; a sample with no ``type`` (Ceilometer's) is not held back,
    and ``generic`` (every resource) selects every type.
    """
    if resource_type == "generic":
        return None
    field = "metadata.type"
    return AnyOf((Not(Present(field)), Condition(field, "eq", resource_type)))


def parse_search(search: Any, field: str = "query") -> Any:
    """The search as JSON data (text is parsed; NaN and infinities refused)."""
    if isinstance(search, Mapping):
        return search
    if not isinstance(search, str):
        raise TranslationError(field, "must be the JSON text of a Gnocchi search")
    if len(search) > MAX_SEARCH_CHARS:
        raise TranslationError(field, f"{len(search)} characters is more than the "
                                      f"{MAX_SEARCH_CHARS} allowed")

    def refuse_constant(name: str) -> None:
        raise TranslationError(field, f"{name} is not a value a search may compare with")

    try:
        return json.loads(search, parse_constant=refuse_constant)
    except RecursionError:
        raise TranslationError(field, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        if isinstance(exc, TranslationError):
            raise
        raise TranslationError(field, f"not JSON ({exc})") from None


def translate_search(search: Any, resource_type: str = "generic",
                     field: str = "query") -> tuple:
    """Query terms (all must hold) for a Gnocchi search, text or parsed.

    ``{}`` selects every resource, as in Gnocchi. Errors name ``field``.
    """
    data = parse_search(search, field)
    if isinstance(data, Mapping) and not data:
        return ()
    translator = _Translator(resource_type, field)
    term = translator.node(data, 0)
    return term.terms if isinstance(term, AllOf) else (term,)


class _Translator:
    def __init__(self, resource_type: str, field: str) -> None:
        self.paths = CEILOMETER_PATHS.get(resource_type, {})
        self.field = field
        self.comparisons = 0

    def refuse(self, reason: str) -> TranslationError:
        return TranslationError(self.field, reason)

    def node(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.refuse(f"nested more than {MAX_DEPTH} levels deep")
        if not isinstance(node, Mapping) or len(node) != 1:
            raise self.refuse(f"{_shown(node)} is not a search: each level is one "
                              "operator mapping, e.g. {\"=\": {\"server_group\": \"web\"}}")
        op, operand = next(iter(node.items()))
        if op in MULTIPLE:
            if isinstance(operand, (str, Mapping)) or not isinstance(operand, list) \
                    or not operand:
                raise self.refuse(f"{op!r} takes a non-empty list of searches")
            terms = tuple(self.node(child, depth + 1) for child in operand)
            return AllOf(terms) if MULTIPLE[op] == "and" else AnyOf(terms)
        if op == "not":
            return Not(self.node(operand, depth + 1))
        if op in BINARY or op in ("in", "like"):
            if not isinstance(operand, Mapping) or len(operand) != 1:
                raise self.refuse(f"{op!r} takes one {{attribute: value}} mapping, not "
                                  f"{_shown(operand)}")
            name, value = next(iter(operand.items()))
            return self.comparison(op, name, value)
        raise self.refuse(f"{_shown(op)} is not an operator of Gnocchi's search "
                          "(=, !=, <, <=, >, >=, in, like, and, or, not)")

    def comparison(self, op: str, name: Any, value: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise self.refuse(f"{_shown(name)} is not an attribute name")
        if name in UNKNOWN_FIELDS:
            raise self.refuse(f"{name!r} cannot be searched: {UNKNOWN_FIELDS[name]}")
        values = self.values(op, name, value)
        self.comparisons += len(values)
        if self.comparisons > MAX_COMPARISONS:
            raise self.refuse(f"more than {MAX_COMPARISONS} comparisons")
        fields = self.fields(name)
        if name == "id" and (op == "in" or BINARY.get(op) in ("eq", "ne")):
            matches = AnyOf(tuple(_id_equals(v) for v in values))
            return Not(matches) if BINARY.get(op) == "ne" else matches
        if op == "in":
            return _first_present(fields, lambda f: AnyOf(tuple(
                _condition(f, "eq", v) for v in values)))
        if op == "like":
            return _first_present(fields, lambda f: _condition(f, "like", values[0]))
        kind, value = BINARY[op], values[0]
        if value is None:
            if kind not in ("eq", "ne"):
                raise self.refuse(f"{op!r} with null matches nothing; compare with null by "
                                  "= or != only")
            absent = AllOf(tuple(Not(Present(f)) for f in fields))
            return absent if kind == "eq" else Not(absent)
        if name in TIME_ATTRIBUTES:
            raise self.refuse(
                f"{name!r} can only be compared with null (= null: the resource has not "
                "ended, or was not revised); samples carry no resource history")
        compared = _first_present(fields, lambda f: _condition(f, kind, value))
        if kind == "ne":  # Gnocchi: x IS NULL OR x != value
            return AnyOf((AllOf(tuple(Not(Present(f)) for f in fields)), compared))
        return compared

    def values(self, op: str, name: str, value: Any) -> list:
        if op == "in":
            if not isinstance(value, list) or not value:
                raise self.refuse(f"'in' takes a non-empty list of values for {name!r}")
            if any(v is None for v in value):
                raise self.refuse(f"'in' with null never matches a missing {name!r}; use "
                                  "{\"=\": {...: null}} in an 'or'")
        elif op == "like":
            if name == "id":
                raise self.refuse("'like' cannot search 'id'")
            if not isinstance(value, str):
                raise self.refuse(f"'like' takes a text pattern for {name!r}, not "
                                  f"{_shown(value)}")
            value = [value]
        else:
            value = [value]
        for v in value:
            if isinstance(v, (list, dict)):
                raise self.refuse(f"{name!r} is compared with {_shown(v)}: a value must "
                                  "be text, a number, true, false or null")
            if isinstance(v, float) and not math.isfinite(v):
                raise self.refuse(f"{name!r} is compared with {v!r}")
        if name in TIME_ATTRIBUTES and op in ("in", "like"):
            raise self.refuse(f"{name!r} can only be compared with null; samples carry no "
                              "resource history")
        return value

    def fields(self, name: str) -> tuple[str, ...]:
        """Where an attribute is, in the order it is looked for."""
        if name == "id":
            return ("resource_id",)
        if name in ("project_id", "user_id"):
            return (name,)
        if not _NAME.match(name):
            raise self.refuse(f"{name!r} is not a Gnocchi attribute name")
        if name == "original_resource_id":
            return ("metadata.original_resource_id", "resource_id")
        if name in TIME_ATTRIBUTES or name == "type":
            return (f"metadata.{name}",)
        paths = self.paths.get(name, ("user_metadata." + name,))
        # the Gnocchi name first, unless Ceilometer reads that very key only after
        # others (instance host: instance_host, then host), whose order then rules: a
        # collector sample carries none of those others
        ordered = paths if name in paths else (name, *paths)
        return tuple(dict.fromkeys("metadata." + canonical_metadata_key(p) for p in ordered))


def _condition(field: str, op: str, value: Any) -> Condition:
    if op == "like" or isinstance(value, str):
        return Condition(field, op, value, False)
    if isinstance(value, bool):
        return Condition(field, op, 1.0 if value else 0.0, True)
    return Condition(field, op, float(value), True)


def _first_present(fields: tuple[str, ...], make) -> Any:
    """``make(field)`` of the first of ``fields`` a series carries (unknown if none).

    Each field's branch holds only where the fields before it are absent; the
    last needs no presence test, so that a series with none of them leaves the
    comparison unknown, as SQL leaves a comparison with NULL.
    """
    if len(fields) == 1:
        return make(fields[0])
    branches = []
    for i, field in enumerate(fields):
        before = tuple(Not(Present(f)) for f in fields[:i])
        own = (Present(field),) if i < len(fields) - 1 else ()
        branches.append(AllOf(before + own + (make(field),)))
    return AnyOf(tuple(branches))


def _id_equals(value: Any) -> Any:
    """The resource's id is ``value``: the series' resource id, or the original id a
    collector sample carries (never unknown, so that ``!=`` is its plain negation)."""
    if value is None:
        raise TranslationError("query", "'id' is never null")
    text = str(value)
    original = "metadata.original_resource_id"
    return AnyOf((Condition("resource_id", "eq", text),
                  AllOf((Present(original), Condition(original, "eq", text)))))


def resource_id_term(resource_id: str) -> Any:
    """Series of one Gnocchi resource: its id, or the original id a collector sample
    carries (Gnocchi makes an id of its own for a non-UUID original)."""
    return _id_equals(resource_id)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
