"""``unit_conversion``: rename a meter and change its unit.

    volume' = volume * scale + offset        (scale a number)
    volume' = <scale expression over volume>  (Ceilometer's "volume * 8")

for the series ``meters`` / ``source.map_from`` select; the converted samples
replace the originals (``keep_source: true`` keeps both).  A converted value that
is not finite is dropped.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.transformers._common import (
    MeterMap,
    Params,
    PerTuple,
    Stateful,
    concat_batches,
    derived_ids,
)
from heat_alarming.metering.pipeline.transformers._expression import Expression


class _Plan(NamedTuple):
    series: tuple
    applies: np.ndarray
    out_code: np.ndarray  # code of the converted series (the input code when not kept)
    any_applies: bool


class UnitConversion(Stateful):
    """Parameters: ``meters`` and/or ``source.map_from``; ``target``: ``name`` /
    ``map_to.name`` (default: the same name), ``unit`` / ``map_to.unit`` (default: the
    same unit), ``type`` (default: the same type), ``scale`` (a number, default 1, or
    an expression over ``volume``), ``offset`` (a number, default 0);
    ``keep_source`` (default false)."""

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        params = Params(self.parameters, ("meters", "source", "target", "keep_source"))
        target = params.nested("target", ("name", "unit", "type", "map_to", "scale",
                                          "offset"))
        self.map = MeterMap(params, default_meters=None, target=target,
                            default_name=_same_name, default_unit=_same_unit,
                            default_type=None)
        scale = target.get("scale", 1.0)
        self.expression = None
        if isinstance(scale, str):
            self.expression = Expression(scale, target.name("scale"), meters=False,
                                         names=("volume",))
            self.scale = None
        else:
            self.scale = target.number("scale", 1.0)
        self.offset = target.number("offset", 0.0)
        self.keep_source = params.boolean("keep_source", False)
        if self.keep_source and self.map.name is None and self.map.name_to is None:
            raise target.error("name", "keep_source passes both on: the converted meter "
                                       "needs a name of its own (name or map_to.name)")
        self._plans = PerTuple(self._plan)
        self._salt = "unit_conversion" + repr(sorted(self.parameters.items(), key=str))

    def _plan(self, series: tuple) -> _Plan:
        n = len(series)
        applies = np.zeros(n, dtype=bool)
        out_code = np.arange(n, dtype=np.int64)
        converted: list[SeriesDescriptor] = []
        out = list(series)
        for c, d in enumerate(series):
            new = self.map.output(d)
            if new is None:
                continue
            applies[c] = True
            if self.keep_source:
                out_code[c] = n + len(converted)
                converted.append(new)
            else:
                out[c] = new
        return _Plan(tuple(out) + tuple(converted), applies, out_code, bool(applies.any()))

    def _convert(self, v: np.ndarray) -> np.ndarray:
        if self.expression is not None:
            v = self.expression.evaluate([v])
            return v + self.offset if self.offset else v
        with np.errstate(all="ignore"):
            return v * self.scale + self.offset

    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        plan = self._plans.get(batch.series)
        if not plan.any_applies or len(batch) == 0:
            return batch
        codes = batch.codes
        sel = plan.applies[codes]
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            return batch
        with np.errstate(all="ignore"):
            converted = np.broadcast_to(self._convert(batch.volumes[idx]), idx.shape)
        good = np.isfinite(converted)
        ids = batch.ids
        if not self.keep_source:
            keep = ~sel
            keep[idx[good]] = True
            volumes = batch.volumes.copy()
            volumes[idx] = converted
            if keep.all():
                # a converted sample replaces its source: it keeps its message id
                return SampleBatch(plan.series, codes, volumes, batch.timestamps, ids)
            return SampleBatch(plan.series, codes[keep], volumes[keep],
                               batch.timestamps[keep], None if ids is None else ids[keep])
        e = idx[good]
        return concat_batches(plan.series, [
            (codes, batch.volumes, batch.timestamps, ids),
            (plan.out_code[codes[e]], converted[good], batch.timestamps[e],
             derived_ids(None if ids is None else ids[e], self._salt))])


def _same_name(d: SeriesDescriptor) -> str:
    return d.name


def _same_unit(d: SeriesDescriptor) -> str:
    return d.unit
