"""A day of demand through three autoscalers, and the cost of replaying a day.

The shipped one-day trace (``benchmarks/traces/diurnal.csv``, one-minute demand
in percent of one server, written by ``tools/generate-traces.py``) drives
``heat_alarming/templates/hot-autoscaling-tuned.yaml`` (its defaults: group of
1 to 8, scale-out in steps after one 60 s period above 60, scale-in to a 50 %
target after five periods below 45) three ways, by
:func:`heat_alarming.backtest.compare.compare`:

* ``ours``: the template replayed on the real evaluator as it runs live;
* ``hpa``: the Kubernetes HPA v2 model with the group's bounds and the
  scale-in policy's ``target_value`` (50) as the target utilisation;
* ``aodh``: the template with Aodh's alarm semantics, evaluated every 60 s
  and acting a Gnocchi metricd cycle (60 s) late.

For each: minutes whose per-member ``cpu_util`` is not below 80
(``slo_violation_minutes_*``) and member-hours in service (``instance_hours_*``).
The same comparison for the demo's ``hot-autoscaling.yaml`` (``period=60``,
``repeat_actions=true``, group of 1 to 4) is printed as ``# demo template``
comment lines, for context. The comparison is deterministic (a manual clock,
no randomness), so it runs once. ``backtest_day_100_alarms_s`` is the median
wall time of ``--repeat`` (3) replays of the day on the demo template with 100
alarms (its two and 98 more that watch the same meter without actions). The
definitions of the three models, and the variants tried, are in
docs/backtest-compare.md.

Run with ``python benchmarks/bench_backtest.py`` (``--repeat N``).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_seconds, progress, result  # noqa: E402

from heat_alarming.backtest import compare, replay, template, trace  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACE = os.path.join(ROOT, "benchmarks", "traces", "diurnal.csv")
TEMPLATE = os.path.join(ROOT, "heat_alarming", "templates", "hot-autoscaling-tuned.yaml")
DEMO = os.path.join(ROOT, "heat_alarming", "templates", "hot-autoscaling.yaml")
DEMO_PARAMETERS = {"period": 60, "repeat_actions": True}
SLO = "cpu_util<80"
ALARMS = 100


def with_alarms(scenario, total: int):
    """``scenario`` plus watch-only copies of its first alarm, ``total`` alarms in all."""
    name, first = next(iter(scenario.alarms.items()))
    alarms = dict(scenario.alarms)
    for i in range(total - len(alarms)):
        extra = dict(first)
        rule_key = "threshold_rule" if "threshold_rule" in extra else "rule"
        rule = dict(extra[rule_key])
        rule["threshold"] = 10 + (i % 80)  # thresholds 10..89: some breach, some not
        extra.update({rule_key: rule, "alarm_id": f"watch_{i}", "name": f"watch_{i}",
                      "alarm_actions": [], "ok_actions": [], "insufficient_data_actions": []})
        alarms[f"watch_{i}"] = extra
    return dataclasses.replace(scenario, alarms=alarms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    day = trace.read_trace(TRACE)
    demo = template.read_template(DEMO, DEMO_PARAMETERS)
    progress(f"demo template: {os.path.relpath(DEMO, ROOT)} on {os.path.relpath(TRACE, ROOT)}")
    for line in compare.format_table(compare.compare(demo, day, SLO)).splitlines():
        progress(f"demo template: {line}")
    scenario = template.read_template(TEMPLATE)
    progress(f"comparing on {os.path.relpath(TRACE, ROOT)} with {os.path.relpath(TEMPLATE, ROOT)}")
    rows = compare.compare(scenario, day, SLO)
    for line in compare.format_table(rows).splitlines():
        progress(line)
    by_name = {row["name"]: row for row in rows}
    for name in ("ours", "hpa", "aodh"):
        result(f"slo_violation_minutes_{name}", by_name[name]["slo_violation_minutes"], "{:g}")
    for name in ("ours", "hpa", "aodh"):
        result(f"instance_hours_{name}", by_name[name]["instance_hours"], "{:.2f}")
    big = with_alarms(demo, ALARMS)
    progress(f"replaying the day with {len(big.alarms)} alarms, {args.repeat} runs")
    result("backtest_day_100_alarms_s",
           median_seconds(lambda: replay.replay(big, day), repeat=args.repeat))


if __name__ == "__main__":
    main()
