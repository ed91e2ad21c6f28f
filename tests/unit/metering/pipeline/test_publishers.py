"""The publishers: store://, notifier:// (into heat-engine's real listener over the real
RabbitMQ), http(s):// (real loopback servers) and file:// (real files).

notifier:// tests run Ceilometer's format end to end: our publisher sends, our
MeteringListener (the one heat-engine runs) receives, in a vhost of this module's
own, a topic and pool per test; they wait on the listener's counters.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import time
import uuid

import numpy as np
import pytest
import trustme

from heat_alarming.metering import RollingStore
from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.pipeline import base
from heat_alarming.metering.pipeline import publishers as pub
from heat_alarming.metering.pipeline.base import PipelineError, PublishError
from heat_alarming.metering.sample import Sample, to_epoch
from heat_alarming.resources.embedded import select_threading_backend
from tests.support import rabbit
from tests.support.http_answers import AnsweringServer
from tests.support.http_servers import TricklingWebhook, Webhook, free_port
from tests.support.metering_listener import running_listener, wait_counts

select_threading_backend()  # as heat-engine does, before oslo.messaging is imported

SECRET = "telemetry-secret"
METADATA = {"display_name": "web-1", "metering.server_group": "group-1",
            "flavor": {"vcpus": 2, "name": "m1.small"}, "tags": ["a", "é", 3]}


def batch_of(n: int = 6, now: float | None = None, project: str = "project-a",
             resources: int = 3, metadata: dict | None = None) -> SampleBatch:
    """``n`` samples of cpu_util, one a second back from ``now``, over ``resources``
    servers of ``project``."""
    now = time.time() if now is None else now
    return SampleBatch.from_samples(
        [Sample("cpu_util", 10.0 + i * 0.5, f"server-{i % resources}", unit="%",
                project_id=project, user_id="user-1", timestamp=now - i,
                resource_metadata=METADATA if metadata is None else metadata)
         for i in range(n)], now)


def hostile_batch(now: float) -> SampleBatch:
    """Five samples of which three cannot be Ceilometer's JSON (NaN, inf, year 10000)."""
    batch = batch_of(5, now)
    volumes = batch.volumes.copy()
    times = batch.timestamps.copy()
    volumes[1], volumes[2], times[3] = np.nan, np.inf, 253402300800.0 + 10
    return SampleBatch(batch.series, batch.codes, volumes, times)


@pytest.fixture(autouse=True)
def closed_when_done(monkeypatch):
    """Every publisher a test builds is closed when the test ends (its file, session or
    transport), as the pipeline closes its publishers when it stops."""
    made = []
    build = pub._Counting.__init__

    def recording(self, *args, **kwargs):
        made.append(self)
        build(self, *args, **kwargs)
    monkeypatch.setattr(pub._Counting, "__init__", recording)
    yield
    for publisher in made:
        with contextlib.suppress(Exception):  # one that failed to build has nothing open
            publisher.close()


# -- what every publisher sends -----------------------------------------------------

def test_samples_are_ceilometers_dicts_with_iso_utc_timestamps():
    now = 1_800_000_000.25
    batch = batch_of(4, now)
    dicts = pub.sample_dicts(batch)
    assert [d["volume"] for d in dicts] == [10.0, 10.5, 11.0, 11.5]
    first = dicts[0]
    assert first["timestamp"] == "2027-01-15T08:00:00.250000+00:00"
    assert {k: first[k] for k in ("name", "type", "unit", "resource_id", "project_id",
                                  "user_id", "source")} == {
        "name": "cpu_util", "type": "gauge", "unit": "%", "resource_id": "server-0",
        "project_id": "project-a", "user_id": "user-1", "source": "heat-alarming"}
    assert first["resource_metadata"] == METADATA
    assert set(first) == {"source", "name", "type", "unit", "volume", "user_id",
                          "user_name", "project_id", "project_name", "resource_id",
                          "timestamp", "resource_metadata", "id", "monotonic_time"}
    assert [to_epoch(d["timestamp"]) for d in dicts] == pytest.approx(
        batch.timestamps.tolist(), abs=1e-6)


