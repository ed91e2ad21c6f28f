"""Notifications reach real HTTP servers on 127.0.0.1: retries, timeouts, TLS, trusts, restarts."""
import logging
import threading
import time
import uuid

import pytest
import trustme

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.alarm_store import AlarmStore, Notification
from heat_alarming.engine.notifiers import DeliveryError
from heat_alarming.engine.notifiers.dispatcher import ACTION_FAILED, Dispatcher
from heat_alarming.engine.notifiers.trust import split_trust_url
from tests.support.databases import DATABASES, database_url
from tests.support.http_servers import Webhook, free_port
from tests.support.http_servers import loopback_notifiers as loopback

PAYLOAD = {"alarm_id": "a1", "alarm_name": "cpu-high", "severity": "low", "previous": "ok",
           "current": "alarm", "reason": "Transition to alarm due to 3 samples outside "
                                         "threshold, most recent: 80.0",
           "reason_data": {"type": "threshold", "disposition": "outside", "count": 3,
                           "most_recent": 80.0}}


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    return database_url(request.param, tmp_path, request)


@pytest.fixture
def alarm_store(database):
    store = AlarmStore(database)
    yield store
    store.close()


def queue(alarm_store, action, key=None):
    key = key or str(uuid.uuid4())
    alarm_store.commit_round([], [], [Notification(key, "a1", action, PAYLOAD,
                                                   next_attempt=0.0, created=0.0)])
    return key


def drain(dispatcher, rounds=20):
    """Deliver until nothing is due, moving the dispatcher's clock past each backoff."""
    for _ in range(rounds):
        if dispatcher.deliver_due() == 0:
            upcoming = dispatcher.alarm_store.next_notification_time()
            if upcoming is None:
                return
            dispatcher.clock = lambda t=upcoming: t


def test_a_webhook_gets_aodhs_payload_and_an_idempotency_key(alarm_store, hooks):
    hook = hooks()
    key = queue(alarm_store, hook.url)
    Dispatcher(alarm_store, loopback()).deliver_due()
    (request,) = hook.requests
    assert request["body"] == PAYLOAD
    assert request["headers"]["X-Idempotency-Key"] == key
    assert request["headers"]["Content-Type"] == "application/json"
    assert alarm_store.pending_count() == 0


def test_server_errors_are_retried_with_backoff_and_the_same_key(alarm_store, hooks):
    hook = hooks(statuses=[500, 503])
    key = queue(alarm_store, hook.url)
    dispatcher = Dispatcher(alarm_store, loopback(), backoff=2.0, clock=lambda: 100.0)
    dispatcher.deliver_due()
    (pending,) = alarm_store.due_notifications(1e12)
    assert pending.attempts == 1 and pending.next_attempt == 102.0
    assert "HTTP 500" in pending.last_error
    dispatcher.clock = lambda: 102.0
    dispatcher.deliver_due()
    (pending,) = alarm_store.due_notifications(1e12)
    assert pending.attempts == 2 and pending.next_attempt == 106.0, "backoff doubles"
    dispatcher.clock = lambda: 106.0
    dispatcher.deliver_due()
    assert alarm_store.pending_count() == 0
    assert [r["headers"]["X-Idempotency-Key"] for r in hook.requests] == [key] * 3


def test_a_client_error_is_not_retried_and_is_recorded(alarm_store, hooks):
    hook = hooks(statuses=[400])
    queue(alarm_store, hook.url)
    Dispatcher(alarm_store, loopback()).deliver_due()
    assert alarm_store.pending_count() == 0 and len(hook.requests) == 1
    (failure,) = alarm_store.history("a1")
    assert failure.type == ACTION_FAILED and "HTTP 400" in failure.reason


def test_after_max_attempts_the_notification_is_dropped_and_recorded(alarm_store, hooks):
    hook = hooks(statuses=[500] * 10)
    queue(alarm_store, hook.url)
    dispatcher = Dispatcher(alarm_store, loopback(), max_attempts=3, backoff=0.0)
    drain(dispatcher)
    assert len(hook.requests) == 3 and alarm_store.pending_count() == 0
    assert "after 3 attempt(s)" in alarm_store.history("a1")[0].reason


def test_a_slow_webhook_times_out_and_is_retried(alarm_store, hooks):
    hook = hooks(delay=2.0)
    queue(alarm_store, hook.url)
    manager = loopback(timeout=0.2)
    Dispatcher(alarm_store, manager, clock=lambda: 0.0).deliver_due()
    (pending,) = alarm_store.due_notifications(1e12)
    assert pending.attempts == 1 and "timed out" in pending.last_error


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    return ca, cert


