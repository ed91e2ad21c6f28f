"""Sample batches written out by hand, for the transformer tests.

A test names its series once (:func:`series`), writes its samples as
``(code, volume, time)`` rows (:func:`batch`), and reads a transformer's output
back as plain rows (:func:`rows`).  :func:`frozen` makes a batch's arrays
read-only, so a transformer that wrote into its input would fail the test.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor

T0 = 1_699_999_200.0  # a whole hour


def series(name: str, resource_id: str = "vm1", *, unit: str = "", type: str = "cumulative",
           project_id: str | None = "p1", metadata: Mapping[str, Any] | None = None,
           user_id: str | None = "u1", source: str = "test") -> SeriesDescriptor:
    return SeriesDescriptor(name, resource_id, project_id, type, unit, user_id, source,
                            dict(metadata or {}))


def batch(descriptors: tuple[SeriesDescriptor, ...], rows: Iterable[tuple],
          ids: Iterable[int] | None = None) -> SampleBatch:
    """A batch of ``descriptors`` (the tuple itself, as a collector reuses it) from
    ``(code, volume, time)`` rows."""
    rows = list(rows)
    return frozen(SampleBatch(
        descriptors, np.array([r[0] for r in rows], dtype=np.uint32),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.float64),
        None if ids is None else np.array(list(ids), dtype=np.uint64)))


def frozen(b: SampleBatch) -> SampleBatch:
    """``b`` with read-only arrays."""
    for arr in (b.codes, b.volumes, b.timestamps, b.ids):
        if arr is not None:
            arr.setflags(write=False)
    return b


def copy_of(b: SampleBatch) -> tuple:
    """The arrays of ``b``, copied (to compare after a transform)."""
    return tuple(None if a is None else a.copy()
                 for a in (b.codes, b.volumes, b.timestamps, b.ids))


def unchanged(b: SampleBatch, before: tuple) -> bool:
    return all((a is None and c is None) or (a is not None and c is not None
                                             and np.array_equal(a, c, equal_nan=True))
               for a, c in zip((b.codes, b.volumes, b.timestamps, b.ids), before))


def rows(b: SampleBatch, name: str | None = None) -> list[tuple]:
    """``(name, resource_id, unit, type, volume, time)`` per sample, sorted; only
    ``name``'s when given."""
    out = []
    for code, volume, ts in zip(b.codes.tolist(), b.volumes.tolist(), b.timestamps.tolist()):
        d = b.series[code]
        if name is None or d.name == name:
            out.append((d.name, d.resource_id, d.unit, d.type, volume, ts))
    return sorted(out, key=lambda r: (r[0], r[1], r[5], r[4]))


def values(b: SampleBatch, name: str) -> list[tuple[str, float, float]]:
    """``(resource_id, volume, time - T0)`` of ``name``'s samples, sorted."""
    return [(r[1], r[4], r[5] - T0) for r in rows(b, name)]