def test_message_ids_depend_on_series_timestamp_and_volume_only():
    now = 1_800_000_000.0
    ids = pub.message_ids(batch_of(6, now))
    assert ids == pub.message_ids(batch_of(6, now)), "the same in every call and process"
    assert len(set(ids)) == 6 and all(len(i) == 32 for i in ids)
    assert pub.message_ids(batch_of(6, now, metadata={"other": 1})) == ids, \
        "metadata is not part of the id"
    assert not set(pub.message_ids(batch_of(6, now + 1))) & {ids[0]}, \
        "another timestamp, another id"
    assert not set(pub.message_ids(batch_of(6, now, project="project-b"))) & set(ids)


def test_our_signature_is_ceilometers_for_every_shape_of_metadata():
    from ceilometer.publisher import utils

    from heat_alarming.engine.listener import check_signature

    shapes = [METADATA, {}, {"nested": {"deeper": {"x": 1, "y": [1, 2.5, None]}}},
              {"list": ["a", {"k": "v", "b": ["é", 3]}, [None, False]], "n": None},
              {"unicode": "snow ☃", "int": 10 ** 12, "float": 0.1 + 0.2, "t": (1, "x")},
              {1: "an int key", "flag": True}]
    for metadata in shapes:
        # built by hand: a map with an int key is no checked sample's metadata, but a
        # transformer's descriptor may carry one
        series = (SeriesDescriptor("cpu_util", "server-1", "project-a", "gauge", "%",
                                   "user-1", "heat-alarming", metadata),)
        batch = SampleBatch(series, np.zeros(3, np.uint32), np.array([1.0, -2.5, 1e300]),
                            time.time() - np.arange(3.0))
        for message in pub.meter_messages(batch, SECRET):
            received = json.loads(json.dumps(message))  # as the bus hands it over
            assert utils.verify_signature(received, SECRET), metadata
            assert check_signature(received, SECRET) is None
            assert pub.ceilometer_signature(received, SECRET) == \
                received["message_signature"]
            assert not utils.verify_signature(
                dict(received, counter_volume=received["counter_volume"] * 2 + 1), SECRET)


def test_without_a_secret_messages_are_unsigned_as_ceilometers_are():
    messages = pub.meter_messages(batch_of(2), None)
    assert [m["message_signature"] for m in messages] == ["", ""]


def test_samples_json_cannot_carry_are_left_out_counted_and_logged_once(tmp_path, caplog):
    now = time.time()
    publisher = pub.FilePublisher(f"file://{tmp_path}/samples.json")
    with caplog.at_level(logging.WARNING, logger=pub.__name__):
        publisher.publish(hostile_batch(now))
        publisher.publish(hostile_batch(now))
    lines = (tmp_path / "samples.json").read_text().splitlines()
    assert [json.loads(line)["volume"] for line in lines] == [10.0, 12.0] * 2
    assert publisher.counters()["invalid"] == 6 and publisher.counters()["published"] == 4
    assert len([r for r in caplog.records if "left out" in r.getMessage()]) == 1


def test_publishers_load_by_their_entry_point_names(tmp_path):
    publisher = base.load(base.PUBLISHERS, "file", f"file://{tmp_path}/x.json", {})
    assert isinstance(publisher, pub.FilePublisher)
    with pytest.raises(PipelineError, match="store:// needs a host with a store"):
        base.load(base.PUBLISHERS, "store", "store://", {})


