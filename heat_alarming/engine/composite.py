"""Composite rules: and/or over threshold rules and other alarms, as Aodh decides them.

Each leaf has a state for this round: a threshold leaf's verdict (a mixed
verdict counts as the state it is leaving: trending to alarm means still
ok, trending to ok means still alarm; while the composite itself is in
insufficient data the trend is taken), an alarm leaf the referenced
alarm's current state.  The alarm expression (the tree with "leaf is
alarm") decides alarm; failing that, its dual (and <-> or, "leaf is ok")
decides ok; otherwise the composite has insufficient data.
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


def decide(rule: CompositeRule, leaf_states: list[str]) -> str:
    """The composite's new state from its leaves' states (in leaf order)."""
    states = iter(leaf_states)
    leaves: list[str] = []

    def collect(node: tuple) -> tuple:
        if node[0] in ("and", "or"):
            return (node[0], [collect(c) for c in node[1]])
        leaves.append(next(states))
        return ("leaf", len(leaves) - 1)

    tree = collect(rule.tree)

    def holds(node: tuple, wanted: str, dual: bool) -> bool:
        if node[0] == "leaf":
            return leaves[node[1]] == wanted
        op = node[0]
        if dual:
            op = "or" if op == "and" else "and"
        results = (holds(c, wanted, dual) for c in node[1])
        return all(results) if op == "and" else any(results)

    if holds(tree, ALARM, False):
        return ALARM
    if holds(tree, OK, True):
        return OK
    return UNKNOWN


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
