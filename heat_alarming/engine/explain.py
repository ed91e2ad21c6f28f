"""An alarm's explanation: the facts of its latest round, as data, with a sentence first.

:meth:`heat_alarming.engine.evaluator.Evaluator.explain` gathers the facts
(the window of statistics the round decided on, the series the query
matched, the store's recent refusals, the alarm's history) and the
functions here shape them. Every decision in an explanation is taken again
by :mod:`heat_alarming.engine.rules` from the round's own arrays, so an
explanation cannot tell another story than the round did.

The explanation (a JSON-able dict) holds, in this order: ``summary`` (one
sentence, what a person reads first), ``alarm_id``, ``name``, ``type``,
``state``, ``evaluated_at`` (the round's time; None before the first round,
when the alarm is evaluated for the explanation without any change),
``rule`` (operator, threshold, M of N, missing data, outliers,
stabilisation, repeats, time constraints open or shut), ``query``,
``series`` (how many matched, their ids, and when none the nearest series of
the meter in the project with what differs), ``periods`` (value, samples,
empty, late: samples arrived after the round decided, outlier, judged,
breach), ``rejected`` (the project's refused samples of the meter),
``verdict``, ``pending`` and ``last_action``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from heat_alarming.engine import rules
from heat_alarming.engine.alarm import Alarm
from heat_alarming.metering.query import Condition

#: history entries read for the last action
HISTORY_READ = 30
_SYMBOL = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_WORDS = {"ok": "ok", "alarm": "alarm", "insufficient data": "insufficient data"}


def _readable(value: Any) -> Any:
    """A statistic as a sentence gives it: at most 4 decimals (the data keeps all)."""
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 4)
    return value


def condition_text(term: Any) -> str:
    """``metadata.user_metadata.server_group = web``"""
    if isinstance(term, Condition):
        value = term.value if not isinstance(term.value, float) else f"{term.value:g}"
        return f"{term.field} {_SYMBOL.get(term.op, term.op)} {value}"
    return repr(term)


def rule_facts(alarm: Alarm, rule, constraints_open: bool | None) -> dict[str, Any]:
    """The rule applied, with the alarm's own settings that shape the decision."""
    facts = dict(rule.to_dict()) if rule is not None else {}
    facts.update(repeat_actions=alarm.repeat_actions,
                 stabilization_window=alarm.stabilization_window,
                 enabled=alarm.enabled,
                 time_constraints=[dict(c.to_dict() if hasattr(c, "to_dict") else c,
                                        open=constraints_open)
                                   for c in alarm.time_constraints])
    return facts


def period_facts(first: int, period: int, facts: rules.PeriodFacts,
                 counts: np.ndarray, counts_now: np.ndarray | None) -> list[dict[str, Any]]:
    """Per period of the window (oldest first): one column of the round's arrays."""
    out = []
    for p in range(counts.shape[0]):
        start = float((first + p) * period)
        value = float(facts.value[p, 0])
        samples = int(counts[p, 0])
        now = None if counts_now is None else int(counts_now[p, 0])
        out.append({"start": start, "end": start + period,
                    "value": None if math.isnan(value) else value,
                    "samples": samples, "empty": samples == 0,
                    "late": bool(now is not None and now > samples),
                    "samples_now": now,
                    "outlier": bool(facts.outlier[p, 0]),
                    "judged": bool(facts.judged[p, 0]),
                    "breach": bool(facts.judged[p, 0] and facts.breach[p, 0])})
    return out


def verdict_facts(verdicts: rules.Verdicts | rules.PickedVerdicts,
                  column: int) -> dict[str, Any]:
    recent = float(verdicts.most_recent[column])
    return {"verdict": rules.VERDICT_NAMES[int(verdicts.verdict[column])],
            "trend": rules.STATE[int(verdicts.trend[column])],
            "datapoints": int(verdicts.points[column]),
            "breaching": int(verdicts.outside[column]),
            "most_recent": None if math.isnan(recent) else recent}


def last_action(history: Sequence) -> dict[str, Any] | None:
    """What happened to the newest action the history shows: signalled, ignored (with
    Heat's reason), failed, or pending (sent and not answered yet)."""
    for entry in history:  # newest first
        data = entry.reason_data or {}
        if entry.type == "action":
            outcome = data.get("outcome", "delivered")
            return {"outcome": outcome, "why": data.get("why"), "reason": entry.reason,
                    "action": data.get("action"), "time": entry.timestamp}
        if entry.type == "action failed":
            return {"outcome": "failed", "why": None, "reason": entry.reason,
                    "action": data.get("action"), "time": entry.timestamp}
        if entry.type == "action sending":
            return {"outcome": "pending", "why": None, "reason": entry.reason,
                    "action": data.get("action"), "time": entry.timestamp}
    return None