@pytest.mark.parametrize("make, option", [
    (lambda tmp: pub.FilePublisher(f"file://{tmp}/x.json?max_byte=10"), "max_byte"),
    (lambda tmp: pub.FilePublisher(f"file://{tmp}/x.json", {"rotate": "1"}), "rotate"),
    (lambda tmp: pub.StorePublisher("store://", {"x": 1}, local=print), "x"),
    (lambda tmp: pub.HttpPublisher("http://127.0.0.1:1/", {"max_retries": 2}),
     "max_retries"),
    (lambda tmp: pub.NotifierPublisher("notifier://?topik=metering",
                                       conf=rabbit.messaging_conf(rabbit.RABBIT_URL)),
     "topik"),
])
def test_an_unknown_option_is_refused_by_name(tmp_path, make, option):
    with pytest.raises(PipelineError) as caught:
        make(tmp_path)
    assert caught.value.field == option and "not an option" in caught.value.reason


# -- store:// -----------------------------------------------------------------------

def test_store_publisher_without_a_host_store_says_to_use_notifier():
    with pytest.raises(PipelineError) as caught:
        pub.StorePublisher("store://", {})
    assert "the standalone agent has none - publish with notifier://" in str(caught.value)


def test_store_publisher_names_no_host_or_path():
    with pytest.raises(PipelineError, match="names no host or path"):
        pub.StorePublisher("store://elsewhere/db", local=print)


def test_store_publisher_hands_the_batch_to_the_hosts_store(store, clock):
    publisher = pub.StorePublisher("store://", local=store.ingest_batch)
    publisher.publish(batch_of(6, clock()))
    assert len(store.select("cpu_util", project_id="project-a")) == 3
    assert publisher.counters() == {"published": 6, "invalid": 0, "rejected": 0}


def test_rows_the_store_refuses_are_counted_and_summed_up_in_one_line(store, clock, caplog):
    publisher = pub.StorePublisher("store://", local=store.ingest_batch, clock=clock)
    now = clock()
    batch = batch_of(4, now)
    times = batch.timestamps.copy()
    times[1:3] = now - 10 * 86400  # far behind the store's window
    with caplog.at_level(logging.WARNING, logger=pub.__name__):
        publisher.publish(SampleBatch(batch.series, batch.codes, batch.volumes, times))
        publisher.publish(SampleBatch(batch.series, batch.codes, batch.volumes, times))
    assert publisher.counters()["rejected"] == 4
    assert publisher.counters()["published"] == 4
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "2 sample(s) refused by the store" in line and "row 1: timestamp" in line


def test_a_store_that_raises_did_not_take_the_batch():
    def broken(batch):
        raise OSError("journal unavailable")
    publisher = pub.StorePublisher("store://", local=broken)
    with pytest.raises(PublishError, match="did not take the batch.*journal unavailable"):
        publisher.publish(batch_of(2))


# -- notifier:// into the real listener -------------------------------------------

@pytest.fixture(scope="module")
def rabbit_url():
    with rabbit.temporary_vhost("ha-publishers") as url:
        yield url


@pytest.fixture
def topic():
    return f"metering-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def listener(rabbit_url, topic):
    """``listener(secret=SECRET)``: our MeteringListener on ``topic``, started (a
    consumer on its pool's queue) and stopped when the test ends; ``.deliveries``."""
    with contextlib.ExitStack() as stack:
        def make(secret=SECRET, **kwargs):
            return stack.enter_context(running_listener(rabbit_url, topic, secret,
                                                        **kwargs))
        yield make


@pytest.fixture
def notifier(rabbit_url, topic):
    """``notifier(**options)``: our NotifierPublisher to ``topic`` on the test vhost;
    closed when the test ends."""
    made = []

    def make(url=None, **options):
        options.setdefault("transport_url", rabbit_url)
        options.setdefault("topic", topic)
        options.setdefault("telemetry_secret", SECRET)
        made.append(pub.NotifierPublisher(url or "notifier://", options,
                                          conf=rabbit.messaging_conf(rabbit_url)))
        return made[-1]
    yield make
    for one in made:
        one.close()


