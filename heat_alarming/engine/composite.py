"""Composite rules' words: Aodh's composition form and reason text.

How a composite decides (its leaves' states, the and/or tree and its dual)
is in :mod:`heat_alarming.engine.rules` (:func:`~heat_alarming.engine.rules.leaf_state`,
:func:`~heat_alarming.engine.rules.composite_state`), with every other rule.
"""
from __future__ import annotations

import itertools

from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN, CompositeRule

_DESCRIPTION = {ALARM: "outside their threshold.", OK: "inside their threshold.",
                UNKNOWN: "state evaluated to unknown."}


def expression(rule: CompositeRule) -> str:
    """Aodh's composition form, e.g. ``(rule1 and (rule2 or rule3))``."""
    counter = itertools.count(1)

    def show(node: tuple) -> str:
        if node[0] in ("and", "or"):
            return "(" + f" {node[0]} ".join(show(c) for c in node[1]) + ")"
        return f"rule{next(counter)}"
    return show(rule.tree)


def reason(rule: CompositeRule, state: str, transition: bool,
           leaf_states: list[str]) -> tuple[str, dict]:
    """Aodh's composite reason text and reason_data."""
    form = expression(rule)
    causes = {}
    for i, (leaf, leaf_state) in enumerate(zip(rule.leaves(), leaf_states), start=1):
        if leaf_state == state:
            causes[f"rule{i}"] = (leaf[1].to_dict() if leaf[0] == "rule"
                                  else {"alarm_id": leaf[1]})
    verb = "transition to" if transition else "remaining as"
    text = (f"Composite rule alarm with composition form: {form} {verb} {state}, due to "
            f"rules: {', '.join(sorted(causes))} {_DESCRIPTION[state]}")
    return text, {"type": "composite", "composition_form": form, "causative_rules": causes}
