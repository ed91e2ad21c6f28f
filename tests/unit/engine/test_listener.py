"""The messaging ingress: Ceilometer 27's notifier:// publisher into MeteringListener.

Every notification here is sent by Ceilometer's own publisher code
(tests/support/ceilometer.py), or by a bare oslo.messaging notifier for what
Ceilometer never sends, over the real RabbitMQ in a vhost of this module's own;
each test has its own topic and pools.  Tests wait on the listener's counters and
deliveries with deadlines.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine import listener as listener_module
from heat_alarming.engine.listener import (
    MessageIds,
    MeteringListener,
    ceilometer_signature,
    check_signature,
    listener_from_conf,
)
from heat_alarming.metering import RollingStore
from heat_alarming.metering.sample import SampleValidator, to_epoch
from heat_alarming.resources.embedded import select_threading_backend
from tests.support import rabbit
from tests.support.ceilometer import CeilometerPublisher, meter

select_threading_backend()  # as heat-engine does, before oslo.messaging is imported

SECRET = "ceilometer-telemetry-secret"


class Deliveries:
    """The deliver callback: records each (project, samples) call and the ids."""

    def __init__(self, fail_first: set[str] | None = None) -> None:
        self.calls: list[tuple[str, list]] = []
        self.ids: list[str] = []
        self.fail_first = set(fail_first or ())
        self.lock = threading.Lock()

    def __call__(self, project_id, samples, message_ids):
        with self.lock:
            if project_id in self.fail_first:
                self.fail_first.discard(project_id)
                raise RuntimeError("journal unavailable")
            assert len(message_ids) == len(samples), "one id per sample"
            self.calls.append((project_id, list(samples)))
            self.ids.extend(message_ids)

    def samples(self, project_id=None):
        with self.lock:
            return [s for p, ss in self.calls for s in ss if project_id in (None, p)]

    def total(self):
        return len(self.samples())


@pytest.fixture(scope="module")
def rabbit_url():
    with rabbit.temporary_vhost() as url:
        yield url


@pytest.fixture
def topic():
    return f"metering-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def listeners(rabbit_url, topic):
    """``listeners(deliver, **kwargs)``: a started MeteringListener on ``topic`` (its own
    transport, prefetch 10); every one is stopped when the test ends."""
    made = []

    def make(deliver, prefetch=10, **kwargs):
        transport = rabbit.notification_transport(rabbit_url,
                                                  rabbit_qos_prefetch_count=prefetch)
        kwargs.setdefault("pool", f"pool-{uuid.uuid4().hex[:8]}")
        kwargs.setdefault("batch_timeout", 0.1)
        listener = MeteringListener(transport, deliver, SampleValidator(3600, 300),
                                    topic=topic, **kwargs)
        made.append((listener, transport))
        listener.start()
        rabbit.wait_for(lambda: (rabbit.queue_facts(rabbit_url, listener.pool) or (0,))[0]
                        >= 1, what=f"a consumer on {listener.pool}")
        return listener
    yield make
    for listener, transport in made:
        listener.stop()
        transport.cleanup()


@pytest.fixture
def publisher(rabbit_url, topic):
    """``publisher(secret=SECRET)``: Ceilometer's notifier:// publisher on ``topic``;
    every one is closed when the test ends."""
    made = []

    def make(secret=SECRET):
        made.append(CeilometerPublisher(rabbit_url, topic, secret))
        return made[-1]
    yield make
    for one in made:
        one.close()


def wait_counts(listener, **expected):
    def reached():
        counts = listener.counters()
        return all(counts[k] >= v for k, v in expected.items()) and counts
    counts = rabbit.wait_for(reached, what=f"counters {expected}")
    return counts


# -- the signature ------------------------------------------------------------------

def test_our_signature_is_ceilometers_for_every_shape_of_message():
    from ceilometer.publisher import utils

    shapes = [
        {"display_name": "web-1", "metering.server_group": "g"},
        {"nested": {"deeper": {"x": 1, "y": [1, 2.5, None]}}, "flag": True},
        {"list": ["a", {"k": "v", "b": ["é", 3]}, [None, False]], "n": None},
        {"unicode": "snow ☃ and ü", "int": 10 ** 12, "float": 0.1 + 0.2},
        {},
    ]
    for i, metadata in enumerate(shapes):
        message = utils.meter_message_from_counter(
            meter(metadata=metadata, volume=[1, 2.0, -3][i % 3]), SECRET)
        received = json.loads(json.dumps(message))  # as the bus hands it over
        assert ceilometer_signature(received, SECRET) == received["message_signature"]
        assert ceilometer_signature(received, SECRET) == utils.compute_signature(
            received, SECRET)
        assert check_signature(received, SECRET) is None
        tampered = dict(received, counter_volume=received["counter_volume"] + 1)
        assert check_signature(tampered, SECRET) == "forged"
        assert check_signature(dict(received, message_signature=""), SECRET) == "unsigned"
        assert check_signature({k: v for k, v in received.items()
                                if k != "message_signature"}, SECRET) == "unsigned"
        assert check_signature(received, "another secret") == "forged"


def test_a_text_ceilometer_cannot_sign_is_forged_not_an_error():
    message = {"project_id": "p", "resource_metadata": {"x": "\ud800"},
               "message_signature": "00"}
    assert check_signature(message, SECRET) == "forged"


# -- delivery -------------------------------------------------------------------------

def test_samples_are_delivered_grouped_per_project_as_checked_samples(listeners, publisher):
    deliveries = Deliveries()
    listener = listeners(deliveries, secret=SECRET)
    ceilometer = publisher()
    now = time.time()
    first = [meter("project-a", volume=i, resource_id=f"server-{i}", timestamp=now - i)
             for i in range(3)] + [meter("project-b", volume=7, unit="B")]
    second = [meter("project-b", volume=8), meter("project-a", volume=9.5)]
    ceilometer.publish(first)
    ceilometer.publish(second)

    counts = wait_counts(listener, accepted=6)
    assert counts["received"] == counts["accepted"] == 6
    assert counts["notifications"] == 2
    for project, samples in deliveries.calls:
        assert {s.project_id for s in samples} == {project}
    a = sorted(deliveries.samples("project-a"), key=lambda s: s.volume)
    assert [s.volume for s in a] == [0.0, 1.0, 2.0, 9.5]
    assert sorted(s.volume for s in deliveries.samples("project-b")) == [7.0, 8.0]
    sent = first[1]
    got = next(s for s in a if s.volume == 1.0)
    assert (got.name, got.resource_id, got.type, got.unit, got.user_id, got.source) == (
        sent.name, sent.resource_id, sent.type, sent.unit, sent.user_id, sent.source)
    assert got.timestamp == pytest.approx(to_epoch(sent.timestamp))
    assert dict(got.resource_metadata) == sent.resource_metadata


def test_samples_of_equal_metadata_share_one_map_and_keep_their_own_values():
    # handle() alone (no bus): the payloads as the bus decodes them, signed by Ceilometer
    from ceilometer.publisher import utils

    deliveries = Deliveries()
    listener = MeteringListener(None, deliveries, SampleValidator(3600, 300), secret=SECRET)
    web, db = {"group": "web", "flavor": {"vcpus": 1}}, {"group": "db"}
    payload = [json.loads(json.dumps(utils.meter_message_from_counter(
        meter(project, volume=i, resource_id=f"server-{i % 2}", metadata=metadata), SECRET)))
        for i, (project, metadata) in enumerate(
            [("project-a", web), ("project-b", web), ("project-a", db), ("project-a", web)])]
    assert listener.handle([payload])
    got = sorted(deliveries.samples(), key=lambda s: s.volume)
    assert [s.resource_metadata for s in got] == [web, web, db, web]
    assert got[0].resource_metadata is got[1].resource_metadata is got[3].resource_metadata
    store = RollingStore(10, 3600)
    for _, samples in deliveries.calls:
        assert store.ingest(samples).accepted == len(samples)
    assert len(store) == 3  # project-a: server-0 and server-1; project-b: server-1


def test_delivered_samples_go_into_a_store_as_they_are(listeners, publisher):
    store = RollingStore(10, 3600)
    results = []
    listener = listeners(lambda project, samples, ids: results.append(store.ingest(samples)),
                         secret=SECRET)
    publisher().publish([meter("p1", volume=i, resource_id=f"server-{i % 3}")
                         for i in range(30)])
    wait_counts(listener, accepted=30)
    assert sum(r.accepted for r in results) == 30
    assert [r.rejected for r in results] == [[]] * len(results)
    assert len(store) == 3


def test_ceilometers_user_metadata_is_matched_by_every_spelling_heat_and_aodh_use(
        listeners, publisher):
    """Ceilometer's compute samples carry a server's ``metering.server_group`` as
    ``resource_metadata.user_metadata.server_group``: Heat's matching_metadata
    (``metering.server_group``) and Aodh's query field
    (``metadata.user_metadata.server_group``) both select the group's servers only."""
    store = RollingStore(10, 3600)
    listener = listeners(lambda project, samples, ids: store.ingest(samples), secret=SECRET)
    now = time.time()
    publisher().publish(
        [meter("p1", volume=90.0, resource_id=f"web-{i}", timestamp=now - 5,
               metadata={"display_name": f"web-{i}",
                         "user_metadata": {"server_group": "stack-1"}}) for i in range(2)]
        + [meter("p1", volume=10.0, resource_id="db-1", timestamp=now - 5,
                 metadata={"display_name": "db-1",
                           "user_metadata": {"server_group": "stack-2"}})])
    wait_counts(listener, accepted=3)
    for selection in ({"matching_metadata": {"metering.server_group": "stack-1"}},
                      {"matching_metadata": {"metadata.user_metadata.server_group":
                                             "stack-1"}},
                      {"query": [{"field": "metadata.user_metadata.server_group",
                                  "op": "eq", "value": "stack-1"}]}):
        stats = store.statistics("cpu_util", period=60, start=now - 60, end=now + 60,
                                 project_id="p1", **selection)
        assert stats.series == 2, selection
        assert [r["avg"] for r in stats.rows()] == [90.0], selection


