"""Webhooks go only where the operator's policy allows (no SSRF from inside heat-engine).

The attacker is a project user who writes an alarm action pointing into the
cloud's own network: the metadata service, private ranges, heat-engine's own
host, in every spelling a resolver or URL parser accepts, or a name that
resolves to a public address when checked and to an internal one when
called.  Each case goes through the library (``Evaluator.define``, the
dispatcher's delivery) to real HTTP servers on 127.0.0.1, which the policy
lets through only where a test says so.  Where a test needs a DNS server
whose answers change, it gives the policy its own resolver function
(``DestinationPolicy(resolver=...)``, the policy's seam for resolution):
no DNS server can run here.
"""
from __future__ import annotations

import ssl
import uuid

import pytest
import trustme

from heat_alarming.engine.alarm import Alarm, AlarmError
from heat_alarming.engine.alarm_store import AlarmStore, Notification
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.notifiers import NotifierManager, NotifierSettings
from heat_alarming.engine.notifiers.destinations import DestinationPolicy
from heat_alarming.engine.notifiers.dispatcher import ACTION_FAILED, Dispatcher
from heat_alarming.metering import ManualClock, RollingStore, Sample
from tests.support.databases import DATABASES, database_url

PAYLOAD = {"alarm_id": "a1", "alarm_name": "cpu-high", "severity": "low", "previous": "ok",
           "current": "alarm", "reason": "r", "reason_data": {}}

# (action, what the refusal says); {port} is a live webhook's port on 127.0.0.1
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is in 169.254.0.0/16, a "
                                                 "denied network"),
    ("http://[fe80::a9fe:a9fe]/", "in fe80::/10, a denied network"),
    ("http://[::ffff:169.254.169.254]/", "169.254.169.254 is in 169.254.0.0/16"),
    ("http://10.0.0.1/", "10.0.0.1 is a private or reserved address"),
    ("http://172.16.5.4/", "private or reserved"),
    ("http://192.168.0.1/", "private or reserved"),
    ("http://100.64.0.1/", "private or reserved"),
    ("http://0.0.0.0:{port}/", "0.0.0.0 stands for this host"),
    ("http://[fc00::1]/", "private or reserved"),
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://[::1]:{port}/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://[::127.0.0.1]:{port}/hook", "private or reserved"),
    ("http://[64:ff9b::7f00:1]:{port}/hook", "private or reserved"),
    ("http://[2002:7f00:1::]:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://2130706433:{port}/hook", "not a canonical IP address"),
    ("http://0x7f.1:{port}/hook", "not a canonical IP address"),
    ("http://0177.0.0.1:{port}/hook", "not a canonical IP address"),
    ("http://127.1:{port}/hook", "not a canonical IP address"),
    ("http://evil.example@127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://[fe80::1%25lo]:{port}/hook", "IPv6 zone ids are not allowed"),
    ("http://%3127.0.0.1:{port}/hook", "percent-encoded hosts"),
    ("http://127.0.0.1:{port}\\@93.184.216.34/hook", "backslashes"),
    ("http://localhost:{port}/hook", "'localhost' resolves to 127.0.0.1"),
    ("trust+http://0123456789abcdef@169.254.169.254/", "denied network"),
    ("trust+https://0123456789abcdef@127.0.0.1:{port}/", "loopback"),
    ("ftp://93.184.216.34/", "no notifier for scheme 'ftp'"),
    ("gopher://93.184.216.34/", "no notifier for scheme 'gopher'"),
]


@pytest.fixture(params=DATABASES)
def alarm_store(request, tmp_path):
    store = AlarmStore(database_url(request.param, tmp_path, request))
    yield store
    store.close()


def notifiers(**policy) -> NotifierManager:
    settings = {k: policy.pop(k) for k in ("verify",) if k in policy}
    return NotifierManager(NotifierSettings(policy=DestinationPolicy(**policy), **settings))


