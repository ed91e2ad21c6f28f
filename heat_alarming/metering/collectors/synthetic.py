"""A synthetic source: a load generator for tests, benchmarks and the docs.

Every poll gives one sample per resource and meter, whole-array: the series
(one :class:`~heat_alarming.metering.batch.SeriesDescriptor` per resource and
meter) and the codes are built once and the same objects come back at every
poll, so parts downstream may cache by series tuple.  10,000 resources x 5
meters take a few milliseconds a poll.

Parameters (all optional)::

    parameters:
      resources: 100           # how many resources (ignored if the source lists resources)
      project: demo            # every sample's project_id (default none)
      seed: 0                  # the same seed, the same values
      noise: 0.1               # relative spread of the values, 0 to 1
      reset_every: 0           # cumulative counters restart from 0 every N polls (0: never)
      meters:                  # name -> how it moves
        cpu: {type: cumulative, rate: 1.0e9, unit: ns}      # grows by about rate per second
        memory.usage: {type: gauge, level: 512, unit: MB}   # about level

Each resource has its own share of ``rate`` / ``level`` (between 0.5 and 1.5
times it, drawn from the seed), and every poll adds ``noise`` around it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.base import Collector, PipelineError
from heat_alarming.metering.sample import CUMULATIVE, GAUGE

#: the meters of a synthetic source whose parameters name none
DEFAULT_METERS: Mapping[str, Mapping[str, Any]] = {
    "cpu": {"type": CUMULATIVE, "rate": 1.0e9, "unit": "ns"},
    "memory.usage": {"type": GAUGE, "level": 512.0, "unit": "MB"},
}
DEFAULT_RESOURCES = 10
DEFAULT_NOISE = 0.1
#: most series (resources x meters) one synthetic source makes
MAX_SERIES = 1_000_000
SOURCE = "synthetic"

_PARAMETERS = ("resources", "meters", "project", "seed", "noise", "reset_every")
_METER_KEYS = {GAUGE: ("type", "level", "unit"), CUMULATIVE: ("type", "rate", "unit")}


def _number(value: Any, field: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise PipelineError(field, f"must be a number from {low:g} to {high:g} (got "
                                   f"{value!r})")
    return float(value)


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PipelineError(field, f"must be a whole number from {low} to {high} (got "
                                   f"{value!r})")
    return value


class SyntheticCollector(Collector):
    """Samples of made-up resources (see the module docstring for the parameters)."""

    PARAMETERS = _PARAMETERS

    def __init__(self, parameters: Mapping[str, Any], *, resources: Iterable[str] = (),
                 clock: Clock = system_clock) -> None:
        super().__init__(parameters, resources=resources, clock=clock)
        p = self.parameters
        seed = _whole(p.get("seed", 0), "seed", 0, 2**63 - 1)
        self.noise = _number(p.get("noise", DEFAULT_NOISE), "noise", 0.0, 1.0)
        self.reset_every = _whole(p.get("reset_every", 0), "reset_every", 0, 2**31)
        project = p.get("project")
        if project is not None and (not isinstance(project, str) or not project):
            raise PipelineError("project", f"must be a non-empty text (got {project!r})")
        meters = p.get("meters", DEFAULT_METERS)
        if not isinstance(meters, Mapping) or not meters:
            raise PipelineError("meters", "must map meter names to {type, rate or level, "
                                          "unit}")
        if self.resources:
            ids = list(self.resources)
        else:
            count = _whole(p.get("resources", DEFAULT_RESOURCES), "resources", 1, MAX_SERIES)
            ids = [f"synthetic-{i:06d}" for i in range(count)]
        if len(ids) * len(meters) > MAX_SERIES:
            raise PipelineError("resources", f"{len(ids)} resources x {len(meters)} meters "
                                             f"is more than {MAX_SERIES} series")
        self._rng = np.random.default_rng(seed)
        n = len(ids)
        series: list[SeriesDescriptor] = []
        levels, cumulative = [], []
        no_metadata: dict = {}  # one empty mapping, shared (batches never change it)
        for name, spec in meters.items():
            where = f"meters.{name}"
            if not isinstance(name, str) or not name:
                raise PipelineError("meters", f"a meter name must be a text (got {name!r})")
            if not isinstance(spec, Mapping):
                raise PipelineError(where, "must be a mapping {type, rate or level, unit}")
            kind = spec.get("type", GAUGE)
            if kind not in _METER_KEYS:
                raise PipelineError(f"{where}.type", f"must be {GAUGE} or {CUMULATIVE} "
                                                     f"(got {kind!r})")
            for key in spec:
                if key not in _METER_KEYS[kind]:
                    raise PipelineError(f"{where}.{key}", f"unknown for a {kind} meter "
                                        f"(known: {', '.join(_METER_KEYS[kind])})")
            value_key = "level" if kind == GAUGE else "rate"
            value = _number(spec.get(value_key, 1.0), f"{where}.{value_key}",
                            -1e12 if kind == GAUGE else 0.0, 1e12)
            unit = spec.get("unit", "")
            if not isinstance(unit, str):
                raise PipelineError(f"{where}.unit", f"must be a text (got {unit!r})")
            series.extend(SeriesDescriptor(name, rid, project, kind, unit, None, SOURCE,
                                           no_metadata) for rid in ids)
            share = self._rng.uniform(0.5, 1.5, n) * value
            levels.append(share)
            cumulative.append(np.full(n, kind == CUMULATIVE))
        self.series: tuple[SeriesDescriptor, ...] = tuple(series)
        self._base = np.concatenate(levels)
        self._cumulative = np.concatenate(cumulative)
        self._codes = np.arange(len(series), dtype=np.uint32)
        self._codes.flags.writeable = False
        self._counters = np.where(self._cumulative, self._rng.uniform(0, 1000, len(series))
                                  * self._base, 0.0)
        self._last: float | None = None
        self._polls = 0

    def collect(self, now: float) -> SampleBatch:
        n = len(self.series)
        spread = 1.0 + self.noise * self._rng.uniform(-1.0, 1.0, n) if self.noise else 1.0
        values = self._base * spread
        if self.reset_every and self._polls and self._polls % self.reset_every == 0:
            self._counters[self._cumulative] = 0.0
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        np.add(self._counters, np.where(self._cumulative, np.abs(values) * elapsed, 0.0),
               out=self._counters)
        volumes = np.where(self._cumulative, self._counters, values)
        self._last = now
        self._polls += 1
        return SampleBatch(self.series, self._codes, volumes, np.full(n, float(now)))
