"""A batch of samples as columns, built once from checked samples.

:class:`SampleBatch` holds a batch the way the store ingests it: volumes and
timestamps as float64 arrays, and per sample the code of its series
descriptor (meter, resource, project, type, unit, user, source, metadata),
each distinct descriptor held once.  A Heat signal's rows are read into
:class:`~heat_alarming.metering.sample.Sample` objects and checked once; the
batch built from them then travels (the sample journal stores
:meth:`SampleBatch.encode`'s bytes) and is ingested by
:meth:`~heat_alarming.metering.store.RollingStore.ingest_batch` with no sample
built again.

A batch may carry each sample's message id (Ceilometer's ``message_id``) as a
64-bit digest, ``ids`` (0 for a sample without one), so that the owner of the
samples can drop a message that reached the journal twice, whichever worker
journalled it (:class:`~heat_alarming.engine.worker.Worker`).

The encoding is a fixed header (magic, version, sample count, descriptor
text length), the descriptors as one JSON text, then the volumes, the
timestamps (little-endian float64) and the codes (little-endian uint32), and
in version 2 the id digests (little-endian uint64); version 1 (no ids) is
still read.
:meth:`SampleBatch.decode` trusts nothing: every length, every code and every
descriptor's shape is checked, and a bad payload raises :class:`BatchError`.
The values themselves are checked again by the store that ingests the batch.
"""
from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from heat_alarming.metering.sample import Sample, SampleError, SampleValidator, to_epoch

MAGIC = b"HASB"
VERSION = 2  # 1: no message ids
_HEADER = struct.Struct("<4sBII")  # magic, version, samples, descriptor JSON bytes
_FLOATS, _CODES, _IDS = np.dtype("<f8"), np.dtype("<u4"), np.dtype("<u8")


def id_digests(message_ids: Iterable[str | None]) -> np.ndarray:
    """64-bit digests of message ids (0 for None), the same in every process.

    Unkeyed, since workers compare them: a project that makes two of its own ids
    collide can only drop its own sample, because digests are compared within a
    project.
    """
    blake = hashlib.blake2b
    return np.array([0 if m is None else
                     int.from_bytes(blake(m.encode("utf-8"), digest_size=8).digest(),
                                    "little") or 1
                     for m in message_ids], dtype=np.uint64)


class BatchError(ValueError):
    """An encoded batch that cannot be read back."""


class SeriesDescriptor(NamedTuple):
    """What names a series and the attributes its newest sample sets."""

    name: str
    resource_id: str
    project_id: str | None
    type: str
    unit: str
    user_id: str | None
    source: str
    metadata: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        """The store's series key (meter, resource, project or "")."""
        return (self.name, self.resource_id, self.project_id or "")

    def attrs(self) -> tuple:
        """The store's attribute tuple: (type, unit, user_id, source, metadata)."""
        return (self.type, self.unit, self.user_id, self.source, self.metadata)

    def probe(self) -> Sample:
        """A sample of this series (no value), for the validator and the index."""
        return Sample(self.name, 0.0, self.resource_id, type=self.type, unit=self.unit,
                      project_id=self.project_id, user_id=self.user_id,
                      resource_metadata=self.metadata, source=self.source)