def alarm(action: str, field: str = "alarm_actions") -> dict:
    return {"alarm_id": str(uuid.uuid4()), "name": "cpu-high", "project_id": "p1",
            field: [action],
            "threshold_rule": {"meter_name": "cpu", "threshold": 50,
                               "comparison_operator": "gt", "period": 60}}


def queue(alarm_store, action) -> str:
    key = str(uuid.uuid4())
    alarm_store.commit_round([], [], [Notification(key, "a1", action, PAYLOAD,
                                                   next_attempt=0.0, created=0.0)])
    return key


def fire(evaluator, store, clock) -> None:
    """Make every alarm on meter ``cpu`` go to alarm, and deliver what it sends."""
    store.add(Sample("cpu", 90.0, "vm", project_id="p1", timestamp=clock() + 1))
    clock.advance(61)
    assert evaluator.evaluate(), "a transition"
    evaluator.dispatcher.deliver_due()


@pytest.mark.parametrize("action,reason", REFUSED)
def test_the_default_policy_refuses_internal_destinations_when_the_alarm_is_defined(
        hooks, action, reason):
    hook = hooks()
    evaluator = Evaluator(RollingStore(10, 3600), AlarmStore("sqlite://"))
    with pytest.raises(AlarmError) as caught:
        evaluator.define(alarm(action.format(port=hook.port), field="ok_actions"))
    assert caught.value.field == "ok_actions[0]"
    assert reason in caught.value.reason
    assert "0123456789abcdef" not in str(caught.value), "a trust id is never shown"
    assert evaluator.alarms() == [] and hook.requests == []


@pytest.mark.parametrize("action,reason", [
    r for r in REFUSED if "{port}" in r[0] and "scheme" not in r[1]])
def test_the_default_policy_refuses_them_at_delivery_without_retry(
        alarm_store, hooks, action, reason):
    """Notifications stored before the policy (or by anything that skipped the check)
    are checked when delivered: refused, not retried, recorded, and nothing is called."""
    hook = hooks()
    queue(alarm_store, action.format(port=hook.port))
    Dispatcher(alarm_store, notifiers()).deliver_due()
    assert hook.requests == []
    assert alarm_store.pending_count() == 0, "not retried"
    (failure,) = alarm_store.history("a1")
    assert failure.type == ACTION_FAILED and "after 1 attempt(s)" in failure.reason
    assert reason in failure.reason
    assert "0123456789abcdef" not in f"{failure.reason} {failure.reason_data}"


def test_with_webhook_allow_loopback_a_webhook_on_127_0_0_1_gets_the_post(alarm_store, hooks):
    hook = hooks()
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, alarm_store, notifiers=notifiers(allow_loopback=True))
    defined = evaluator.define(alarm(hook.url))
    fire(evaluator, store, clock)
    (request,) = hook.requests
    assert request["body"]["alarm_id"] == defined.alarm_id
    assert request["headers"]["Host"] == f"127.0.0.1:{hook.port}"
    assert alarm_store.pending_count() == 0


def test_a_name_that_rebinds_to_loopback_after_the_definition_is_refused_at_delivery(
        alarm_store, hooks):
    hook = hooks()
    answers = [["93.184.216.34"]]  # public when the alarm is defined...

    def resolver(host, port):
        assert host == "hooks.example"
        return answers[-1]
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, alarm_store, notifiers=notifiers(resolver=resolver))
    defined = evaluator.define(alarm(f"http://hooks.example:{hook.port}/hook"))
    answers.append(["127.0.0.1"])  # ...this host when it is called
    fire(evaluator, store, clock)
    assert hook.requests == []
    (failure,) = [h for h in evaluator.history(defined.alarm_id) if h.type == ACTION_FAILED]
    assert "'hooks.example' resolves to 127.0.0.1: 127.0.0.1 is a loopback address" \
        in failure.reason
    assert alarm_store.pending_count() == 0


