"""Reliability under crashes, load and churn: the figures of docs/security.md.

Runs three measurements, each in a process of its own (so that one's memory
and threads do not colour another's), and passes their lines through:

* ``reliability_crash.py``: SIGKILL of heat-engine at random instants of the
  Heat path, over >= 50 trials on SQLite and PostgreSQL:
  ``RESULT crash_trials``, ``RESULT crash_lost_actions`` and
  ``RESULT crash_duplicate_actions`` (both must be 0). About 13 minutes.
* ``reliability_lag.py``: the round lag behind the period close with 10,000
  alarms (periods 10, 30, 60 s) and 20,000 samples/s for 60 s while project
  ``evil`` holds a bad alarm and slow webhooks: ``RESULT round_lag_max_s``
  (target <= 5) and ``RESULT round_lag_median_s``. About two minutes.
* ``reliability_churn.py``: RSS before and after two retentions of churned
  one-off series: ``RESULT churn_rss_growth_mb`` (target <= 50).

``--only crash|lag|churn`` runs one of them; the exit status is non-zero when
a part fails or misses its target.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = {
    "crash": ("reliability_crash.py", []),
    "lag": ("reliability_lag.py", ["--bad-alarm", "never-firing"]),
    "churn": ("reliability_churn.py", []),
}
#: the targets of issue 13, per part: name -> largest acceptable value
TARGETS = {"crash": {"crash_lost_actions": 0, "crash_duplicate_actions": 0},
           "lag": {"round_lag_max_s": 5.0},
           "churn": {"churn_rss_growth_mb": 50.0}}


def run_part(name: str) -> tuple[int, dict[str, float]]:
    script, args = PARTS[name]
    print(f"# {name}: {script} {' '.join(args)}", file=sys.stderr, flush=True)
    child = subprocess.Popen([sys.executable, os.path.join(HERE, script), *args],
                             stdout=subprocess.PIPE, text=True)
    figures = {}
    for line in child.stdout:
        print(line, end="", flush=True)
        words = line.split()
        if len(words) == 3 and words[0] == "RESULT":
            figures[words[1]] = float(words[2])
    return child.wait(), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PARTS), action="append",
                        help="run only this part (may be repeated)")
    args = parser.parse_args(argv)
    failed = []
    for name in args.only or list(PARTS):
        status, figures = run_part(name)
        if status:
            failed.append(f"{name} exited with {status}")
        for key, limit in TARGETS[name].items():
            if key not in figures:
                failed.append(f"{name} printed no {key}")
            elif not figures[key] <= limit:
                failed.append(f"{key} = {figures[key]:g} is above {limit:g}")
    for problem in failed:
        print(f"# target missed: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
