"""Aodh + Heat with their defaults, as a transformation of a scenario and replay options.

The model replays the same template on the same real evaluator as "ours", with
what Aodh does differently:

* **Alarm rules** (:func:`aodh_definition`): Aodh alarms when *all* N
  evaluation periods breach, so ``datapoints_to_alarm`` (our M of N) is
  removed; Aodh has no ``stabilization_window`` (set to 0); Aodh reads only
  the periods that have data and goes to "insufficient data" with fewer than
  N, which is our ``missing_data: missing``. Everything Aodh has
  (thresholds, statistics, ``exclude_outliers``, ``repeat_actions``, time
  constraints, composite rules, Aodh's own Gnocchi rule types) is kept.
* **Evaluation times** (:data:`AODH_REPLAY`): aodh-evaluator runs every
  ``[evaluator] evaluation_interval`` = 60 s (Aodh's default), not at each
  period's close.
* **Processing delay**: Gnocchi's metricd aggregates new measures every
  ``[metricd] metric_processing_delay`` = 60 s (Gnocchi's default), so a
  sample Ceilometer just sent is readable by Aodh up to 60 s later. The replay
  evaluates on the data as it arrives, so the model delays each round's
  signal by that full 60 s instead: Aodh deciding at ``t + 60`` on what had
  been processed by ``t``, the worst case of one metricd cycle (the mean
  would be 30 s). aodh-notifier's POST to Heat's signal URL is sub-second
  and left out.
* **Policies** keep Heat's semantics (cooldown, adjustment types, the group's
  bounds): the scenario's policies are not touched.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from heat_alarming.engine.alarm import COMPOSITE, PROMETHEUS
from heat_alarming.engine.gnocchi_rules import GNOCCHI_TYPES

#: aodh-evaluator's period (Aodh's [evaluator] evaluation_interval default)
EVALUATION_INTERVAL = 60.0
#: Gnocchi's [metricd] metric_processing_delay default: a sample counts one cycle later
PROCESSING_DELAY = 60.0
#: how :func:`simulate` replays: replay.replay(aodh_scenario(s), trace, **AODH_REPLAY)
AODH_REPLAY = dict(evaluate_every=EVALUATION_INTERVAL, action_delay=PROCESSING_DELAY)

#: what Aodh does with a period that has no data: leave it out (fewer than N: unknown)
AODH_MISSING_DATA = "missing"


def aodh_rule(rule: Mapping[str, Any]) -> dict:
    """A threshold rule as Aodh evaluates it: all N periods, missing periods left out."""
    out = copy.deepcopy(dict(rule))
    if out.get("type") in GNOCCHI_TYPES:  # Aodh's own fields already
        return out
    out.pop("datapoints_to_alarm", None)
    out["missing_data"] = AODH_MISSING_DATA
    return out


def _aodh_tree(node: Any) -> Any:
    """A composite rule's and/or tree with every threshold leaf as Aodh's."""
    if isinstance(node, Mapping) and len(node) == 1 and next(iter(node)) in ("and", "or"):
        op = next(iter(node))
        return {op: [_aodh_tree(child) for child in node[op]]}
    if isinstance(node, Mapping) and set(node) == {"alarm_id"}:
        return dict(node)
    if isinstance(node, Mapping):
        return aodh_rule(node)
    return copy.deepcopy(node)  # not a rule: Alarm.from_dict will say why


def aodh_definition(definition: Mapping[str, Any]) -> dict:
    """An engine alarm definition (``Alarm.from_dict``'s fields) with Aodh's semantics."""
    out = copy.deepcopy(dict(definition))
    out["stabilization_window"] = 0
    kind = out.get("type")
    if "prometheus_rule" in out or kind == PROMETHEUS:
        return out
    if "composite_rule" in out or kind == COMPOSITE:
        key = "composite_rule" if "composite_rule" in out else "rule"
        if key in out:
            out[key] = _aodh_tree(out[key])
        return out
    if kind in GNOCCHI_TYPES:
        return out
    key = "threshold_rule" if "threshold_rule" in out else "rule"
    if isinstance(out.get(key), Mapping):
        out[key] = aodh_rule(out[key])
    return out


def aodh_scenario(scenario):
    """The scenario with every alarm as Aodh evaluates it; group and policies as they are."""
    return dataclasses.replace(
        scenario, alarms={name: aodh_definition(d) for name, d in scenario.alarms.items()})


def simulate(scenario, trace):
    """Replay ``scenario`` on ``trace`` as Aodh + Heat with their defaults would run it."""
    from heat_alarming.backtest import replay  # bt-core's; imported when used

    return replay.replay(aodh_scenario(scenario), trace, **AODH_REPLAY)
