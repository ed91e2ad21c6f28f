"""What the transformers share: parameter checks, meter selection and renaming,
state rows keyed by series, and caches kept per ``batch.series`` tuple.

Collectors hand the same ``series`` tuple to every poll of the same series, so a
transformer works out what it needs per series (does the meter apply, which
state row, which output descriptor) once per tuple, in :class:`PerTuple`, and
then treats every batch of that tuple whole-array.
"""
from __future__ import annotations

import abc
import fnmatch
import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.base import PipelineError, Transformer

_MISSING = object()


class Stateful(Transformer):
    """A transformer whose state and caches one lock guards: sources that share a sink
    may call :meth:`transform` (and the runner :meth:`flush`) from their own threads."""

    def __init__(self, parameters: Mapping[str, Any], *, clock: Clock = system_clock) -> None:
        super().__init__(parameters, clock=clock)
        self._lock = threading.Lock()

    def transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        with self._lock:
            return self._transform(batch, now)

    def flush(self, now: float) -> SampleBatch:
        with self._lock:
            return self._flush(now)

    @abc.abstractmethod
    def _transform(self, batch: SampleBatch, now: float) -> SampleBatch:
        """The batch to pass on (under the lock)."""

    def _flush(self, now: float) -> SampleBatch:
        return SampleBatch.empty()


class Params:
    """A part's parameter mapping, read field by field; unknown fields are refused.

    ``prefix`` names a nested mapping (``target``) in the errors.
    """

    def __init__(self, parameters: Any, known: Iterable[str], prefix: str = "") -> None:
        self.prefix = prefix
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, Mapping):
            raise PipelineError(prefix or "parameters", "must be a mapping")
        known = set(known)
        unknown = sorted(str(k) for k in parameters if k not in known)
        if unknown:
            raise PipelineError(self.name(unknown[0]), "unknown parameter (known: "
                                f"{', '.join(sorted(known))})")
        self.values = parameters

    def name(self, field: str) -> str:
        return f"{self.prefix}.{field}" if self.prefix else field

    def error(self, field: str, reason: str) -> PipelineError:
        return PipelineError(self.name(field), reason)

    def get(self, field: str, default: Any = None) -> Any:
        return self.values.get(field, default)

    def number(self, field: str, default: float | None, *, minimum: float | None = None,
               maximum: float | None = None, above: float | None = None,
               optional: bool = False) -> float | None:
        value = self.values.get(field, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(field, f"must be a number, not {value!r:.60}")
        try:
            value = float(value)
        except OverflowError:
            raise self.error(field, "is too large") from None
        if not math.isfinite(value):
            raise self.error(field, "must be finite")
        if above is not None and not value > above:
            raise self.error(field, f"must be more than {above:g}")
        if minimum is not None and value < minimum:
            raise self.error(field, f"must be at least {minimum:g}")
        if maximum is not None and value > maximum:
            raise self.error(field, f"must be at most {maximum:g}")
        return value

    def boolean(self, field: str, default: bool) -> bool:
        value = self.values.get(field, default)
        if not isinstance(value, bool):
            raise self.error(field, f"must be true or false, not {value!r:.60}")
        return value

    def text(self, field: str, default: str | None, *, choices: Iterable[str] | None = None,
             optional: bool = False) -> str | None:
        value = self.values.get(field, default)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(field, f"must be a non-empty text, not {value!r:.60}")
        if len(value) > 255:
            raise self.error(field, "is longer than 255 characters")
        if choices is not None and value not in choices:
            raise self.error(field, f"must be one of {', '.join(choices)}, not {value!r:.60}")
        return value

    def texts(self, field: str, default: Iterable[str] | None) -> tuple[str, ...] | None:
        value = self.values.get(field, _MISSING)
        if value is _MISSING:
            return None if default is None else tuple(default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, str) and v for v in value):
            raise self.error(field, "must be a list of meter names or patterns")
        if len(value) > 1000:
            raise self.error(field, "lists more than 1000 entries")
        return tuple(value)

    def nested(self, field: str, known: Iterable[str]) -> Params:
        return Params(self.values.get(field), known, self.name(field))

    def regex(self, field: str) -> re.Pattern | None:
        value = self.values.get(field)
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > 1000:
            raise self.error(field, "must be a regular expression (text, up to 1000 "
                                    "characters)")
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.error(field, f"is not a regular expression ({exc})") from None


