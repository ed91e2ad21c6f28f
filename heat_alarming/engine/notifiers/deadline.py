"""One wall-clock deadline per delivery attempt: ``notification_timeout`` in all.

requests' (and keystoneauth1's) ``timeout`` bounds each socket operation, not
a call: a receiver that answers one byte every half second, or a keystone
that answers each of four calls just in time, would hold a delivery thread
many times the timeout.  A :class:`Deadline` is made when an attempt starts
and gives each step (name resolution, keystone calls, connect, send, read)
only the time that is left; the connections it opens are made through a
:class:`DeadlineAdapter`, and when the deadline passes a timer shuts their
sockets down, so that whatever step is blocked on them fails at once.  The
attempt then fails with a retryable :class:`DeliveryError` saying it "timed
out after N s".
"""
from __future__ import annotations

import socket
import threading
import time

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from heat_alarming.engine.notifiers import DeliveryError


class Deadline:
    """``seconds`` from now (``time.monotonic``: real time, for real sockets).

    Use it as a context manager around the attempt: the timer that shuts the
    watched connections down runs inside it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._end = time.monotonic() + self.seconds
        self._lock = threading.Lock()
        self._connections: list = []
        self._timer: threading.Timer | None = None
        self.expired = False

    def error(self, what: str = "") -> DeliveryError:
        return DeliveryError(f"{what}timed out after {self.seconds:g} s")

    def remaining(self, what: str = "") -> float:
        """Seconds left; raises the (retryable) time-out when none are."""
        left = self._end - time.monotonic()
        if left <= 0 or self.expired:
            raise self.error(what)
        return left

    def watch(self, connection) -> None:
        """Shut ``connection`` (a urllib3 connection) down when the deadline passes."""
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _shut(connection)

    def __enter__(self) -> Deadline:
        self._timer = threading.Timer(max(self._end - time.monotonic(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:  # the plain socket's shutdown, also under TLS: it wakes a blocked read or write
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watching(pool_class: type, deadline: Deadline) -> type:
    class WatchedPool(pool_class):
        def _new_conn(self):
            connection = super()._new_conn()
            deadline.watch(connection)
            return connection
    return WatchedPool


class DeadlineAdapter(HTTPAdapter):
    """Opens its connections under ``deadline`` (no retries: the dispatcher retries)."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _watching(HTTPConnectionPool, self.deadline),
            "https": _watching(HTTPSConnectionPool, self.deadline)}
