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
from collections.abc import Mapping
from typing import Any, NamedTuple

GAUGE, CUMULATIVE, DELTA = "gauge", "cumulative", "delta"
METER_TYPES = frozenset((GAUGE, CUMULATIVE, DELTA))
DEFAULT_SOURCE = "heat-alarming"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class SampleError(ValueError):
    """A sample was refused; ``field`` names the attribute that is wrong."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
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
    resource metadata.
    """

    def __init__(self, retention: float, max_clock_skew: float,
                 max_metadata_bytes: int = 8192) -> None:
        self.retention = float(retention)
        self.max_clock_skew = float(max_clock_skew)
        self.max_metadata_bytes = int(max_metadata_bytes)

    def window(self, now: float) -> tuple[float, float]:
        """The oldest and newest timestamps a sample may carry at ``now``."""
        return now - self.retention, now + self.max_clock_skew

    def check_identity(self, sample: Sample) -> None:
        """Check the fields that name the series: name, resource, type."""
        if not isinstance(sample.name, str) or not sample.name:
            raise SampleError("name", sample.name, "a meter name is required")
        if not isinstance(sample.resource_id, str) or not sample.resource_id:
            raise SampleError("resource_id", sample.resource_id,
                              "a resource_id is required")
        if sample.type not in METER_TYPES:
            raise SampleError("type", sample.type,
                              "must be one of " + ", ".join(sorted(METER_TYPES)))
        for field in ("project_id", "user_id"):
            value = getattr(sample, field)
            if value is not None and not isinstance(value, str):
                raise SampleError(field, value, "must be text or null")
        if not isinstance(sample.unit, str):
            raise SampleError("unit", sample.unit, "must be text")
        if not isinstance(sample.source, str):
            raise SampleError("source", sample.source, "must be text")

    @staticmethod
    def check_volume(volume: Any) -> float:
        if isinstance(volume, bool) or not isinstance(volume, (int, float)):
            try:
                if isinstance(volume, bool) or volume is None:
                    raise TypeError
                volume = float(volume)
            except (TypeError, ValueError):
                raise SampleError("volume", volume, "must be a number") from None
        volume = float(volume)
        if not math.isfinite(volume):
            raise SampleError("volume", volume, "must be a finite number")
        return volume

    def check_timestamp(self, value: Any, now: float) -> float:
        if value is None:
            return now
        try:
            ts = to_epoch(value)
        except (TypeError, ValueError):
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
        try:
            size = len(json.dumps(metadata))
        except (TypeError, ValueError) as exc:
            raise SampleError("resource_metadata", metadata,
                              f"holds a value JSON cannot carry: {exc}") from None
        if size > self.max_metadata_bytes:
            raise SampleError("resource_metadata", f"<{size} bytes>",
                              f"larger than {self.max_metadata_bytes} bytes")