def test_samples_reach_the_listener_with_their_fields_and_verified_signatures(
        listener, notifier):
    receiving = listener()
    now = time.time()
    batch = batch_of(6, now)
    notifier().publish(batch)
    counts = wait_counts(receiving, accepted=6)
    assert counts["received"] == counts["accepted"] == 6, "every signature verified"
    got = sorted(receiving.deliveries.samples, key=lambda s: s.volume)
    assert [s.volume for s in got] == batch.volumes.tolist()
    assert [s.timestamp for s in got] == pytest.approx(batch.timestamps.tolist(), abs=1e-6)
    assert [s.resource_id for s in got] == batch.resource_ids
    first = got[0]
    assert (first.name, first.type, first.unit, first.project_id, first.user_id,
            first.source) == ("cpu_util", "gauge", "%", "project-a", "user-1",
                              "heat-alarming")
    assert dict(first.resource_metadata) == json.loads(json.dumps(METADATA))
    assert sorted(receiving.deliveries.ids) == sorted(pub.message_ids(batch))


def test_a_republished_batch_is_dropped_by_the_listener_as_duplicates(listener, notifier):
    receiving = listener()
    batch = batch_of(5)
    publisher = notifier()
    publisher.publish(batch)
    wait_counts(receiving, accepted=5)
    publisher.publish(batch)  # the pipeline's retry of a batch that went through
    counts = wait_counts(receiving, duplicate=5)
    assert counts["accepted"] == 5 and len(receiving.deliveries.samples) == 5


def test_samples_signed_with_another_secret_are_refused_as_forged(listener, notifier):
    receiving = listener(secret=SECRET)
    notifier(telemetry_secret="not the secret").publish(batch_of(3))
    counts = wait_counts(receiving, forged=3)
    assert counts["accepted"] == 0 and receiving.deliveries.samples == []


def test_unsigned_samples_are_refused_by_a_listener_with_a_secret(listener, notifier):
    receiving = listener(secret=SECRET)
    notifier(telemetry_secret="").publish(batch_of(2))
    counts = wait_counts(receiving, unsigned=2)
    assert counts["accepted"] == 0


def test_batch_is_the_samples_of_one_notification(listener, notifier):
    receiving = listener()
    publisher = notifier(batch="4")
    publisher.publish(batch_of(10))
    counts = wait_counts(receiving, accepted=10)
    assert counts["notifications"] == 3
    assert publisher.counters()["notifications"] == 3


def test_the_broker_in_the_url_and_the_hosts_secret_serve_as_defaults(
        rabbit_url, listener, topic):
    from oslo_config import cfg

    receiving = listener()
    conf = rabbit.messaging_conf("rabbit://guest:guest@127.0.0.1:1/")  # not this one
    conf.register_opts([cfg.StrOpt("telemetry_secret"), cfg.StrOpt("metering_topic")],
                       group="heat_alarming")
    conf.set_override("telemetry_secret", SECRET, group="heat_alarming")
    conf.set_override("metering_topic", topic, group="heat_alarming")
    broker = rabbit_url.split("://", 1)[1]
    publisher = pub.NotifierPublisher(f"notifier://{broker}", {}, conf=conf)
    try:
        publisher.publish(batch_of(2))
        assert wait_counts(receiving, accepted=2)["accepted"] == 2
    finally:
        publisher.close()


def test_the_hosts_transport_url_is_the_default_broker(rabbit_url, listener, topic):
    receiving = listener()
    publisher = pub.NotifierPublisher(f"notifier://?topic={topic}",
                                      {"telemetry_secret": SECRET},
                                      conf=rabbit.messaging_conf(rabbit_url))
    try:
        publisher.publish(batch_of(1))
        assert wait_counts(receiving, accepted=1)["accepted"] == 1
    finally:
        publisher.close()


def test_a_broker_that_is_down_is_a_publish_error_at_once(notifier):
    publisher = notifier(transport_url=f"rabbit://guest:guest@127.0.0.1:{free_port()}/")
    started = time.monotonic()
    with pytest.raises(PublishError, match="the broker did not take the samples") as caught:
        publisher.publish(batch_of(3))
    assert time.monotonic() - started < 10
    assert "0 of 3 sent" in str(caught.value) and "guest:***@" in str(caught.value)
    assert publisher.counters()["published"] == 0


