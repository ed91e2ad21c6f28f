"""The sample model and its validation.

A :class:`Sample` uses Ceilometer's vocabulary (name, type, unit, volume,
resource_id, project_id, user_id, timestamp, resource_metadata, source).
:class:`SampleValidator` is the one place that decides whether a sample may
enter a store; every error names the field and the offending value.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import reprlib
from collections.abc import Mapping
from typing import Any, NamedTuple

GAUGE, CUMULATIVE, DELTA = "gauge", "cumulative", "delta"
METER_TYPES = frozenset((GAUGE, CUMULATIVE, DELTA))
DEFAULT_SOURCE = "heat-alarming"

#: longest text accepted in a field that names a series (meter, resource, project,
#: user, unit, source): what a series key and the alarm database's id columns hold
MAX_FIELD_LENGTH = 255
#: largest resource metadata accepted with a sample, as JSON bytes
MAX_METADATA_BYTES = 8192
#: largest |volume| accepted: a sum of squares of 10**100 such values stays finite,
#: so sum, avg and std of any period and selection can be represented
MAX_ABS_VOLUME = 1e100
#: deepest nesting of maps and lists accepted in resource metadata
MAX_METADATA_DEPTH = 16
_MAX_TIMESTAMP_TEXT = 64

_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxlong, _SHOW.maxother = 3, 80, 40, 80
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_SCALARS = frozenset((str, int, float, bool, type(None)))


class SampleError(ValueError):
    """A sample was refused; ``field`` names the attribute that is wrong."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = _SHOW.repr(value)  # bounded in depth and length, whatever the value
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"sample field '{field}': {reason} (got {shown})")


class Rejection(NamedTuple):
    """One refused row of a batch: its position in the input and why."""

    index: int
    field: str
    reason: str


@dataclasses.dataclass(slots=True)
class Sample:
    """One measurement of one meter for one resource."""

    name: str
    volume: float
    resource_id: str
    type: str = GAUGE
    unit: str = ""
    project_id: str | None = None
    user_id: str | None = None
    timestamp: Any = None  # float epoch seconds, datetime or ISO 8601 text; None = now
    resource_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    source: str = DEFAULT_SOURCE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        """Build a sample from a mapping; accepts Ceilometer's ``counter_*`` names."""
        if not isinstance(data, Mapping):
            raise SampleError("sample", data, "must be a mapping")

        def pick(*names: str, default: Any = None) -> Any:
            for name in names:
                if name in data:
                    return data[name]
            return default

        return cls(
            name=pick("name", "counter_name", "meter"),
            volume=pick("volume", "counter_volume", "value"),
            resource_id=pick("resource_id"),
            type=pick("type", "counter_type", default=GAUGE),
            unit=pick("unit", "counter_unit", default=""),
            project_id=pick("project_id"),
            user_id=pick("user_id"),
            timestamp=pick("timestamp"),
            resource_metadata=pick("resource_metadata", "metadata", default={}),
            source=pick("source", default=DEFAULT_SOURCE),
        )


