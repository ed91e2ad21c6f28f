#!/usr/bin/env python3
"""Write the backtest's shipped demand traces into benchmarks/traces/.

Both are demand traces (``timestamp,demand``: epoch seconds, then the load in
percent of ONE server, 100 = one member fully busy), one row a minute from
2026-01-05T00:00:00Z:

* ``diurnal.csv``: one day (1440 rows). A daily cosine from 40 at 04:00 to 300
  at 16:00, three short bursts on top (09:12 for 8 minutes +150, 13:40 for 5
  minutes +200, 20:05 for 10 minutes +120), and Gaussian noise of 4 % of the
  value from a fixed seed (:data:`SEED`); never below 0.
* ``step.csv``: three hours (180 rows): 30, then 250 from 1 h, 30 again from 2 h.

Values are written with two decimals. ``--check`` writes nothing and exits 1
when a file differs from what this script generates (tests/unit/backtest runs it).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "traces"
START = 1_767_571_200  # 2026-01-05T00:00:00Z
STEP = 60
SEED = 20260105

NIGHT, PEAK = 40.0, 300.0
TROUGH_HOUR = 4.0  # the cosine's low; its peak is 12 h later
BURSTS = ((9 * 60 + 12, 8, 150.0), (13 * 60 + 40, 5, 200.0), (20 * 60 + 5, 10, 120.0))
NOISE = 0.04  # standard deviation, as a fraction of the value


def diurnal() -> tuple[np.ndarray, np.ndarray]:
    """One day of one-minute demand: cosine, bursts, seeded noise."""
    minute = np.arange(24 * 60)
    hours = minute / 60.0
    demand = NIGHT + (PEAK - NIGHT) * (1 - np.cos(2 * np.pi * (hours - TROUGH_HOUR) / 24)) / 2
    for start, length, extra in BURSTS:
        demand[start:start + length] += extra
    noise = np.random.default_rng(SEED).normal(0.0, NOISE, minute.size)
    demand = np.maximum(demand * (1 + noise), 0.0)
    return START + minute * STEP, demand


def step() -> tuple[np.ndarray, np.ndarray]:
    """Three hours: 30, 250 from 1 h, 30 from 2 h."""
    minute = np.arange(180)
    demand = np.where((minute >= 60) & (minute < 120), 250.0, 30.0)
    return START + minute * STEP, demand


def render(times: np.ndarray, demand: np.ndarray) -> str:
    """The demand CSV text."""
    lines = ["timestamp,demand"]
    lines += [f"{int(t)},{d:.2f}" for t, d in zip(times.tolist(), demand.tolist())]
    return "\n".join(lines) + "\n"


TRACES = {"diurnal.csv": diurnal, "step.csv": step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a shipped trace is not what this script generates")
    args = parser.parse_args(argv)
    stale = []
    for name, make in TRACES.items():
        path, text = OUT / name, render(*make())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({text.count(chr(10)) - 1} rows)")
    if stale:
        print(f"out of date: {', '.join(stale)}; run tools/generate-traces.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