class SampleBatch:
    """Samples as columns: ``volumes`` and ``timestamps`` (float64), ``codes`` (one per
    sample, an index into ``series``, the distinct :class:`SeriesDescriptor` s).

    Immutable by contract (the arrays may be read-only views of an encoded
    payload).  ``len(batch)`` is the number of samples.  ``ids`` is None or one
    message-id digest per sample (:func:`id_digests`, 0 where a sample has none).
    """

    __slots__ = ("series", "codes", "volumes", "timestamps", "ids")

    def __init__(self, series: tuple[SeriesDescriptor, ...], codes: np.ndarray,
                 volumes: np.ndarray, timestamps: np.ndarray,
                 ids: np.ndarray | None = None) -> None:
        if not (codes.shape == volumes.shape == timestamps.shape) or codes.ndim != 1 \
                or (ids is not None and ids.shape != codes.shape):
            raise ValueError("codes, volumes, timestamps and ids must be 1-D arrays of "
                             "one length")
        self.series = series
        self.codes = codes
        self.volumes = volumes
        self.timestamps = timestamps
        self.ids = ids

    def take(self, keep: np.ndarray) -> SampleBatch:
        """The samples where the boolean mask ``keep`` is true (the same series)."""
        return SampleBatch(self.series, self.codes[keep], self.volumes[keep],
                           self.timestamps[keep], None if self.ids is None else
                           self.ids[keep])

    def __len__(self) -> int:
        return int(self.codes.size)

    def __repr__(self) -> str:
        return f"SampleBatch({len(self)} samples of {len(self.series)} series)"

    @classmethod
    def empty(cls) -> SampleBatch:
        """A batch of no samples."""
        return cls((), np.empty(0, np.uint32), np.empty(0), np.empty(0))

    @classmethod
    def from_samples(cls, samples: Iterable[Sample], now: float,
                     project_id: str | None = None,
                     message_ids: Iterable[str | None] | None = None) -> SampleBatch:
        """The batch of checked ``samples``; a sample without a timestamp is ``now``,
        ``project_id`` (when given) is every sample's project, and ``message_ids``
        (when given) the samples' message ids, in order.

        Volumes become floats and timestamps epoch seconds here, once; a value that
        cannot raises :class:`SampleError` (checked samples never do).
        """
        codes: list[int] = []
        volumes: list[float] = []
        times: list[float] = []
        seen: dict[tuple, int] = {}
        series: list[SeriesDescriptor] = []
        check_volume = SampleValidator.check_volume
        # the text of each metadata map once, for samples that share one (the
        # listener's, of one resource): by identity, the map held here so that its id
        # is not reused by another while the samples are read (they may be a generator)
        texts: dict[int, tuple[Any, str]] = {}
        for i, s in enumerate(samples):
            project = s.project_id if project_id is None else project_id
            metadata = s.resource_metadata
            try:
                if not metadata:
                    text = ""
                else:
                    known = texts.get(id(metadata))
                    if known is None:
                        known = texts[id(metadata)] = (
                            metadata, json.dumps(metadata, sort_keys=True))
                    text = known[1]
                key = (s.name, s.resource_id, project, s.type, s.unit, s.user_id, s.source,
                       text)
                code = seen.get(key)
            except (TypeError, ValueError) as exc:
                raise SampleError("sample", f"<row {i}>",
                                  f"not a checked sample ({exc})") from None
            if code is None:
                code = seen[key] = len(series)
                series.append(SeriesDescriptor(s.name, s.resource_id, project, s.type,
                                               s.unit, s.user_id, s.source,
                                               dict(metadata) if metadata else {}))
            codes.append(code)
            volume, ts = s.volume, s.timestamp
            volumes.append(volume if type(volume) is float else check_volume(volume))
            if type(ts) is not float:
                try:
                    ts = now if ts is None else to_epoch(ts)
                except (TypeError, ValueError, OverflowError):
                    raise SampleError("timestamp", ts, "must be epoch seconds, a datetime "
                                      "or ISO 8601 text") from None
            times.append(ts)
        ids = None
        if message_ids is not None:
            ids = id_digests(message_ids)
            if ids.size != len(codes):
                raise ValueError(f"{ids.size} message ids for {len(codes)} samples")
        return cls(tuple(series), np.array(codes, dtype=np.uint32),
                   np.array(volumes, dtype=np.float64), np.array(times, dtype=np.float64),
                   ids)

    # -- columns, expanded per sample (for tests and readers that want them) -----------
    def column(self, field: str) -> list:
        """One descriptor field per sample (``name``, ``resource_id``, ``unit``...)."""
        values = [getattr(d, field) for d in self.series]
        return [values[c] for c in self.codes.tolist()]

    @property
    def names(self) -> list[str]:
        return self.column("name")

    @property
    def resource_ids(self) -> list[str]:
        return self.column("resource_id")

    @property
    def units(self) -> list[str]:
        return self.column("unit")

    @property
    def metadata(self) -> list[Mapping[str, Any]]:
        return self.column("metadata")

    def projects(self) -> set[str | None]:
        """The projects the batch's samples belong to."""
        return {d.project_id for d in self.series}

    def samples(self) -> Iterator[Sample]:
        """The batch as samples again (epoch timestamps, float volumes)."""
        for code, volume, ts in zip(self.codes.tolist(), self.volumes.tolist(),
                                    self.timestamps.tolist()):
            d = self.series[code]
            yield Sample(d.name, volume, d.resource_id, type=d.type, unit=d.unit,
                         project_id=d.project_id, user_id=d.user_id, timestamp=ts,
                         resource_metadata=d.metadata, source=d.source)

    # -- encoding -------------------------------------------------------------------
    def encode(self) -> bytes:
        """The batch as bytes (see the module docstring for the layout)."""
        text = json.dumps([list(d) for d in self.series],
                          separators=(",", ":")).encode("utf-8")
        ids = np.zeros(len(self), _IDS) if self.ids is None else self.ids
        return b"".join((_HEADER.pack(MAGIC, VERSION, len(self), len(text)), text,
                         self.volumes.astype(_FLOATS, copy=False).tobytes(),
                         self.timestamps.astype(_FLOATS, copy=False).tobytes(),
                         self.codes.astype(_CODES, copy=False).tobytes(),
                         ids.astype(_IDS, copy=False).tobytes()))

    @classmethod
    def decode(cls, payload: bytes) -> SampleBatch:
        """A batch from :meth:`encode`'s bytes; :class:`BatchError` if they are not one."""
        payload = bytes(payload)
        if len(payload) < _HEADER.size:
            raise BatchError("sample batch: shorter than its header")
        magic, version, n, text_size = _HEADER.unpack_from(payload)
        if magic != MAGIC or version not in (1, VERSION):
            raise BatchError(f"sample batch: unknown format {magic!r} version {version}")
        start = _HEADER.size
        per_sample = 2 * _FLOATS.itemsize + _CODES.itemsize + (
            _IDS.itemsize if version >= 2 else 0)
        if len(payload) != start + text_size + n * per_sample:
            raise BatchError("sample batch: its length does not match its header")
        try:
            rows = json.loads(payload[start:start + text_size])
            series = tuple(_descriptor(row) for row in rows)
        except (ValueError, TypeError) as exc:
            raise BatchError(f"sample batch: unreadable series ({exc})") from None
        offset = start + text_size
        volumes = np.frombuffer(payload, _FLOATS, n, offset)
        times = np.frombuffer(payload, _FLOATS, n, offset + 8 * n)
        codes = np.frombuffer(payload, _CODES, n, offset + 16 * n)
        ids = np.frombuffer(payload, _IDS, n, offset + 20 * n) if version >= 2 else None
        if n and int(codes.max()) >= len(series):
            raise BatchError("sample batch: a code names no series")
        return cls(series, codes, volumes, times, None if ids is None or not ids.any()
                   else ids)


def _descriptor(row: Any) -> SeriesDescriptor:
    """A descriptor read back; its shape and types only (the store checks the values)."""
    if not isinstance(row, list) or len(row) != len(SeriesDescriptor._fields):
        raise TypeError("a series is a list of 8 fields")
    descriptor = SeriesDescriptor(*row)
    texts = (descriptor.name, descriptor.resource_id, descriptor.type, descriptor.unit,
             descriptor.source)
    if not all(isinstance(t, str) for t in texts) or not all(
            t is None or isinstance(t, str) for t in (descriptor.project_id,
                                                      descriptor.user_id)):
        raise TypeError("a series' fields are texts (project and user: or null)")
    if not isinstance(descriptor.metadata, dict):
        raise TypeError("a series' metadata is a mapping")
    return descriptor