def nearest_text(meter: str, series: Mapping[str, Any]) -> str:
    """``3 series of cpu_util in this project carry metadata.x=web-1, the alarm asks
    for web``, or that the project has none of the meter."""
    if not series.get("of_meter"):
        return f"the project has no series of {meter}"
    nearest = series.get("nearest") or []
    if not nearest:
        return f"{series['of_meter']} series of {meter} in this project match none of it"
    best = nearest[0]
    differs = best["differs"][0] if best["differs"] else {}
    count = best["series"]
    field, wants = differs.get("field", "?"), differs.get("wants")
    similar = differs.get("similar_keys") or {}
    if differs.get("has") is not None:
        has = f"{field}={differs['has']}"
        asks = f"{wants}"
    elif similar:
        key, value = next(iter(similar.items()))
        has = f"metadata.{key}={value}"
        asks = f"{field}={wants}"
    else:
        return (f"{count} series of {meter} in this project carry no {field}, which the "
                f"alarm asks to be {wants}")
    return f"{count} series of {meter} in this project carry {has}, the alarm asks for {asks}"


def threshold_summary(alarm: Alarm, rule, verdict: Mapping[str, Any],
                      series: Mapping[str, Any], periods: Sequence[Mapping],
                      rejected: Sequence[Mapping], proposed: str | None) -> str:
    """The sentence for a threshold alarm: what it explains (``proposed``, the state
    a round is taking; None: the alarm's state) and why, from the round's facts."""
    head = proposed or alarm.state
    if series["count"] == 0:
        text = (f"{_WORDS.get(head, head)}: the query matched 0 series; "
                f"{nearest_text(rule.meter_name, series)}")
    elif verdict["verdict"] == "insufficient data":
        empty = sum(1 for p in periods if p["empty"])
        late = sum(1 for p in periods if p["late"])
        outliers = sum(1 for p in periods if p["outlier"])
        parts = [f"{verdict['datapoints']} of the {rule.evaluation_periods} periods "
                 f"needed had data ({series['count']} series matched)"]
        if empty:
            parts.append(f"{empty} of the {len(periods)} periods read were empty")
        if late:
            parts.append(f"{late} got samples after the round had decided (late)")
        if outliers:
            parts.append(f"{outliers} excluded as outliers")
        text = f"{_WORDS.get(head, head)}: " + "; ".join(parts)
    else:
        symbol = _SYMBOL.get(rule.comparison_operator, rule.comparison_operator)
        text = (f"{_WORDS.get(head, head)}: {verdict['breaching']} of "
                f"{verdict['datapoints']} periods had {rule.statistic} {rule.meter_name} "
                f"{symbol} {rule.threshold:g} (most recent {_readable(verdict['most_recent'])})")
    if rejected:
        rows = sum(r["rows"] for r in rejected)
        text += (f"; {rows} sample{'' if rows == 1 else 's'} of {rule.meter_name} "
                 f"{'was' if rows == 1 else 'were'} refused recently "
                 f"({rejected[0]['reason']})")
    return text


def composite_summary(state: str, form: str, leaf_states: Sequence[str]) -> str:
    """``ok: (rule1 and rule2) with rule1 alarm, rule2 ok``"""
    return f"{state}: {form} with " + ", ".join(
        f"rule{i} {leaf}" for i, leaf in enumerate(leaf_states, start=1))


def pending_facts(alarm: Alarm) -> dict[str, Any] | None:
    if alarm.pending_state is None:
        return None
    return {"state": alarm.pending_state, "since": alarm.pending_since,
            "until": alarm.pending_since + alarm.stabilization_window}


def pending_text(alarm: Alarm) -> str:
    if alarm.pending_state is None:
        return ""
    taken = alarm.pending_since + alarm.stabilization_window
    return (f"; {alarm.pending_state} pending in the stabilization window since "
            f"{alarm.pending_since:.0f}, taken at {taken:.0f} if still proposed")


def action_text(action: Mapping[str, Any] | None) -> str:
    if action is None:
        return ""
    if action["outcome"] == "ignored":
        return f"; the last action was ignored by Heat ({action.get('why') or 'unknown'})"
    return f"; the last action: {action['outcome']}"


def finish(summary: str, alarm: Alarm, evaluated_at: float | None,
           facts: Mapping[str, Any]) -> dict[str, Any]:
    """The explanation dict, its keys in the documented order."""
    out: dict[str, Any] = {"summary": summary, "alarm_id": alarm.alarm_id,
                           "name": alarm.name, "type": alarm.type, "state": alarm.state,
                           "state_reason": alarm.state_reason,
                           "evaluated_at": evaluated_at}
    out.update(facts)
    return out


def not_evaluated(alarm: Alarm, why: str) -> str:
    return f"{alarm.state} (not evaluated: {why})"

