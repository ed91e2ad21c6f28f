"""Three autoscalers on one demand trace: ours, Kubernetes' HPA, Aodh + Heat's defaults.

* ``ours``: :func:`heat_alarming.backtest.replay.replay` of the scenario as
  the live evaluator runs it.
* ``hpa``: :func:`heat_alarming.backtest.hpa.simulate` with the scenario's
  group (bounds, initial size, ``resize_seconds`` as the pod start delay) and
  a target utilisation: ``hpa_target``, else the ``target_value`` of the
  scenario's target-tracking policy, else the threshold of its scale-up alarm
  (the one threshold above which the scenario adds members: where ours starts
  scaling up is the nearest HPA target). The HPA sizes pods on the demand
  itself, so a samples trace is refused.
* ``aodh``: :func:`heat_alarming.backtest.aodh.simulate`.

Each row is :func:`~heat_alarming.backtest.report.summarize` plus ``name``.
"""
from __future__ import annotations

import math

from heat_alarming.backtest import aodh, hpa
from heat_alarming.backtest.report import Slo, parse_slo, summarize

#: the table's columns: (row key, heading, format)
COLUMNS = (("name", "model", "{}"),
           ("slo_violation_minutes", "SLO violation min", "{:g}"),
           ("instance_hours", "instance-hours", "{:.2f}"),
           ("scale_actions", "scale actions", "{:d}"),
           ("flaps", "flaps", "{:d}"))


class CompareError(ValueError):
    """A comparison that cannot be made; the message says which input and why."""


def compare(scenario, trace, slo: Slo | str, hpa_target: float | None = None) -> list[dict]:
    """Rows ``ours``, ``hpa``, ``aodh``: each the summary of its timeline and ``name``."""
    if isinstance(slo, str):
        slo = parse_slo(slo)
    return [{"name": name, **summarize(line, slo)}
            for name, line in timelines(scenario, trace, slo, hpa_target).items()]


def timelines(scenario, trace, slo: Slo, hpa_target: float | None = None,
              ours=None) -> dict:
    """The timelines of ``ours`` (``ours``: a replay's result already made, else one
    made here), ``hpa`` and ``aodh`` on ``trace``, in that order."""
    if trace.kind != "demand":
        raise CompareError(
            f"trace: holds {trace.kind}, and the HPA model sizes pods on the demand "
            "itself; compare needs a demand trace (timestamp,demand in percent of one "
            "server)")
    meter = getattr(scenario, "meter", None)
    if meter and slo.meter != meter:
        raise CompareError(f"slo: {slo} is about {slo.meter}, and the scenario's alarms "
                           f"read {meter}")
    target = hpa_target if hpa_target is not None else hpa_target_of(scenario)
    from heat_alarming.backtest import replay  # bt-core's; imported when used

    return {
        "ours": (ours if ours is not None else replay.replay(scenario, trace)).timeline(),
        "hpa": hpa.simulate(trace.times, trace.demand, scenario.group, target,
                            step=trace.step),
        "aodh": aodh.simulate(scenario, trace).timeline(),
    }


def hpa_target_of(scenario) -> float:
    """The utilisation an HPA should hold for ``scenario`` (see the module's docstring)."""
    targets = {float(p.target_value) for p in scenario.policies.values()
               if getattr(p, "target_value", None) is not None}
    if not targets:
        meter = getattr(scenario, "meter", None)
        for definition in scenario.alarms.values():
            rule = definition.get("threshold_rule", definition.get("rule"))
            if not isinstance(rule, dict) or "threshold" not in rule:
                continue
            if rule.get("comparison_operator") in ("gt", "ge") and \
                    (not meter or rule.get("meter_name", rule.get("meter")) == meter):
                targets.add(float(rule["threshold"]))
    if len(targets) != 1 or not math.isfinite(next(iter(targets))):
        found = ", ".join(f"{t:g}" for t in sorted(targets)) or "none"
        raise CompareError(f"hpa_target: the scenario gives no single target utilisation "
                           f"(found: {found}); pass one")
    return next(iter(targets))


def format_table(rows: list[dict]) -> str:
    """The rows as a plain-text table, one model a line (the command prints it)."""
    cells = [[heading for _, heading, _ in COLUMNS]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else fmt.format(row[key])
                      for key, _, fmt in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = []
    for line in cells:
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        lines.append("  ".join([first, *rest]).rstrip())
    slos = {row.get("slo") for row in rows if row.get("slo")}
    if len(slos) == 1:
        lines.append(f"SLO: {slos.pop()} per member")
    return "\n".join(lines)