def test_a_broker_refusing_the_login_is_a_publish_error(notifier, rabbit_url):
    wrong = rabbit_url.replace("guest:guest@", "guest:wrong@")
    with pytest.raises(PublishError, match="ACCESS_REFUSED"):
        notifier(transport_url=wrong).publish(batch_of(1))


@pytest.mark.parametrize("options, field", [
    ({"transport_url": "rabbit://guest:guest@127.0.0.1:port/"}, "transport_url"),
    ({"transport_url": "not a url"}, "transport_url"),
    ({"transport_url": "nosuchdriver://127.0.0.1/"}, "transport_url"),
    ({"batch": "0"}, "batch"), ({"batch": "many"}, "batch"),
    ({"topic": "two words"}, "topic"), ({"exchange": ""}, "exchange"),
])
def test_notifier_options_are_checked_when_built(options, field):
    options = dict({"transport_url": rabbit.RABBIT_URL}, **options)
    with pytest.raises(PipelineError) as caught:
        pub.NotifierPublisher("notifier://", options,
                              conf=rabbit.messaging_conf(rabbit.RABBIT_URL))
    assert caught.value.field == field


def test_a_host_without_any_transport_is_told_to_give_one():
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project="heat-alarming-test", default_config_files=[])
    with pytest.raises(PipelineError, match="no broker to send to") as caught:
        pub.NotifierPublisher("notifier://", {}, conf=conf)
    assert caught.value.field == "transport_url"


# -- http(s):// ------------------------------------------------------------------------

@pytest.fixture
def servers():
    """``servers(kind, **kwargs)``: a started loopback server, closed when the test ends."""
    made = []

    def make(kind=Webhook, **kwargs):
        made.append(kind(**kwargs))
        return made[-1]
    yield make
    for one in made:
        one.close()


def test_samples_are_posted_as_a_json_list_of_ceilometer_sample_dicts(servers):
    hook = servers()
    batch = batch_of(5)
    publisher = pub.HttpPublisher(hook.url + "?tenant=x&timeout=2")
    publisher.publish(batch)
    (request,) = hook.requests
    assert request["path"] == "/hook?tenant=x", "our options are not sent on"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == pub.sample_dicts(batch)
    assert publisher.counters()["published"] == 5


def test_batch_splits_a_batch_into_requests(servers):
    hook = servers()
    publisher = pub.HttpPublisher(hook.url, {"batch": "2"})
    publisher.publish(batch_of(5))
    assert [len(body) for body in hook.bodies()] == [2, 2, 1]
    assert publisher.counters()["requests"] == 3


def test_an_error_answer_is_a_publish_error_with_its_status_reason_and_start(servers):
    server = servers(AnsweringServer, status=503, reason="Busy",
                     body=b"try later\x00\x1b[31m")
    with pytest.raises(PublishError) as caught:
        pub.HttpPublisher(server.url).publish(batch_of(3))
    message = str(caught.value)
    assert "HTTP 503 Busy: try later" in message and "0 of 3 samples sent" in message
    assert "\x1b" not in message and "\x00" not in message


def test_a_failure_midway_says_how_many_samples_went_through(servers):
    hook = servers(statuses=[200, 500])
    with pytest.raises(PublishError, match=r"HTTP 500 .*\(2 of 5 samples sent\)"):
        pub.HttpPublisher(hook.url, {"batch": 2}).publish(batch_of(5))


def test_a_huge_error_answer_is_read_only_to_a_bound(servers):
    server = servers(AnsweringServer, status=500, body=b"x", body_size=2 * 1024 ** 3)
    started = time.monotonic()
    with pytest.raises(PublishError, match="HTTP 500") as caught:
        pub.HttpPublisher(server.url, {"timeout": 10}).publish(batch_of(1))
    assert time.monotonic() - started < 5
    assert len(str(caught.value)) < 600
    assert server.hung_up.wait(10), "the publisher hung up on the rest"
    assert server.body_sent < 64 * 1024 ** 2