class MeterMap:
    """Which series a transformer applies to, and what it calls its output.

    The Ceilometer shape: ``meters`` (names or fnmatch patterns) and/or
    ``source: {map_from: {name: regex, unit: regex}}`` select series (both must
    match when both are given; a regex must match the whole text), and
    ``target: {name, unit, type, map_to: {name: replacement, unit: replacement}}``
    names the output: ``map_to`` expands the ``map_from`` groups (``\\1``), a plain
    ``name``/``unit`` replaces, otherwise ``default_name``/``default_unit`` apply
    (callables of the source descriptor).
    """

    def __init__(self, params: Params, *, default_meters: Iterable[str] | None,
                 target: Params, default_name: Callable[[SeriesDescriptor], str],
                 default_unit: Callable[[SeriesDescriptor], str],
                 default_type: str | None) -> None:
        self.meters = params.texts("meters", default_meters)
        source = params.nested("source", ("map_from",))
        map_from = source.nested("map_from", ("name", "unit"))
        self.name_from = map_from.regex("name")
        self.unit_from = map_from.regex("unit")
        if self.meters is None and self.name_from is None:
            raise params.error("meters", "name the meters to transform (or give "
                                         "source.map_from.name)")
        self._exact = frozenset(m for m in self.meters or () if not _is_pattern(m))
        self._patterns = tuple(re.compile(fnmatch.translate(m)) for m in self.meters or ()
                               if _is_pattern(m))
        map_to = target.nested("map_to", ("name", "unit"))
        self.name_to = map_to.text("name", None, optional=True)
        self.unit_to = map_to.text("unit", None, optional=True)
        if self.name_to is not None and self.name_from is None:
            raise map_to.error("name", "needs source.map_from.name to map from")
        if self.unit_to is not None and self.unit_from is None and self.name_from is None:
            raise map_to.error("unit", "needs source.map_from to map from")
        for field, replacement, pattern in (("name", self.name_to, self.name_from),
                                            ("unit", self.unit_to, self.unit_from
                                             or self.name_from)):
            if replacement is not None:
                try:  # the groups it names must exist: expand it over an empty match
                    names = {i: n for n, i in pattern.groupindex.items()}
                    dummy = "".join(f"(?P<{names[i]}>)" if i in names else "()"
                                    for i in range(1, pattern.groups + 1))
                    re.compile(dummy).sub(replacement, "", count=1)
                except (re.error, IndexError) as exc:
                    raise map_to.error(field, f"is not a replacement of map_from's "
                                              f"groups ({exc})") from None
        self.name = target.text("name", None, optional=True)
        self.unit = target.get("unit")
        if self.unit is not None and not isinstance(self.unit, str):
            raise target.error("unit", "must be a text")
        self.type = target.text("type", default_type, optional=True,
                                choices=("gauge", "cumulative", "delta"))
        self._default_name, self._default_unit = default_name, default_unit

    def selects(self, name: str) -> bool:
        if self.meters is not None and name not in self._exact and not any(
                p.match(name) for p in self._patterns):
            return False
        return True

    def output(self, d: SeriesDescriptor) -> SeriesDescriptor | None:
        """The output descriptor for ``d``, or None when ``d`` is not transformed."""
        if not self.selects(d.name):
            return None
        name_match = unit_match = None
        if self.name_from is not None:
            name_match = self.name_from.fullmatch(d.name)
            if name_match is None:
                return None
        if self.unit_from is not None:
            unit_match = self.unit_from.fullmatch(d.unit or "")
            if unit_match is None:
                return None
        if self.name_to is not None:
            name = name_match.expand(self.name_to)
        else:
            name = self.name if self.name is not None else self._default_name(d)
        if self.unit_to is not None:
            unit = (unit_match or name_match).expand(self.unit_to)
        else:
            unit = self.unit if self.unit is not None else self._default_unit(d)
        return d._replace(name=name, unit=unit, type=self.type or d.type)


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