def test_forged_and_unsigned_messages_are_dropped_counted_and_logged_rarely(
        listeners, publisher, caplog):
    deliveries = Deliveries()
    listener = listeners(deliveries, secret=SECRET)
    caplog.set_level(logging.WARNING, logger="heat_alarming.engine.listener")
    forger, unsigned, ceilometer = publisher("a guessed secret"), publisher(""), publisher()
    for _ in range(5):
        forger.publish([meter("victim", volume=99) for _ in range(4)])
        unsigned.publish([meter("victim", volume=98) for _ in range(4)])
    ceilometer.publish([meter("victim", volume=1)])

    counts = wait_counts(listener, forged=20, unsigned=20, accepted=1)
    assert (counts["forged"], counts["unsigned"], counts["accepted"]) == (20, 20, 1)
    assert [s.volume for s in deliveries.samples()] == [1.0]
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert 1 <= len(drops) <= 2  # one line per kind and minute, not one per message


def test_without_a_secret_every_message_is_taken_unverified(listeners, publisher):
    deliveries = Deliveries()
    listener = listeners(deliveries, secret=None)
    publisher("").publish([meter("p1")])
    publisher("whatever").publish([meter("p1")])
    wait_counts(listener, accepted=2)
    assert listener.counters()["forged"] == listener.counters()["unsigned"] == 0


