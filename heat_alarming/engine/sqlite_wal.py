"""SQLite: a round's write-ahead log copied back into the database file off its commit.

SQLite in WAL mode checkpoints (copies the log's pages into the database file, then
syncs that file) at the commit that takes the log past ``wal_autocheckpoint`` pages,
1,000 by default. A round of 10,000 transitions writes more than that, so every such
round's commit would also run a checkpoint: measured, about 60 % of the commit. The
alarm store turns SQLite's own checkpoint off for the commits of its rounds alone
(:func:`checkpoint_deferred`) and asks a :class:`Checkpointer` to run it on a thread
of its own instead, while the evaluator goes on. Every other commit of the file, in
this process or another (the CLI), checkpoints as SQLite does.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

#: seconds a checkpointer's thread waits for the next request before it ends (the next
#: request starts another): a store that stops writing leaves no thread behind for long
IDLE_SECONDS = 30.0


@contextlib.contextmanager
def checkpoint_deferred(connection: sqlite3.Connection):
    """The commits made meanwhile on ``connection`` run no checkpoint; SQLite's
    automatic checkpoint is back as it was afterwards."""
    (pages,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
    connection.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")


class Checkpointer:
    """Checkpoints one SQLite database file on a thread of its own, when asked.

    Contract: :meth:`ask` after a commit made under :func:`checkpoint_deferred`; the
    thread then runs one PASSIVE checkpoint, which waits for no reader or writer
    (pages a reader still needs stay in the log for the next one). Requests made
    while a checkpoint runs are folded into one more. The thread starts at the first
    request and ends after ``IDLE_SECONDS`` without one; :meth:`close` ends it after
    the checkpoint in progress (the last connection to close a SQLite file
    checkpoints it anyway). A checkpoint that fails is logged, and the next request
    tries again. ``completed`` counts the checkpoints run; :meth:`wait_idle` waits
    until none is asked for or running (a benchmark's quiet start).
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path, self._busy_timeout = path, busy_timeout
        self._asked = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle = threading.Event()  # nothing asked for, nothing running
        self._idle.set()
        self.completed = 0

    def ask(self) -> None:
        """Have the log checkpointed soon (returns at once)."""
        with self._lock:
            if self._closed:
                return
            self._idle.clear()
            self._asked.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"alarm-store-checkpoint {self._path}")
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the checkpoint it runs, if any); no more requests."""
        with self._lock:
            self._closed, thread = True, self._thread
            self._asked.set()
        if thread is not None:
            thread.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no checkpoint is asked for or running: True, or False when
        ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        connection = None
        try:
            while self._wanted():
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, check_same_thread=False,
                                                     timeout=self._busy_timeout)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.completed += 1
                except sqlite3.Error as exc:
                    LOG.warning("Checkpointing the alarm database %s failed: %s",
                                self._path, exc)
        finally:
            if connection is not None:
                connection.close()

    def _wanted(self) -> bool:
        """Wait for a request: True to run a checkpoint, False to end the thread
        (closed, or idle for ``IDLE_SECONDS``)."""
        with self._lock:
            if not self._asked.is_set():
                self._idle.set()
        while not self._asked.wait(IDLE_SECONDS):
            with self._lock:
                if not self._asked.is_set():  # (a request now would start a new thread)
                    self._thread = None
                    return False
        self._asked.clear()
        if self._closed:
            self._idle.set()
            return False
        return True