def tls_hook(hooks, tls):
    ca, cert = tls
    context = __import__("ssl").SSLContext(__import__("ssl").PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return hooks(tls_context=context)


def test_tls_verified_against_a_given_ca(alarm_store, hooks, tls, tmp_path):
    hook = tls_hook(hooks, tls)
    bundle = tmp_path / "ca.pem"
    tls[0].cert_pem.write_to_path(str(bundle))
    queue(alarm_store, hook.url)
    Dispatcher(alarm_store, loopback(verify=str(bundle))).deliver_due()
    assert len(hook.requests) == 1 and alarm_store.pending_count() == 0


def test_tls_with_an_untrusted_certificate_is_refused(alarm_store, hooks, tls):
    hook = tls_hook(hooks, tls)
    queue(alarm_store, hook.url)
    Dispatcher(alarm_store, loopback(verify=True),
               clock=lambda: 0.0).deliver_due()
    assert hook.requests == []
    (pending,) = alarm_store.due_notifications(1e12)
    assert "SSLError" in pending.last_error


def test_tls_verification_can_be_turned_off(alarm_store, hooks, tls):
    hook = tls_hook(hooks, tls)
    queue(alarm_store, hook.url)
    Dispatcher(alarm_store, loopback(verify=False)).deliver_due()
    assert len(hook.requests) == 1


def test_a_notification_queued_before_a_restart_is_delivered_after_it(database):
    path = database
    port = free_port()  # nothing listens yet: the webhook is down
    first = AlarmStore(path)
    key = queue(first, f"http://127.0.0.1:{port}/hook")
    Dispatcher(first, loopback(), clock=lambda: 0.0).deliver_due()
    (pending,) = first.due_notifications(1e12)
    assert pending.attempts == 1 and "ConnectionError" in pending.last_error
    first.close()  # the process goes away

    hook = Webhook(port=port)
    try:
        again = AlarmStore(path)
        dispatcher = Dispatcher(again, loopback()).start()
        deadline = time.monotonic() + 20
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        dispatcher.stop()
        assert [r["headers"]["X-Idempotency-Key"] for r in hook.requests] == [key]
        assert again.pending_count() == 0
    finally:
        hook.close()


def test_a_slow_webhook_never_delays_an_evaluation_round(hooks, tmp_path):
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.metering import ManualClock, RollingStore, Sample
    hook = hooks()
    hook.gate = threading.Event()  # the webhook holds every answer until released
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, AlarmStore(str(tmp_path / "a.sqlite")),
                          notifiers=loopback()).start()
    try:
        evaluator.define({"name": "x", "alarm_actions": [hook.url],
                          "threshold_rule": {"meter_name": "m", "threshold": 1,
                                             "comparison_operator": "gt", "period": 60}})
        store.add(Sample("m", 5.0, "r", timestamp=clock() + 1))
        clock.advance(61)
        (change,) = evaluator.evaluate()
        deadline = time.monotonic() + 10
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hook.requests) == 1, "the webhook is being called and is stuck"
        clock.advance(60)
        assert evaluator.evaluate() == [], "the next round ran while the webhook hangs"
    finally:
        hook.gate.set()
        evaluator.stop()


def test_trust_urls_are_split_into_trust_and_target():
    assert split_trust_url("trust+https://abc:delete@example.org:8443/v1/signal?x=1") == \
        ("abc", "https://example.org:8443/v1/signal?x=1")
    with pytest.raises(DeliveryError, match="trust id"):
        split_trust_url("trust+http://example.org/x")


def test_log_and_inproc_targets(alarm_store, caplog):
    got = []
    manager = loopback()
    queue(alarm_store, "log://")
    queue(alarm_store, "inproc://scaler")
    dispatcher = Dispatcher(alarm_store, manager, clock=lambda: 0.0)
    with caplog.at_level(logging.INFO):
        dispatcher.deliver_due()
    assert "cpu-high" in caplog.text
    (waiting,) = alarm_store.due_notifications(1e12)
    assert "no in-process target registered as 'scaler'" in waiting.last_error
    manager.register_target("scaler", got.append)
    dispatcher.clock = lambda: 1e12
    dispatcher.deliver_due()
    assert got and got[0]["current"] == "alarm"


def test_an_unknown_scheme_is_refused_without_retry(alarm_store):
    queue(alarm_store, "gopher://old")
    Dispatcher(alarm_store, loopback()).deliver_due()
    assert alarm_store.pending_count() == 0
    assert "no notifier for scheme 'gopher'" in alarm_store.history("a1")[0].reason


def test_dispatchers_of_several_workers_sharing_a_store_deliver_a_notification_once(
        database, hooks):
    hook = hooks()
    path = database
    stores = [AlarmStore(path) for _ in range(3)]  # one per worker process
    try:
        key = queue(stores[0], hook.url)
        dispatchers = [Dispatcher(store, loopback(), clock=lambda: 50.0) for store in stores]
        claimed = [d.alarm_store.claim_notifications(50.0, lease=120.0) for d in dispatchers]
        assert sorted(len(c) for c in claimed) == [0, 0, 1], "one worker claims it"
        assert sum(d.deliver_due() for d in dispatchers) == 0, "the lease holds it"
        # the claimant died before delivering: when the lease ends, another one delivers
        dispatchers[1].clock = lambda: 170.0
        assert dispatchers[1].deliver_due() == 1
        assert [r["headers"]["X-Idempotency-Key"] for r in hook.requests] == [key]
        assert stores[2].pending_count() == 0
    finally:
        for store in stores:
            store.close()


def test_a_dispatcher_leaves_other_projects_notifications_to_their_dispatchers(
        database, hooks):
    hook = hooks()
    path = database
    mine, theirs = AlarmStore(path), AlarmStore(path)
    try:
        mine.save_alarm(Alarm.from_dict({
            "alarm_id": "a1", "name": "a1", "project_id": "p-theirs",
            "threshold_rule": {"meter_name": "m", "threshold": 1}}))
        key = queue(mine, hook.url)
        refusing = Dispatcher(mine, loopback(), clock=lambda: 50.0,
                              projects=lambda: {"p-mine"})
        accepting = Dispatcher(theirs, loopback(), clock=lambda: 50.0)
        accepting.follow_ownership(lambda: {"p-theirs"})
        assert refusing.idle(), "nothing of its projects is waiting"
        assert refusing.deliver_due() == 0
        assert mine.pending_count() == 1, "left due, not claimed"
        assert not accepting.idle()
        assert accepting.deliver_due() == 1
        assert [r["headers"]["X-Idempotency-Key"] for r in hook.requests] == [key]
    finally:
        mine.close()
        theirs.close()