def test_a_redelivered_message_is_dropped_as_a_duplicate(listeners, publisher):
    deliveries = Deliveries()
    listener = listeners(deliveries, secret=SECRET)
    ceilometer = publisher()
    samples = [meter("p1", volume=i) for i in range(5)]
    ceilometer.publish(samples)
    wait_counts(listener, accepted=5)
    ceilometer.publish(samples)  # the same message ids, as a retried publish sends them
    ceilometer.publish(samples[:2] + [meter("p1", volume=50)])
    counts = wait_counts(listener, duplicate=7, accepted=6)
    assert (counts["accepted"], counts["duplicate"]) == (6, 7)
    assert sorted(s.volume for s in deliveries.samples()) == [0, 1, 2, 3, 4, 50]


def test_each_bad_message_fails_alone(listeners, publisher, rabbit_url, topic):
    deliveries = Deliveries()
    listener = listeners(deliveries, secret=SECRET, max_messages=50)
    deep = {}
    for _ in range(40):
        deep = {"d": deep}
    bogus = meter("p1")
    bogus.type = "bogus"  # Ceilometer's Sample refuses it; a hostile publisher would not
    publisher().publish([
        meter("p1", volume=1),
        meter("p1", volume="not a number"),
        meter("p1", volume=float("nan")),
        meter("p1", resource_id=None),
        meter("p1", name="x" * 300),
        bogus,
        meter("p1", timestamp=time.time() - 10 * 86400),
        meter("p1", metadata=deep),
        meter(None, volume=5),  # no project: dropped whatever it says
        meter("", volume=5),
        meter("p1", volume=2),
    ])
    # what Ceilometer never sends: not a list, not a mapping, too many messages
    transport = rabbit.notification_transport(rabbit_url, control_exchange="ceilometer")
    try:
        raw = rabbit.raw_notifier(transport, topic)
        raw.sample({}, "metering", {"not": "a list"})
        raw.sample({}, "metering", [1, "two", None])
        raw.sample({}, "metering", [{} for _ in range(51)])
    finally:
        transport.cleanup()

    counts = wait_counts(listener, accepted=2, no_project=2, invalid=11, oversized=51)
    assert counts["invalid"] == 7 + 1 + 3
    assert counts["received"] == 2 + 2 + 11 + 51
    assert sorted(s.volume for s in deliveries.samples()) == [1.0, 2.0]


