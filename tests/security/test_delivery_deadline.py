"""One delivery attempt holds its thread for at most one ``notification_timeout``.

The attack: a project's webhook (or the name it resolves through, or the keystone
a trust action needs) answers just fast enough that no single socket read times
out, a byte every quarter second, and so holds one of the dispatcher's delivery
threads (and one of the project's in-flight slots) for as long as it likes.  The
whole attempt (resolution, keystone calls, connect, send, read) must end within one
timeout, as a retryable "timed out" failure.

Real HTTP servers on 127.0.0.1 (tests/support/http_servers.py), through the
notifiers a dispatcher calls; the policy allows loopback because these tests say so.
The keystone is a stub (the real one of tests/support/keystone.py cannot be made
slow): it answers the three calls of a trust action correctly, each late.  The
slow DNS server is an injected resolver (no DNS server runs here).  The bounds are
generous (2 x timeout + 1 s): a bound, not a benchmark.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.notifiers import DeliveryError, NotifierManager, NotifierSettings
from heat_alarming.engine.notifiers.destinations import DestinationPolicy
from tests.support.http_servers import (
    SlowStubKeystone,
    TricklingWebhook,
    Webhook,
    loopback_notifiers,
)

TIMEOUT = 1.0
BOUND = 2 * TIMEOUT + 1.0
PAYLOAD = {"alarm_id": None, "alarm_name": "cpu-high", "severity": "low", "previous": "ok",
           "current": "alarm", "reason": "r", "reason_data": {}}


def timed_failure(call) -> tuple[float, DeliveryError]:
    start = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        call()
    return time.monotonic() - start, caught.value


@pytest.fixture
def trickler():
    server = TricklingWebhook(interval=0.25)
    yield server
    server.close()


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(trickler):
    notifiers = loopback_notifiers(timeout=TIMEOUT)
    elapsed, error = timed_failure(
        lambda: notifiers.notify(trickler.url, dict(PAYLOAD), "key-1"))
    assert elapsed < BOUND, f"held the delivery thread {elapsed:.1f} s"
    assert error.retryable
    assert f"timed out after {TIMEOUT:g} s" in str(error)
    assert trickler.arrived_at, "the call never reached the receiver"


def test_a_resolver_that_does_not_answer_is_cut_at_the_deadline():
    released = threading.Event()

    def hanging_dns(host, port):
        released.wait(30)
        return ["127.0.0.1"]

    notifiers = NotifierManager(NotifierSettings(timeout=TIMEOUT, policy=DestinationPolicy(
        allow_loopback=True, resolver=hanging_dns)))
    try:
        elapsed, error = timed_failure(lambda: notifiers.notify(
            "http://slow-dns.example.test:8080/hook", dict(PAYLOAD), "key-1"))
    finally:
        released.set()
    assert elapsed < BOUND, f"held the delivery thread {elapsed:.1f} s"
    assert error.retryable
    assert "cannot resolve 'slow-dns.example.test': timed out" in str(error)


def test_a_resolver_that_answers_in_time_still_has_its_answer_checked():
    notifiers = NotifierManager(NotifierSettings(timeout=TIMEOUT, policy=DestinationPolicy(
        resolver=lambda host, port: ["127.0.0.1"])))
    _, error = timed_failure(lambda: notifiers.notify(
        "http://rebinding.example.test/hook", dict(PAYLOAD), "key-1"))
    assert not error.retryable
    assert "loopback" in str(error)


def test_a_trust_action_against_a_slow_keystone_is_bounded_by_one_deadline():
    hook = Webhook()
    owner = {"project_id": "project-a", "user_id": "owner"}
    keystone = SlowStubKeystone(delay=0.6 * TIMEOUT, trust={
        "trustor_user_id": owner["user_id"], "project_id": owner["project_id"],
        "trustee_user_id": "svc-id"})
    alarm = Alarm.from_dict({
        "alarm_id": str(uuid.uuid4()), "name": "cpu-high", **owner,
        "alarm_actions": [hook.url.replace("http://", "trust+http://trust-1@")],
        "threshold_rule": {"meter_name": "cpu", "threshold": 50,
                           "comparison_operator": "gt", "period": 60}})
    notifiers = NotifierManager(NotifierSettings(
        timeout=TIMEOUT, trust_auth_url=keystone.url, trust_username="svc",
        trust_password="secret", alarms=lambda alarm_id: alarm,
        policy=DestinationPolicy(allow_loopback=True)))
    try:
        elapsed, error = timed_failure(lambda: notifiers.notify(
            alarm.alarm_actions[0], dict(PAYLOAD, alarm_id=alarm.alarm_id), "key-1"))
    finally:
        keystone.close()
        hook.close()
    # each call alone is within the timeout; the three together are not
    assert elapsed < BOUND, f"held the delivery thread {elapsed:.1f} s"
    assert error.retryable
    assert "timed out after" in str(error)
    assert "trust-1" not in str(error)
    assert hook.requests == [], "the webhook was called after the deadline"