def to_epoch(value: Any) -> float:
    """Convert a timestamp (epoch seconds, datetime, ISO 8601 text) to UTC epoch seconds.

    Naive datetimes and texts without an offset are taken as UTC, as
    Ceilometer does.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = dt.datetime.fromisoformat(text)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - _EPOCH).total_seconds()
    raise TypeError(f"not a timestamp: {value!r}")


class SampleValidator:
    """Checks samples against a store's window and limits.

    ``retention`` bounds how old a sample may be, ``max_clock_skew`` how far
    in the future; ``max_metadata_bytes`` bounds the JSON size of the
    resource metadata and ``max_field_length`` the length of every text field.
    Volumes are bounded by :data:`MAX_ABS_VOLUME` and metadata nesting by
    :data:`MAX_METADATA_DEPTH`.
    """

    def __init__(self, retention: float, max_clock_skew: float,
                 max_metadata_bytes: int = MAX_METADATA_BYTES,
                 max_field_length: int = MAX_FIELD_LENGTH) -> None:
        self.retention = float(retention)
        self.max_clock_skew = float(max_clock_skew)
        self.max_metadata_bytes = int(max_metadata_bytes)
        self.max_field_length = int(max_field_length)

    def window(self, now: float) -> tuple[float, float]:
        """The oldest and newest timestamps a sample may carry at ``now``."""
        return now - self.retention, now + self.max_clock_skew

    def check_identity(self, sample: Sample) -> None:
        """Check the fields that name the series: name, resource, type, ids, unit."""
        self.check_text("name", sample.name, "a meter name is required")
        self.check_text("resource_id", sample.resource_id, "a resource_id is required")
        if not isinstance(sample.type, str) or sample.type not in METER_TYPES:
            raise SampleError("type", sample.type,
                              "must be one of " + ", ".join(sorted(METER_TYPES)))
        for field in ("project_id", "user_id"):
            value = getattr(sample, field)
            if value is not None:
                self.check_text(field, value, "must be text or null", empty=True)
        self.check_text("unit", sample.unit, "must be text", empty=True)
        self.check_text("source", sample.source, "must be text", empty=True)

    def check_text(self, field: str, value: Any, missing: str, empty: bool = False) -> None:
        """A text field: a str, bounded, no NUL character, UTF-8 encodable."""
        if not isinstance(value, str) or not (value or empty):
            raise SampleError(field, value, missing)
        if len(value) > self.max_field_length:
            raise SampleError(field, f"<{len(value)} characters>",
                              f"longer than {self.max_field_length} characters")
        if "\x00" in value:
            raise SampleError(field, value, "must not hold a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SampleError(field, value, "must be valid Unicode text "
                              "(it holds an unpaired surrogate)") from None

    @staticmethod
    def check_volume(volume: Any) -> float:
        if isinstance(volume, bool) or not isinstance(volume, (int, float)):
            try:
                if isinstance(volume, bool) or volume is None:
                    raise TypeError
                if isinstance(volume, str) and len(volume) > _MAX_TIMESTAMP_TEXT:
                    raise ValueError
                volume = float(volume)
            except Exception:  # whatever a foreign object's __float__ raises
                raise SampleError("volume", volume, "must be a number") from None
        try:
            volume = float(volume)
        except OverflowError:  # an int beyond any float
            raise SampleError("volume", volume, "must be a finite number") from None
        if not math.isfinite(volume):
            raise SampleError("volume", volume, "must be a finite number")
        if abs(volume) > MAX_ABS_VOLUME:
            raise SampleError("volume", volume,
                              f"must lie within +/-{MAX_ABS_VOLUME:g}, so that sums stay finite")
        return volume

    def check_timestamp(self, value: Any, now: float) -> float:
        if value is None:
            return now
        try:
            if isinstance(value, str) and len(value) > _MAX_TIMESTAMP_TEXT:
                raise ValueError
            ts = to_epoch(value)
        except (TypeError, ValueError, OverflowError):
            raise SampleError("timestamp", value,
                              "must be epoch seconds, a datetime or ISO 8601 text") from None
        if not math.isfinite(ts):
            raise SampleError("timestamp", value, "must be a finite time")
        if ts < now - self.retention:
            raise SampleError("timestamp", value,
                              f"older than the retention of {self.retention:g} s")
        if ts > now + self.max_clock_skew:
            raise SampleError("timestamp", value,
                              f"more than {self.max_clock_skew:g} s in the future")
        return ts

    def check_metadata(self, metadata: Any) -> None:
        if not isinstance(metadata, Mapping):
            raise SampleError("resource_metadata", metadata, "must be a mapping")
        if not metadata:
            return
        if type(metadata) is dict:
            # the common case at one pass: a JSON text opening no more than
            # MAX_METADATA_DEPTH maps and lists cannot nest deeper; anything else
            # (a failure, more brackets, perhaps only inside texts) takes the long way
            try:
                text = json.dumps(metadata)
            except (TypeError, ValueError, OverflowError, RecursionError):
                text = None
            if text is not None and text.count("{") + text.count("[") <= MAX_METADATA_DEPTH:
                if len(text) > self.max_metadata_bytes:
                    raise SampleError("resource_metadata", f"<{len(text)} bytes>",
                                      f"larger than {self.max_metadata_bytes} bytes")
                return
        try:
            depth = nesting_depth(metadata, MAX_METADATA_DEPTH)
        except Exception as exc:  # a foreign mapping that fails while read
            raise SampleError("resource_metadata", "<mapping>",
                              f"cannot be read: {type(exc).__name__}") from None
        if depth > MAX_METADATA_DEPTH:
            raise SampleError("resource_metadata", "<nested map>",
                              f"nested deeper than {MAX_METADATA_DEPTH} levels")
        try:
            size = len(json.dumps(metadata))
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise SampleError("resource_metadata", metadata,
                              f"holds a value JSON cannot carry: {exc}") from None
        if size > self.max_metadata_bytes:
            raise SampleError("resource_metadata", f"<{size} bytes>",
                              f"larger than {self.max_metadata_bytes} bytes")


def nesting_depth(value: Any, limit: int) -> int:
    """How deep maps and lists nest in ``value`` (a scalar is 0), counted up to
    ``limit + 1`` without recursion, so a hostile depth costs no stack."""
    deepest = 0
    pending = [(value, 1)] if isinstance(value, (Mapping, list, tuple)) else []
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = item.values() if isinstance(item, Mapping) else item
        pending.extend((child, depth + 1) for child in children
                       if type(child) not in _SCALARS  # the common case, without ABC checks
                       and isinstance(child, (Mapping, list, tuple)))
    return deepest