def test_a_failed_delivery_goes_back_to_the_bus_and_is_delivered_once(
        listeners, publisher, monkeypatch):
    monkeypatch.setattr(listener_module, "REQUEUE_DELAY", 0.05)
    deliveries = Deliveries(fail_first={"flaky"})
    listener = listeners(deliveries, secret=SECRET)
    publisher().publish([meter("flaky", volume=1), meter("steady", volume=2)])
    counts = wait_counts(listener, accepted=2, requeued=1)
    assert counts["duplicate"] == 1  # "steady", delivered the first time
    assert sorted((s.project_id, s.volume) for s in deliveries.samples()) == [
        ("flaky", 1.0), ("steady", 2.0)]


# -- pools ------------------------------------------------------------------------

def test_two_listeners_in_one_pool_share_the_messages(listeners, publisher):
    first, second = Deliveries(), Deliveries()
    pool = f"shared-{uuid.uuid4().hex[:6]}"
    listeners(first, pool=pool, prefetch=1, batch_size=1)
    listeners(second, pool=pool, prefetch=1, batch_size=1)
    ceilometer = publisher()
    for n in range(30):  # each sample's volume names it
        ceilometer.publish([meter(f"p{n % 3}", volume=4 * n + k) for k in range(4)])
    rabbit.wait_for(lambda: first.total() + second.total() >= 120, what="120 samples")
    got_first = {s.volume for s in first.samples()}
    got_second = {s.volume for s in second.samples()}
    assert first.total() + second.total() == 120
    assert got_first | got_second == set(map(float, range(120)))
    assert not got_first & got_second
    assert first.total() > 0 and second.total() > 0


