"""Helpers shared by the benchmark scripts: timing medians and result lines."""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], repeat: int = 7,
                   setup: Callable[[], object] | None = None) -> float:
    """Median wall time of ``run`` over ``repeat`` runs (``setup`` untimed)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def result(name: str, value: float, fmt: str = "{:.3f}") -> None:
    print(f"RESULT {name} {fmt.format(value)}", flush=True)


def ratio(name: str, value: float) -> None:
    print(f"RATIO {name} {value:.2f}", flush=True)