def test_one_refused_address_among_those_of_a_name_refuses_it(alarm_store, hooks):
    hook = hooks()
    policy = notifiers(allow_loopback=True,
                       resolver=lambda host, port: ["127.0.0.1", "169.254.169.254"])
    with pytest.raises(AlarmError, match="resolves to 169.254.169.254"):
        Evaluator(RollingStore(10, 3600), alarm_store, notifiers=policy).define(
            alarm(f"http://hooks.example:{hook.port}/hook"))
    queue(alarm_store, f"http://hooks.example:{hook.port}/hook")
    Dispatcher(alarm_store, policy).deliver_due()
    assert hook.requests == [] and alarm_store.pending_count() == 0


def test_the_connection_goes_to_the_checked_address_and_the_name_is_kept(alarm_store, hooks):
    """The name is resolved once per delivery and the connection made to that checked
    address: were anything (requests, urllib3, the system) to resolve the name again,
    it could not (hooks.example is no real name) and delivery would fail."""
    hook = hooks()
    calls = []

    def resolver(host, port):
        calls.append((host, port))
        return ["127.0.0.1"]
    queue(alarm_store, f"http://hooks.example:{hook.port}/hook")
    Dispatcher(alarm_store, notifiers(allow_loopback=True, resolver=resolver)).deliver_due()
    (request,) = hook.requests
    assert request["headers"]["Host"] == f"hooks.example:{hook.port}"
    assert request["path"] == "/hook"
    assert calls == [("hooks.example", hook.port)], "resolved once"
    assert alarm_store.pending_count() == 0


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.mark.parametrize("certified", ["hooks.example", "elsewhere.example"])
def test_tls_to_the_checked_address_verifies_the_certificate_for_the_name(
        alarm_store, hooks, ca, tmp_path, certified):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(certified).configure_cert(context)
    hook = hooks(tls_context=context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    queue(alarm_store, f"https://hooks.example:{hook.port}/hook")
    Dispatcher(alarm_store, notifiers(allow_loopback=True, verify=str(bundle),
                                      resolver=lambda host, port: ["127.0.0.1"]),
               clock=lambda: 0.0).deliver_due()
    if certified == "hooks.example":
        assert len(hook.requests) == 1 and alarm_store.pending_count() == 0
    else:
        assert hook.requests == []
        (pending,) = alarm_store.due_notifications(1e12)
        assert "SSLError" in pending.last_error and "hooks.example" in pending.last_error


def test_a_redirect_is_not_followed(alarm_store, hooks):
    """127.0.0.1 is allowed by name (webhook_allowed_networks), 127.0.0.2 is not: the
    allowed webhook answers with a redirect to the refused one."""
    inside = hooks(host="127.0.0.2")
    outside = hooks(statuses=[302], headers={"Location": inside.url})
    queue(alarm_store, outside.url)
    Dispatcher(alarm_store, notifiers(allowed_networks=["127.0.0.1/32"])).deliver_due()
    assert len(outside.requests) == 1 and inside.requests == []
    assert alarm_store.pending_count() == 0, "a redirect is not retried"
    (failure,) = alarm_store.history("a1")
    assert "HTTP 302, a redirect, which is not followed" in failure.reason


def test_proxies_from_the_environment_are_not_used(alarm_store, hooks, monkeypatch):
    """A proxy would resolve the name itself, out of the policy's sight."""
    hook, proxy = hooks(), hooks()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    queue(alarm_store, hook.url)
    Dispatcher(alarm_store, notifiers(allow_loopback=True)).deliver_due()
    assert len(hook.requests) == 1 and proxy.requests == []


@pytest.mark.parametrize("policy,action,refusal", [
    # only the listed networks: the more specific allowance wins over 0.0.0.0/0
    ({"denied_networks": ["0.0.0.0/0", "::/0"], "allowed_networks": ["93.184.216.0/24"]},
     "http://93.184.216.34/", None),
    ({"denied_networks": ["0.0.0.0/0", "::/0"], "allowed_networks": ["93.184.216.0/24"]},
     "http://8.8.8.8/", "8.8.8.8 is in 0.0.0.0/0, a denied network"),
    # an explicit allowance opens one private network, not the others
    ({"allowed_networks": ["10.1.0.0/16"]}, "http://10.1.2.3/", None),
    ({"allowed_networks": ["10.1.0.0/16"]}, "http://10.2.0.1/", "private or reserved"),
    # a denial more specific than an allowance wins
    ({"allowed_networks": ["10.0.0.0/8"], "denied_networks": ["10.9.0.0/16"]},
     "http://10.9.0.1/", "10.9.0.1 is in 10.9.0.0/16, a denied network"),
    # private addresses allowed: link-local (the metadata service) stays denied
    ({"allow_private": True}, "http://10.0.0.1/", None),
    ({"allow_private": True}, "http://169.254.169.254/", "denied network"),
    ({"allow_private": True}, "http://127.0.0.1/", "loopback"),
    # the unspecified addresses connect to this very host: never, whatever is allowed
    ({"allow_private": True}, "http://0.0.0.0/", "stands for this host"),
    ({"allow_private": True}, "http://0.1.2.3/", "stands for this host"),
    ({"allow_private": True}, "http://[::]/", "stands for this host"),
    ({"allow_private": True}, "http://[::ffff:0.0.0.0]/", "stands for this host"),
    ({"allow_private": True, "allow_loopback": True, "allowed_networks": ["0.0.0.0/0"]},
     "http://0.0.0.0/", "stands for this host"),
    # deprecated site-local IPv6 is not a public address
    ({}, "http://[fec0::1]/", "private or reserved"),
    ({"allowed_ports": [443]}, "http://93.184.216.34:8080/", "port 8080 is not allowed"),
    ({"allowed_ports": [443]}, "https://93.184.216.34/", None),
    ({"allowed_schemes": ["https"]}, "http://93.184.216.34/", "scheme 'http' is not allowed"),
    ({"allowed_schemes": ["https"]}, "trust+http://t@93.184.216.34/",
     "scheme 'http' is not allowed"),
    ({}, "http://93.184.216.34/", None),
])
def test_the_operators_lists_and_switches_decide(policy, action, refusal):
    evaluator = Evaluator(RollingStore(10, 3600), AlarmStore("sqlite://"),
                          notifiers=notifiers(**policy))
    if refusal is None:
        assert evaluator.define(alarm(action)).alarm_actions == (action,)
    else:
        with pytest.raises(AlarmError, match=refusal):
            evaluator.define(alarm(action))


@pytest.mark.parametrize("action", ["http://u:p[w@example.com/", "http://[::1/",
                                    "http://93.184.216.34:99999/"])
def test_an_unparsable_action_url_is_refused_naming_the_field(action):
    evaluator = Evaluator(RollingStore(10, 3600), AlarmStore("sqlite://"),
                          notifiers=notifiers())
    with pytest.raises(AlarmError) as refused:
        evaluator.define(alarm(action))
    assert refused.value.field == "alarm_actions[0]"


def test_a_name_that_does_not_resolve_yet_may_be_defined_and_is_checked_when_called(
        alarm_store):
    def resolver(host, port):
        raise OSError("no such name")
    policy = notifiers(resolver=resolver)
    Evaluator(RollingStore(10, 3600), alarm_store, notifiers=policy).define(
        alarm("http://not-yet.example/hook"))
    queue(alarm_store, "http://not-yet.example/hook")
    Dispatcher(alarm_store, policy, clock=lambda: 0.0).deliver_due()
    (pending,) = alarm_store.due_notifications(1e12)
    assert "cannot resolve 'not-yet.example'" in pending.last_error, "retried later"


def test_an_alarm_stored_with_a_refused_action_keeps_its_definition(alarm_store):
    """The policy refuses; it never loses or rewrites what is stored."""
    stored = Alarm.from_dict(alarm("http://10.0.0.1/"))
    alarm_store.save_alarm(stored)
    evaluator = Evaluator(RollingStore(10, 3600), alarm_store)
    assert evaluator.get(stored.alarm_id).alarm_actions == ("http://10.0.0.1/",)