def test_another_pool_gets_its_own_copy(listeners, publisher):
    ours, theirs = Deliveries(), Deliveries()
    listeners(ours, pool="heat-alarming-" + uuid.uuid4().hex[:6])
    listeners(theirs, pool="someone-else-" + uuid.uuid4().hex[:6])
    publisher().publish([meter("p1", volume=i) for i in range(10)])
    rabbit.wait_for(lambda: ours.total() == 10 and theirs.total() == 10,
                    what="10 samples in each pool")


# -- memory ---------------------------------------------------------------------------

def test_a_flood_of_one_projects_ids_does_not_evict_anothers(listeners, publisher):
    deliveries = Deliveries()
    listener = listeners(deliveries, dedup_ids_per_project=50)
    ceilometer = publisher()
    quiet = [meter("quiet", volume=i) for i in range(20)]
    ceilometer.publish(quiet)
    flood = [meter("flooder", volume=i) for i in range(500)]
    for start in range(0, 500, 100):
        ceilometer.publish(flood[start:start + 100])
    wait_counts(listener, accepted=520)
    ceilometer.publish(quiet)  # still remembered: all duplicates
    ceilometer.publish(flood[:20])  # pushed out by the project's own later ids
    counts = wait_counts(listener, duplicate=20, accepted=540)
    assert (counts["duplicate"], counts["accepted"]) == (20, 540)
    assert len(listener.ids) <= 50 + 50


def test_message_ids_are_bounded_per_project_and_in_projects():
    ids = MessageIds(per_project=3, projects=2)
    assert all(ids.claim("a", f"m{i}") for i in range(3))
    assert not ids.claim("a", "m0")
    assert ids.claim("a", "m3")  # m0 forgotten: the project's oldest
    assert ids.claim("a", "m0")
    assert ids.claim("b", "m0")  # another project's ids are its own
    ids.release("b", ["m0"])
    assert ids.claim("b", "m0")
    assert ids.claim("c", "x")  # a third project: the least recently heard (a) goes
    assert ids.claim("a", "m3")
    assert len(ids) <= 2 * 3


# -- life and configuration -------------------------------------------------------------

def test_a_stopped_listener_leaves_the_queue_and_its_messages_for_the_next(
        listeners, publisher, rabbit_url):
    deliveries = Deliveries()
    pool = "restart-" + uuid.uuid4().hex[:6]
    listener = listeners(deliveries, pool=pool)
    listener.stop()
    rabbit.wait_for(lambda: rabbit.queue_facts(rabbit_url, pool) == (0, 0),
                    what="no consumer on the pool's queue")
    publisher().publish([meter("p1", volume=i) for i in range(3)])
    rabbit.wait_for(lambda: rabbit.queue_facts(rabbit_url, pool) == (0, 1),
                    what="the notification waiting in the queue")
    assert deliveries.total() == 0
    again = Deliveries()
    listeners(again, pool=pool)
    rabbit.wait_for(lambda: again.total() == 3, what="the waiting samples delivered")


def test_listener_from_conf_is_off_unless_switched_on_and_wires_in_three_lines(
        rabbit_url, publisher, topic):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    deliveries = Deliveries()
    assert listener_from_conf(conf, None, deliveries) is None

    for name, value in {"metering_listener": True, "metering_transport_url": rabbit_url,
                        "metering_topic": topic, "telemetry_secret": SECRET,
                        "metering_pool": "conf-" + uuid.uuid4().hex[:6],
                        "metering_batch_timeout": 0.1}.items():
        conf.set_override(name, value, group=opts.GROUP)
    listener = listener_from_conf(conf, None, deliveries)
    listener.start()
    try:
        rabbit.wait_for(lambda: (rabbit.queue_facts(rabbit_url, listener.pool) or (0,))[0])
        publisher().publish([meter("p1", volume=3), meter("p2", volume=4)])
        publisher("forged").publish([meter("p1", volume=5)])
        counts = wait_counts(listener, accepted=2, forged=1)
        assert counts["accepted"] == 2
        assert listener.validator.retention == conf[opts.GROUP].store_retention
    finally:
        listener.stop()
