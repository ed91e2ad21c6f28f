"""Traces a backtest replays: a demand over time, or recorded samples.

Two kinds, each as CSV (a header line first) or JSON lines (one object a line):

* demand: ``timestamp,demand`` -- the load in percent of ONE server (100 = one
  member fully busy) at a regular step; the group shares it (each member reports
  ``min(100, demand / size)``);
* samples: ``timestamp,meter,value,resource_id[,metadata.KEY ...]`` -- samples as
  recorded (JSON lines: the same keys, ``metadata`` a mapping).

A header (or the first object's keys) holding ``demand`` makes a demand trace.
Timestamps are epoch seconds or ISO 8601 (UTC when no offset is given). Every
refusal is a :class:`TraceError` "<path>:<line>: <field>: <reason>", raised at
the first bad row; a file over :data:`MAX_ROWS` rows is refused whole.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from heat_alarming.metering.sample import Sample, to_epoch

#: the most rows one trace may hold (a year of 10 s samples for one series is 3.2 M)
MAX_ROWS = 5_000_000
DEMAND_FIELDS = ("timestamp", "demand")
SAMPLE_FIELDS = ("timestamp", "meter", "value", "resource_id")
METADATA_PREFIX = "metadata."
#: how far a demand step may stray from the first one (seconds) and still be regular
STEP_SLACK = 1e-6
DEMAND, SAMPLES = "demand", "samples"


class TraceError(ValueError):
    """A trace that cannot be replayed: ``<path>:<line>: <field>: <reason>``."""

    def __init__(self, path: str, line: int, field: str, reason: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, reason
        super().__init__(f"{path}:{line}: {field}: {reason}")


@dataclasses.dataclass(frozen=True)
class Trace:
    """One trace: ``samples`` (kind samples) or ``times`` and ``demand`` (kind demand)."""

    samples: list | None = None
    times: np.ndarray | None = None
    demand: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.samples is None) == (self.times is None):
            raise ValueError("a trace has either samples or times and demand")
        if self.times is not None and (self.demand is None
                                       or len(self.demand) != len(self.times)):
            raise ValueError("times and demand must have one length")

    @property
    def kind(self) -> str:
        return SAMPLES if self.samples is not None else DEMAND

    @property
    def start(self) -> float:
        if self.samples is not None:
            return float(self.samples[0].timestamp) if self.samples else 0.0
        return float(self.times[0])

    @property
    def end(self) -> float:
        if self.samples is not None:
            return float(self.samples[-1].timestamp) if self.samples else 0.0
        return float(self.times[-1])

    @property
    def step(self) -> float | None:
        """Seconds between demand rows (None for a samples trace)."""
        if self.times is None:
            return None
        return float(self.times[1] - self.times[0])


# -- reading ------------------------------------------------------------------------
def read_trace(path: str | os.PathLike) -> Trace:
    """The trace in ``path`` (``.csv`` or ``.jsonl``); :class:`TraceError` says what is wrong."""
    shown = os.fspath(path)
    if shown.endswith(".jsonl"):
        reader = _jsonl_rows
    elif shown.endswith(".csv"):
        reader = _csv_rows
    else:
        raise TraceError(shown, 0, "file", "must end in .csv or .jsonl")
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = reader(shown, handle)
            first = next(rows, None)
            if first is None:
                raise TraceError(shown, 1, "file", "holds no rows")
            kind = DEMAND if "demand" in first[1] else SAMPLES
            if kind == DEMAND:
                return _demand(shown, _chain(first, rows))
            return _samples(shown, _chain(first, rows))
    except OSError as exc:
        raise TraceError(shown, 0, "file", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TraceError(shown, 0, "file", f"is not UTF-8 text ({exc.reason})") from None


def _chain(first, rest) -> Iterator[tuple[int, Mapping[str, Any]]]:
    yield first
    yield from rest


def _counted(path: str, rows: Iterable[tuple[int, Mapping[str, Any]]]):
    for n, (line, row) in enumerate(rows, 1):
        if n > MAX_ROWS:
            raise TraceError(path, line, "file", f"more than {MAX_ROWS} rows; split the trace")
        yield line, row


def _csv_rows(path: str, handle) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        kind_fields = DEMAND_FIELDS if "demand" in header else SAMPLE_FIELDS
        for name in kind_fields:
            if name not in header:
                raise TraceError(path, 1, name, f"missing from the header {header}")
        for name in header:
            if name not in kind_fields and not (kind_fields is SAMPLE_FIELDS
                                                and name.startswith(METADATA_PREFIX)
                                                and len(name) > len(METADATA_PREFIX)):
                raise TraceError(path, 1, name or "header", "is not a column of a "
                                 f"{'demand' if kind_fields is DEMAND_FIELDS else 'samples'}"
                                 " trace")
        if len(set(header)) != len(header):
            raise TraceError(path, 1, "header", "names a column twice")
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise TraceError(path, line, "row", f"{len(cells)} cells, the header has "
                                 f"{len(header)}")
            yield line, dict(zip(header, cells))
    except csv.Error as exc:
        raise TraceError(path, reader.line_num, "row", f"not CSV: {exc}") from None


def _jsonl_rows(path: str, handle) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, text in enumerate(handle, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            raise TraceError(path, line, "row", f"not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise TraceError(path, line, "row", "must be a JSON object")
        yield line, row


def _time(path: str, line: int, value: Any) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            value = text
    try:
        if isinstance(value, bool):
            raise TypeError
        stamp = to_epoch(value)
    except (TypeError, ValueError, OverflowError):
        raise TraceError(path, line, "timestamp", f"{_short(value)} is not epoch seconds "
                         "nor ISO 8601 time") from None
    if not math.isfinite(stamp):
        raise TraceError(path, line, "timestamp", f"{_short(value)} is not a finite time")
    return stamp


def _number(path: str, line: int, field: str, value: Any) -> float:
    try:
        if isinstance(value, bool) or value is None:
            raise TypeError
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise TraceError(path, line, field, f"{_short(value)} is not a number") from None
    if not math.isfinite(number):
        raise TraceError(path, line, field, f"{_short(value)} is not a finite number")
    return number


def _demand(path: str, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> Trace:
    times: list[float] = []
    demand: list[float] = []
    step = None
    for line, row in _counted(path, rows):
        for name in DEMAND_FIELDS:
            if name not in row:
                raise TraceError(path, line, name, "is missing")
        extra = set(row) - set(DEMAND_FIELDS)
        if extra:
            raise TraceError(path, line, sorted(extra)[0], "is not a field of a demand trace")
        at = _time(path, line, row["timestamp"])
        value = _number(path, line, "demand", row["demand"])
        if value < 0:
            raise TraceError(path, line, "demand", f"{value:g} is below 0")
        if times:
            gap = at - times[-1]
            if gap <= 0:
                raise TraceError(path, line, "timestamp", "not after the row before")
            if step is None:
                step = gap
            elif abs(gap - step) > STEP_SLACK:
                raise TraceError(path, line, "timestamp", f"{gap:g} s after the row before; "
                                 f"the trace's step is {step:g} s")
        times.append(at)
        demand.append(value)
    if len(times) < 2:
        raise TraceError(path, 2, "file", "a demand trace needs two rows at least (its step)")
    return Trace(times=np.array(times), demand=np.array(demand))


def _samples(path: str, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> Trace:
    samples: list[Sample] = []
    for line, row in _counted(path, rows):
        for name in SAMPLE_FIELDS:
            if name not in row:
                raise TraceError(path, line, name, "is missing")
        metadata = row.get("metadata")
        if metadata is None:
            metadata = {k[len(METADATA_PREFIX):]: v for k, v in row.items()
                        if k.startswith(METADATA_PREFIX) and v != ""}
        elif not isinstance(metadata, dict):
            raise TraceError(path, line, "metadata", "must be a mapping")
        extra = [k for k in row if k not in SAMPLE_FIELDS and k != "metadata"
                 and not k.startswith(METADATA_PREFIX)]
        if extra:
            raise TraceError(path, line, extra[0], "is not a field of a samples trace")
        for name in ("meter", "resource_id"):
            if not isinstance(row[name], str) or not row[name].strip():
                raise TraceError(path, line, name, "must be non-empty text")
        samples.append(Sample(row["meter"].strip(), _number(path, line, "value", row["value"]),
                              row["resource_id"].strip(),
                              timestamp=_time(path, line, row["timestamp"]),
                              resource_metadata=metadata))
    samples.sort(key=lambda s: s.timestamp)  # stable: rows of one time keep their order
    return Trace(samples=samples)


# -- writing ------------------------------------------------------------------------
def write_demand(path: str | os.PathLike, times: Sequence[float],
                 demand: Sequence[float]) -> None:
    """Write a demand trace (CSV, or JSON lines for a ``.jsonl`` path)."""
    times, demand = np.asarray(times, dtype=float), np.asarray(demand, dtype=float)
    if times.shape != demand.shape:
        raise ValueError("times and demand must have one length")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if os.fspath(path).endswith(".jsonl"):
            for at, value in zip(times.tolist(), demand.tolist()):
                handle.write(json.dumps({"timestamp": at, "demand": value}) + "\n")
            return
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DEMAND_FIELDS)
        writer.writerows(zip((repr(t) for t in times.tolist()),
                             (repr(d) for d in demand.tolist())))


def write_samples(path: str | os.PathLike, samples: Iterable[Sample]) -> None:
    """Write samples (CSV with a ``metadata.KEY`` column per key, or JSON lines)."""
    samples = list(samples)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if os.fspath(path).endswith(".jsonl"):
            for s in samples:
                handle.write(json.dumps({
                    "timestamp": to_epoch(s.timestamp), "meter": s.name, "value": s.volume,
                    "resource_id": s.resource_id,
                    "metadata": dict(s.resource_metadata)}) + "\n")
            return
        keys = sorted({str(k) for s in samples for k in s.resource_metadata})
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(SAMPLE_FIELDS) + [METADATA_PREFIX + k for k in keys])
        for s in samples:
            writer.writerow([repr(to_epoch(s.timestamp)), s.name, repr(float(s.volume)),
                             s.resource_id] + [s.resource_metadata.get(k, "") for k in keys])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
