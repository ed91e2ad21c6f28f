"""heat-engine's real :class:`MeteringListener` on the real RabbitMQ, for the tests.

``running_listener(transport_url, topic, secret)`` starts the listener as
heat-engine runs it (a batch listener in a pool of its own, checking
signatures when given a secret), waits until its consumer is on its pool's
queue (the broker's fact, :func:`tests.support.rabbit.queue_facts`), and stops it
when the block ends.  What it delivers is kept in its :class:`Deliveries`;
:func:`wait_counts` and :meth:`Deliveries.wait_for` wait on the listener's own
counters and deliveries, never on a sleep.
"""
from __future__ import annotations

import contextlib
import threading
import uuid

from heat_alarming.metering.sample import Sample, SampleValidator
from heat_alarming.resources.embedded import select_threading_backend
from tests.support import rabbit

select_threading_backend()  # as heat-engine does, before oslo.messaging is imported

#: the store's window and clock skew the listener's validator checks against
RETENTION, MAX_CLOCK_SKEW = 3600, 300


class Deliveries:
    """The listener's ``deliver`` callback: what it was handed (it calls from up to
    ``threads`` threads at once)."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.ids: list[str] = []
        self.projects: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, project_id: str, samples: list[Sample], message_ids: list[str]):
        with self._lock:
            self.samples.extend(samples)
            self.ids.extend(message_ids)
            self.projects.extend([project_id] * len(samples))

    def named(self, name: str, project_id: str | None = None) -> list[Sample]:
        """The samples of meter ``name`` delivered so far (of ``project_id`` only, if
        given), as delivered to that project."""
        with self._lock:
            pairs = list(zip(self.projects, self.samples))
        return [s for p, s in pairs
                if s.name == name and (project_id is None or p == project_id)]

    def wait_for(self, names, project_id: str | None = None, deadline: float = 20.0):
        """{name: samples} once every meter of ``names`` has been delivered."""
        def delivered():
            got = {name: self.named(name, project_id) for name in names}
            return all(got.values()) and got
        return rabbit.wait_for(delivered, deadline=deadline,
                               what=f"deliveries of {', '.join(names)}")


def metering_listener(transport, deliver, topic: str, secret: str | None, **kwargs):
    """A MeteringListener on ``topic`` of ``transport`` in a pool of its own (not
    started)."""
    from heat_alarming.engine.listener import MeteringListener

    kwargs.setdefault("batch_timeout", 0.05)
    kwargs.setdefault("pool", f"pool-{uuid.uuid4().hex[:8]}")
    return MeteringListener(transport, deliver, SampleValidator(RETENTION, MAX_CLOCK_SKEW),
                            topic=topic, secret=secret, **kwargs)


@contextlib.contextmanager
def running_listener(transport_url: str, topic: str, secret: str | None, **kwargs):
    """A started MeteringListener (``.deliveries``: its Deliveries) with a consumer on
    its pool's queue; stopped, and its transport cleaned up, when the block ends."""
    transport = rabbit.notification_transport(transport_url, rabbit_qos_prefetch_count=50)
    try:
        deliveries = Deliveries()
        listener = metering_listener(transport, deliveries, topic, secret, **kwargs)
        listener.deliveries = deliveries
        listener.start()
        try:
            rabbit.wait_for(lambda: (rabbit.queue_facts(transport_url, listener.pool)
                                     or (0,))[0] >= 1,
                            what=f"a consumer on {listener.pool}")
            yield listener
        finally:
            listener.stop()
    finally:
        transport.cleanup()


def wait_counts(listener, deadline: float = 20.0, **expected):
    """The listener's counters once each named one has reached its value."""
    def reached():
        counts = listener.counters()
        return all(counts[k] >= v for k, v in expected.items()) and counts
    return rabbit.wait_for(reached, deadline=deadline,
                           what=f"the listener's counters {expected}")