def test_a_redirect_is_not_followed(servers):
    hook = servers(statuses=[302], headers={"Location": "http://127.0.0.1:1/"})
    with pytest.raises(PublishError, match="HTTP 302"):
        pub.HttpPublisher(hook.url).publish(batch_of(1))


def test_a_server_that_is_down_is_a_publish_error():
    url = f"http://user:hunter2@127.0.0.1:{free_port()}/samples"
    with pytest.raises(PublishError, match="cannot connect") as caught:
        pub.HttpPublisher(url).publish(batch_of(1))
    assert "hunter2" not in str(caught.value) and "user:***@" in str(caught.value)


def test_a_slow_server_is_given_up_after_the_timeout(servers):
    hook = servers(delay=5.0)
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"no answer within 0.3 s"):
        pub.HttpPublisher(hook.url, {"timeout": "0.3"}).publish(batch_of(1))
    assert time.monotonic() - started < 3


def test_a_server_trickling_its_answer_is_given_up_after_the_timeout_in_all(servers):
    hook = servers(TricklingWebhook, interval=0.2)
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"no answer within 1 s"):
        pub.HttpPublisher(hook.url, {"timeout": 1}).publish(batch_of(1))
    assert time.monotonic() - started < 4, "each byte came within the timeout, not all"


def test_basic_authentication_comes_from_the_url(servers):
    hook = servers()
    url = hook.url.replace("http://", "http://metering:s3cret@")
    pub.HttpPublisher(url).publish(batch_of(1))
    assert hook.requests[0]["headers"]["Authorization"].startswith("Basic ")


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return ca, context


