"""Crash-safe snapshots of a :class:`RollingStore`.

A snapshot file is ``MAGIC | payload length | CRC-32 | payload`` where the
payload is an uncompressed ``.npz`` holding the arrays plus a JSON
description.  Writing goes to a temporary file that is fsync'ed and renamed
over the previous snapshot, which is kept as ``<path>.prev``; so a SIGKILL
at any point leaves at least one complete snapshot, and a reader that finds
a torn or corrupt file (bad magic, short, CRC mismatch) falls back to the
previous one, or to an empty store, instead of failing.

A snapshot may carry ``extra``: a JSON-able description that its writer keeps
consistent with the arrays (a heat-engine worker stores the sample-journal
position the store reflects, so that a restore plus the journal never count a
sample twice).  :func:`claim_slot` gives each of several processes that share
one configured path a file of its own.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable

import numpy as np
from oslo_log import log as logging

from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.store import RollingStore

LOG = logging.getLogger(__name__)

MAGIC = b"HALSNAP1"
_HEADER = struct.Struct("<8sQI")


class SnapshotError(ValueError):
    """A snapshot file is unreadable; the message says why."""


def write_snapshot(store: RollingStore, path: str, extra: dict | None = None) -> int:
    """Atomically write ``store`` (and ``extra``) to ``path``; returns the bytes written."""
    meta, arrays = store.export_state()
    return write_state(meta, arrays, path, extra)


def write_state(meta: dict, arrays: dict[str, np.ndarray], path: str,
                extra: dict | None = None) -> int:
    """Atomically write what :meth:`RollingStore.export_state` returned (copied
    under the caller's locks, written outside them)."""
    if extra is not None:
        meta = dict(meta, extra=extra)
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             **arrays)
    payload = buffer.getbuffer()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "wb") as handle:
        handle.write(_HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)))
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    if os.path.exists(path):
        os.replace(path, path + ".prev")
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return _HEADER.size + len(payload)


def read_snapshot(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify one snapshot file; raises :class:`SnapshotError`."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) < _HEADER.size:
        raise SnapshotError(f"{path}: torn file ({len(data)} bytes, shorter than a header)")
    magic, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"{path}: not a heat-alarming snapshot (bad magic)")
    payload = memoryview(data)[_HEADER.size:]
    if len(payload) != length:
        raise SnapshotError(f"{path}: torn file ({len(payload)} of {length} payload bytes)")
    if zlib.crc32(payload) != crc:
        raise SnapshotError(f"{path}: checksum mismatch, the file is corrupt")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (ValueError, KeyError, OSError) as exc:
        raise SnapshotError(f"{path}: unreadable payload ({exc})") from None
    return meta, arrays


def restore_store(path: str, *, clock: Clock = system_clock) -> RollingStore | None:
    """The newest readable snapshot at ``path`` (or ``path.prev``), else None.

    Never raises for a bad file: each unreadable candidate is logged and
    skipped, so a torn snapshot costs at most one snapshot interval.
    """
    restored = restore_snapshot(path, clock=clock)
    return None if restored is None else restored[0]


def load_snapshot(path: str, *,
                  clock: Clock = system_clock) -> tuple[RollingStore, dict, dict]:
    """The store of the snapshot at ``path`` (no fallback), its ``extra`` ({} if none)
    and its description; :class:`SnapshotError` (naming the file and why) for a file
    that is torn, corrupt or not a store snapshot this release can read."""
    meta, arrays = read_snapshot(path)
    extra = meta.get("extra", {})
    if not isinstance(extra, dict):
        raise SnapshotError(f"{path}: extra is not a mapping")
    try:
        store = RollingStore.from_state(meta, arrays, clock=clock)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SnapshotError(f"{path}: not a store snapshot this release can read "
                            f"({type(exc).__name__}: {exc})") from None
    return store, extra, meta


def restore_snapshot(path: str, *,
                     clock: Clock = system_clock) -> tuple[RollingStore, dict] | None:
    """As :func:`restore_store`, with the snapshot's ``extra`` ({} if none)."""
    for candidate in (path, path + ".prev"):
        if not os.path.exists(candidate):
            continue
        try:
            store, extra, _ = load_snapshot(candidate, clock=clock)
        except SnapshotError as exc:
            LOG.warning("Skipping snapshot %s: %s", candidate, exc)
            continue
        LOG.info("Restored %d series from snapshot %s", len(store), candidate)
        return store, extra
    return None


def claim_slot(path: str, limit: int = 1024) -> tuple[int, str, int]:
    """The first of ``path.0``, ``path.1``... that no other live process holds.

    Several processes (the workers of one heat-engine) configured with one
    ``path`` get one file each: a slot is held by an exclusive ``flock`` on
    ``<path>.<n>.lock`` for as long as the returned descriptor stays open, and a
    process that died frees its slot with its descriptors. Returns (slot, the
    snapshot path of the slot, the lock descriptor to close on release).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    for slot in range(limit):
        fd = os.open(f"{path}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return slot, f"{path}.{slot}", fd
    raise SnapshotError(f"{path}: all {limit} snapshot slots are held by live processes")


class PeriodicSnapshotter:
    """Snapshots a store every ``interval`` seconds and once more on stop."""

    def __init__(self, store: RollingStore, path: str, interval: float = 30.0,
                 on_snapshot: Callable[[int], None] | None = None) -> None:
        if interval <= 0:
            raise ValueError(f"interval: {interval!r} must be > 0 seconds")
        self.store = store
        self.path = path
        self.interval = float(interval)
        self.on_snapshot = on_snapshot
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot_now(self) -> int:
        started = time.monotonic()
        size = write_snapshot(self.store, self.path)
        LOG.debug("Snapshot of %d series to %s: %d bytes in %.3f s", len(self.store),
                  self.path, size, time.monotonic() - started)
        if self.on_snapshot is not None:
            self.on_snapshot(size)
        return size

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.snapshot_now()
            except Exception:  # a failed snapshot must not end the loop
                LOG.exception("Snapshot to %s failed; will retry", self.path)

    def start(self) -> PeriodicSnapshotter:
        self._thread = threading.Thread(target=self._run, name="store-snapshotter",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop and take a final snapshot (the shutdown snapshot)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.snapshot_now()
