"""How ``openstack metering alarm explain`` shows an alarm's ``explanation`` attribute.

The attribute is ``Evaluator.explain``'s mapping (docs/explain.md), as heat-api hands
it over: a ``summary`` sentence, then facts. :func:`explanation_fields` makes it a
cliff ShowOne answer: one field per fact, in the mapping's order, the summary first.
Mappings and lists are :class:`cliff.columns.FormattableColumn` s: readable lines in a
table (a period a line), the data itself for ``-f json`` and ``-f yaml``; times,
epoch seconds in the attribute, are ISO 8601 in UTC either way.
"""
from __future__ import annotations

from collections.abc import Mapping

from cliff import columns

from heat_alarming import explain_text


class FactColumn(columns.FormattableColumn):
    """A mapping or a list of an explanation: ``key: value`` lines or one line a row."""

    def human_readable(self) -> str:
        return "\n".join(_lines(self._value))

    def machine_readable(self):
        return explain_text.readable(self._value)


class PeriodsColumn(FactColumn):
    """The periods judged: one line each, start .. end, value, samples and marks."""

    def human_readable(self) -> str:
        return "\n".join(explain_text.period_line(p) if isinstance(p, Mapping) else str(p)
                         for p in self._value or [])


class SummaryColumn(columns.FormattableColumn):
    """The whole explanation in one field (``metering alarm show``): its summary in a
    table, the mapping in JSON and YAML."""

    def human_readable(self) -> str:
        value = self._value
        if isinstance(value, Mapping):
            return str(value.get("summary") or value.get("error") or "")
        return "" if value is None else str(value)

    def machine_readable(self):
        return explain_text.readable(self._value)


def _lines(value, indent: str = "") -> list[str]:
    if isinstance(value, Mapping):
        lines = []
        for key, item in value.items():
            item = explain_text.readable(item, str(key))
            if isinstance(item, (Mapping, list, tuple)) and item:
                lines.append(f"{indent}{key}:")
                lines += _lines(item, indent + "  ")
            else:
                lines.append(f"{indent}{key}: {explain_text.cell(item)}")
        return lines
    if isinstance(value, (list, tuple)):
        return [f"{indent}" + (", ".join(f"{k}={explain_text.cell(v)}" for k, v in
                                         explain_text.readable(row).items())
                               if isinstance(row, Mapping) else explain_text.cell(row))
                for row in value]
    return [f"{indent}{explain_text.cell(value)}"]


def explanation_fields(explanation: Mapping) -> tuple[tuple[str, ...], tuple]:
    """The ShowOne answer of an explanation: (field names, values), summary first."""
    names = ["summary"] + [k for k in explanation if k != "summary"]
    values = []
    for name in names:
        value = explanation.get(name)
        if name == "periods" and isinstance(value, list):
            values.append(PeriodsColumn(value))
        elif isinstance(value, (Mapping, list, tuple)):
            values.append(FactColumn(value))
        else:
            values.append(explain_text.readable(value, name))
    return tuple(names), tuple(values)