def test_https_is_verified_against_a_given_ca_bundle(servers, tls, tmp_path):
    ca, context = tls
    hook = servers(tls_context=context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    pub.HttpPublisher(hook.url, {"verify_ssl": str(bundle)}).publish(batch_of(2))
    assert len(hook.requests) == 1


def test_https_with_an_untrusted_certificate_is_refused_unless_told(servers, tls):
    hook = servers(tls_context=tls[1])
    with pytest.raises(PublishError, match="TLS failed"):
        pub.HttpPublisher(hook.url).publish(batch_of(1))
    assert hook.requests == []
    pub.HttpPublisher(hook.url, {"verify_ssl": "false"}).publish(batch_of(1))
    assert len(hook.requests) == 1


@pytest.mark.parametrize("url, options, field", [
    ("http://127.0.0.1:port/", {}, "url"), ("http:///path", {}, "url"),
    ("http://127.0.0.1/", {"timeout": "0"}, "timeout"),
    ("http://127.0.0.1/", {"timeout": "nan"}, "timeout"),
    ("http://127.0.0.1/", {"batch": "False"}, "batch"),
    ("http://127.0.0.1/", {"batch": "-1"}, "batch"),
    ("http://127.0.0.1/", {"verify_ssl": "/no/such/bundle.pem"}, "verify_ssl"),
])
def test_http_options_are_checked_when_built(url, options, field):
    with pytest.raises(PipelineError) as caught:
        pub.HttpPublisher(url, options)
    assert caught.value.field == field


# -- file:// ------------------------------------------------------------------------

def test_samples_are_appended_as_json_lines(tmp_path):
    path = tmp_path / "samples.json"
    publisher = pub.FilePublisher(f"file://{path}")
    batch = batch_of(4)
    publisher.publish(batch)
    publisher.publish(batch_of(2))
    lines = path.read_text().splitlines()
    assert len(lines) == 6
    assert [json.loads(line) for line in lines[:4]] == pub.sample_dicts(batch)


def test_the_file_rotates_by_size_and_keeps_backup_count_files(tmp_path):
    path = tmp_path / "samples.json"
    line = len(pub._json_texts(batch_of(1), pub._Series(pub._sample_head))[0])
    publisher = pub.FilePublisher(f"file://{path}?max_bytes={3 * line}&backup_count=2")
    for _ in range(4):
        publisher.publish(batch_of(2))  # 8 lines: 3 a file
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["samples.json", "samples.json.1", "samples.json.2"]
    assert [len(p.read_text().splitlines()) for p in
            (path, tmp_path / "samples.json.1", tmp_path / "samples.json.2")] == [2, 3, 3]
    assert all(os.path.getsize(p) <= 3 * line for p in tmp_path.iterdir())
    for p in tmp_path.iterdir():
        [json.loads(x) for x in p.read_text().splitlines()]  # whole lines only
    assert publisher.counters()["rotations"] == 2


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own(tmp_path):
    path = tmp_path / "samples.json"
    publisher = pub.FilePublisher(f"file://{path}", {"max_bytes": 10, "backup_count": 5})
    publisher.publish(batch_of(3))
    assert [len(p.read_text().splitlines()) for p in sorted(tmp_path.iterdir())] == \
        [1, 1, 1]


def test_a_file_moved_away_is_opened_anew(tmp_path):
    path = tmp_path / "samples.json"
    publisher = pub.FilePublisher(f"file://{path}")
    publisher.publish(batch_of(1))
    path.rename(tmp_path / "samples.json.old")  # logrotate
    publisher.publish(batch_of(2))
    assert len(path.read_text().splitlines()) == 2


def test_a_full_disk_is_a_publish_error():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system to stand for a full disk")
    publisher = pub.FilePublisher("file:///dev/full", {"max_bytes": 100, "backup_count": 1})
    with pytest.raises(PublishError, match="cannot write.*No space left"):
        publisher.publish(batch_of(200))
    assert publisher.counters()["published"] == 0 and os.path.exists("/dev/full")


def test_the_directory_must_exist(tmp_path):
    with pytest.raises(PipelineError, match="does not exist") as caught:
        pub.FilePublisher(f"file://{tmp_path}/missing/samples.json")
    assert caught.value.field == "url"


@pytest.mark.parametrize("url, options, field", [
    ("file://samples.json", {}, "url"), ("file://host/var/samples.json", {}, "url"),
    ("file://{tmp}", {}, "url"),
    ("file://{tmp}/x.json", {"max_bytes": "10"}, "backup_count"),
    ("file://{tmp}/x.json", {"max_bytes": "-1", "backup_count": "1"}, "max_bytes"),
])
def test_file_options_are_checked_when_built(tmp_path, url, options, field):
    with pytest.raises(PipelineError) as caught:
        pub.FilePublisher(url.format(tmp=tmp_path), options)
    assert caught.value.field == field


def test_a_path_that_cannot_be_opened_is_refused_when_built(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(PipelineError, match="does not exist|cannot open"):
        pub.FilePublisher(f"file://{tmp_path}/a-file/samples.json")


def test_a_store_publisher_and_the_others_agree_on_the_samples(store, clock, tmp_path):
    # what went to a file reads back into a store as the same samples the store got
    batch = batch_of(6, clock())
    pub.StorePublisher("store://", local=store.ingest_batch).publish(batch)
    path = tmp_path / "samples.json"
    pub.FilePublisher(f"file://{path}").publish(batch)
    other = RollingStore(resolution=10, retention=3600, clock=clock)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    other.ingest_batch(SampleBatch.from_samples(
        [Sample(r["name"], r["volume"], r["resource_id"], type=r["type"], unit=r["unit"],
                project_id=r["project_id"], user_id=r["user_id"],
                timestamp=to_epoch(r["timestamp"]), resource_metadata=r["resource_metadata"],
                source=r["source"]) for r in rows], clock()))
    for one in (store, other):
        one.flush()
    stats = [s.statistics("cpu_util", period=60, start=clock() - 60, end=clock() + 10,
                          aggregates=["count", "sum"]) for s in (store, other)]
    assert stats[0].values["sum"].tolist() == stats[1].values["sum"].tolist()
    assert stats[0].values["count"].sum() == 6