class PerTuple:
    """Values worked out per ``series`` tuple, cached by the tuple's identity (the tuple
    is held, so its id is not reused) for the last ``size`` tuples, and rebuilt when
    ``generation`` (the state rows' generation) has moved on."""

    def __init__(self, build: Callable[[tuple], Any], size: int = 64) -> None:
        self._build = build
        self._size = size
        self._entries: OrderedDict[int, tuple[tuple, int, Any]] = OrderedDict()

    def get(self, series: tuple, generation: int = 0) -> Any:
        key = id(series)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is series and entry[1] == generation:
            self._entries.move_to_end(key)
            return entry[2]
        value = self._build(series)
        self._entries[key] = (series, generation, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value


class Rows:
    """State rows keyed by a hashable key (a series, a resource), with per-row columns
    (float arrays, NaN for nothing; a width of None is one value per row, an int that
    many), the time each row was last seen, and the
    forgetting of rows unseen for ``max_age`` seconds (freed rows are reused, and
    ``generation`` moves on so that cached row numbers are rebuilt)."""

    def __init__(self, columns: Mapping[str, int | None], max_age: float) -> None:
        self.max_age = max_age
        self.index: dict[Hashable, int] = {}
        self.keys: list[Hashable | None] = []
        self.free: list[int] = []
        self.generation = 0
        self._widths = dict(columns)
        self.columns = {name: np.full(0 if w is None else (0, w), np.nan)
                        for name, w in self._widths.items()}
        self.seen = np.full(0, -np.inf)
        self._next_forget = -np.inf

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, keys: Iterable[Hashable]) -> np.ndarray:
        """The row of each key, made where missing (a Python loop: call it per tuple)."""
        out = []
        index = self.index
        for key in keys:
            row = index.get(key)
            if row is None:
                if self.free:
                    row = self.free.pop()
                    self.keys[row] = key
                else:
                    row = len(self.keys)
                    self.keys.append(key)
                index[key] = row
            out.append(row)
        self._grow(len(self.keys))
        return np.array(out, dtype=np.int64)

    def _grow(self, n: int) -> None:
        have = self.seen.size
        if n <= have:
            return
        size = max(n, 2 * have, 64)
        for name, arr in self.columns.items():
            shape = (size - have,) + arr.shape[1:]
            self.columns[name] = np.concatenate((arr, np.full(shape, np.nan)))
        self.seen = np.concatenate((self.seen, np.full(size - have, -np.inf)))

    def due(self, now: float) -> bool:
        """Whether :meth:`forget` would look at the rows at ``now``."""
        return now >= self._next_forget

    def forget(self, now: float, keep: np.ndarray | None = None) -> int:
        """Free the rows unseen for ``max_age`` seconds (at most every tenth of it);
        ``keep`` marks rows that must stay. The number freed."""
        if now < self._next_forget:
            return 0
        self._next_forget = now + self.max_age / 10
        n = len(self.keys)
        old = self.seen[:n] < now - self.max_age
        for row in self.free:
            old[row] = False
        if keep is not None:
            old &= ~keep[:n]
        rows = np.flatnonzero(old).tolist()
        if not rows:
            return 0
        for row in rows:
            del self.index[self.keys[row]]
            self.keys[row] = None
        self.free.extend(rows)
        free = np.array(rows, dtype=np.int64)
        for arr in self.columns.values():
            arr[free] = np.nan
        self.seen[free] = -np.inf
        self.generation += 1
        return len(rows)


def group_bounds(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted key array: (first-of-group mask, last-of-group mask)."""
    n = keys.size
    first = np.ones(n, dtype=bool)
    last = np.ones(n, dtype=bool)
    if n > 1:
        same = keys[1:] == keys[:-1]
        first[1:] = ~same
        last[:-1] = ~same
    return first, last


def derived_ids(ids: np.ndarray | None, salt: str) -> np.ndarray | None:
    """Message-id digests for samples made from samples with ``ids``: the same source
    message gives the same derived id (so a message journalled twice is still dropped
    once), 0 stays 0 (no id)."""
    if ids is None:
        return None
    mix = np.uint64(int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(),
                                   "little") | 1)
    with np.errstate(over="ignore"):
        out = (ids ^ mix) * np.uint64(0x9E3779B97F4A7C15)
    out[out == 0] = 1
    out[ids == 0] = 0
    return out


def concat_batches(series: tuple, parts: list[tuple]) -> SampleBatch:
    """One batch of ``series`` from parts (codes, volumes, timestamps, ids or None)."""
    codes = np.concatenate([p[0] for p in parts]).astype(np.uint32, copy=False)
    volumes = np.concatenate([p[1] for p in parts]).astype(np.float64, copy=False)
    times = np.concatenate([p[2] for p in parts]).astype(np.float64, copy=False)
    ids = None
    if any(p[3] is not None for p in parts):
        ids = np.concatenate([p[3] if p[3] is not None else np.zeros(p[0].size, np.uint64)
                              for p in parts])
    return SampleBatch(series, codes, volumes, times, ids)


def metadata_value(metadata: Mapping[str, Any], key: str) -> Any:
    """``key`` of ``metadata``: a flat dotted key, or nested maps along the dots."""
    if not isinstance(metadata, Mapping):
        return None
    value = metadata.get(key, _MISSING)
    if value is not _MISSING:
        return value
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def positive_number(value: Any, maximum: float = 1e15) -> float | None:
    """A metadata value read as a positive finite number (numeric text too), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 40:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) and 0 < value <= maximum else None
