"""Trust actions use only the alarm owner's own trust, and never show a trust id.

``trust+http://<trust_id>@host/path`` makes heat-engine fetch a token scoped to
the trust and send it to the URL: the attack is a project naming another
project's trust (or guessing ids) to have that project's token delivered to
a URL of its choice.  Against a REAL keystone (tests/support/keystone.py:
the installed keystone package under gunicorn, SQLite), with a recording
proxy in front of it to tell which tokens were asked for.  The webhooks run
on 127.0.0.1, which the policy allows only because these tests say so.
"""
from __future__ import annotations

import logging
import uuid

import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine.alarm import Alarm, AlarmError
from heat_alarming.engine.alarm_store import AlarmStore, Notification
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.notifiers import (
    NotifierManager,
    NotifierSettings,
    notifier_settings_from_conf,
)
from heat_alarming.engine.notifiers.destinations import DestinationPolicy
from heat_alarming.engine.notifiers.dispatcher import ACTION_FAILED, Dispatcher
from heat_alarming.engine.notifiers.trust import TRUST_REFUSED
from heat_alarming.metering import ManualClock, RollingStore, Sample
from tests.support.databases import DATABASES, database_url
from tests.support.http_servers import Webhook

PAYLOAD = {"alarm_id": None, "alarm_name": "cpu-high", "severity": "low", "previous": "ok",
           "current": "alarm", "reason": "r", "reason_data": {}}


@pytest.fixture(params=DATABASES)
def alarm_store(request, tmp_path):
    store = AlarmStore(database_url(request.param, tmp_path, request))
    yield store
    store.close()


@pytest.fixture(autouse=True)
def keystone_heard_nothing_yet(keystone):
    """What the recording proxy saw is this test's alone."""
    keystone.proxy.seen.clear()


@pytest.fixture
def hook():
    server = Webhook()
    yield server
    server.close()


def manager(keystone, cloud, **policy):
    return NotifierManager(NotifierSettings(
        trust_auth_url=keystone.url, trust_username="alarm-svc",
        trust_password=cloud.svc_password, timeout=30,
        policy=DestinationPolicy(allow_loopback=True, **policy)))


def trust_tokens_asked(keystone) -> list[str]:
    """The trust ids of the trust-scoped tokens asked of keystone so far."""
    return [((body.get("auth") or {}).get("scope") or {}).get("OS-TRUST:trust", {}).get("id")
            for body in keystone.proxy.token_requests()]


def trust_action(trust_id: str, url: str) -> str:
    return url.replace("http://", f"trust+http://{trust_id}@")


def definition(cloud, action, project="a") -> dict:
    return {"alarm_id": str(uuid.uuid4()), "name": "cpu-high",
            "project_id": getattr(cloud, f"project_{project}").id,
            "user_id": getattr(cloud, f"user_{project}").id,
            "alarm_actions": [action],
            "threshold_rule": {"meter_name": "cpu", "threshold": 50,
                               "comparison_operator": "gt", "period": 60}}


def everything_logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


def test_the_alarms_own_trust_brings_a_token_of_that_trust_to_the_webhook(
        keystone, trust_cloud, alarm_store, hook, caplog):
    cloud = trust_cloud
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, alarm_store, notifiers=manager(keystone, cloud))
    with caplog.at_level(logging.DEBUG):
        alarm = evaluator.define(definition(cloud, trust_action(cloud.trust_a, hook.url)))
        store.add(Sample("cpu", 90.0, "vm", project_id=cloud.project_a.id,
                         timestamp=clock() + 1))
        clock.advance(61)
        (change,) = evaluator.evaluate()
        assert evaluator.dispatcher.deliver_due() == 1
    (request,) = hook.requests
    token = request["headers"]["X-Auth-Token"]
    access = keystone.admin().tokens.validate(token)
    assert access.trust_id == cloud.trust_a, "a token of the alarm's own trust"
    assert access.project_id == cloud.project_a.id
    assert alarm_store.pending_count() == 0
    assert cloud.trust_a not in everything_logged(caplog)
    assert all(cloud.trust_a not in f"{h.reason} {h.reason_data}"
               for h in evaluator.history(alarm.alarm_id))


@pytest.mark.parametrize("which", ["another project's", "an unknown", "another trustee's"])
def test_a_trust_that_is_not_the_alarm_owners_is_refused_at_definition_before_any_token(
        keystone, trust_cloud, alarm_store, hook, which, caplog):
    cloud = trust_cloud
    trust_id = {"another project's": cloud.trust_b, "an unknown": uuid.uuid4().hex,
                "another trustee's": cloud.trust_a_to_b}[which]
    evaluator = Evaluator(RollingStore(10, 3600), alarm_store,
                          notifiers=manager(keystone, cloud))
    with caplog.at_level(logging.DEBUG), pytest.raises(AlarmError) as caught:
        evaluator.define(definition(cloud, trust_action(trust_id, hook.url)))
    assert caught.value.field == "alarm_actions[0]"
    # the same words whatever the reason: a trust id cannot be probed
    assert caught.value.reason == f"trust+http://***@127.0.0.1:{hook.port}/hook: " \
                                  f"{TRUST_REFUSED}"
    assert trust_id not in str(caught.value)
    assert trust_id not in trust_tokens_asked(keystone), "no token was asked for it"
    assert trust_id not in everything_logged(caplog)
    assert evaluator.alarms() == [] and hook.requests == []


def test_at_delivery_a_trust_that_is_not_the_alarm_owners_is_refused_alike_before_any_token(
        keystone, trust_cloud, alarm_store, hook, caplog):
    """Definitions stored without the check (before it existed) are checked again when
    delivered: refused, not retried, in the history without the trust id."""
    cloud = trust_cloud
    foreign, unknown = cloud.trust_b, uuid.uuid4().hex
    notifiers = manager(keystone, cloud)
    notifiers.use_alarms(alarm_store.load_alarm)
    alarms = []
    for trust_id in (foreign, unknown):
        alarm = Alarm.from_dict(definition(cloud, trust_action(trust_id, hook.url)))
        alarm_store.save_alarm(alarm)
        alarm_store.commit_round([], [], [Notification(
            str(uuid.uuid4()), alarm.alarm_id, alarm.alarm_actions[0],
            dict(PAYLOAD, alarm_id=alarm.alarm_id), next_attempt=0.0, created=0.0)])
        alarms.append(alarm)
    with caplog.at_level(logging.DEBUG):
        assert Dispatcher(alarm_store, notifiers).deliver_due() == 2
    assert hook.requests == [] and alarm_store.pending_count() == 0, "refused, not retried"
    asked = trust_tokens_asked(keystone)
    assert foreign not in asked and unknown not in asked
    reasons = []
    for alarm in alarms:
        (failure,) = alarm_store.history(alarm.alarm_id)
        assert failure.type == ACTION_FAILED
        reasons.append(failure.reason)
        recorded = f"{failure.reason} {failure.reason_data}"
        assert foreign not in recorded and unknown not in recorded
    assert reasons[0] == reasons[1], "the same words for a foreign and an unknown trust"
    assert TRUST_REFUSED in reasons[0] and "trust+http://***@" in reasons[0]
    logged = everything_logged(caplog)
    assert foreign not in logged and unknown not in logged


def test_a_token_never_goes_to_a_refused_destination(keystone, trust_cloud, alarm_store,
                                                     caplog):
    """The alarm's own trust, but the metadata service as destination: refused when
    defined and when delivered, and keystone is not even asked."""
    cloud = trust_cloud
    action = f"trust+http://{cloud.trust_a}@169.254.169.254/latest/meta-data"
    before = len(keystone.proxy.seen)
    notifiers = manager(keystone, cloud)
    evaluator = Evaluator(RollingStore(10, 3600), alarm_store, notifiers=notifiers)
    with pytest.raises(AlarmError, match=r"169\.254\.169\.254 is in 169\.254\.0\.0/16, a "
                                         r"denied network"):
        evaluator.define(definition(cloud, action))
    alarm = Alarm.from_dict(definition(cloud, action))
    alarm_store.save_alarm(alarm)
    alarm_store.commit_round([], [], [Notification(
        "k", alarm.alarm_id, action, dict(PAYLOAD, alarm_id=alarm.alarm_id),
        next_attempt=0.0, created=0.0)])
    with caplog.at_level(logging.DEBUG):
        Dispatcher(alarm_store, notifiers).deliver_due()
    (failure,) = alarm_store.history(alarm.alarm_id)
    assert "denied network" in failure.reason and alarm_store.pending_count() == 0
    assert len(keystone.proxy.seen) == before, "keystone heard nothing of it"
    assert cloud.trust_a not in everything_logged(caplog) + failure.reason


# -- the service user from heat.conf: Heat's [trustee], or the deprecated trust_* options --
DEPRECATION = "trust_auth_url, trust_username, trust_password and trust_user_domain_name " \
              "are deprecated"


def heat_conf(tmp_path, keystone, cloud, how: str) -> cfg.ConfigOpts:
    """A ConfigOpts read from a heat.conf naming the service user ``how``."""
    root = keystone.url.rsplit("/v3", 1)[0]
    sections = {
        # as Heat's own heat.conf carries it: the generic plugin, an unversioned URL
        "[trustee] password": f"[trustee]\nauth_type = password\nauth_url = {root}\n"
                              f"username = alarm-svc\npassword = {cloud.svc_password}\n"
                              "user_domain_name = Default\n",
        "[trustee] v3password": f"[trustee]\nauth_type = v3password\n"
                                f"auth_url = {keystone.url}\nusername = alarm-svc\n"
                                f"password = {cloud.svc_password}\n"
                                "user_domain_id = default\n",
        "deprecated trust_* options": f"trust_auth_url = {keystone.url}\n"
                                      "trust_username = alarm-svc\n"
                                      f"trust_password = {cloud.svc_password}\n",
    }
    path = tmp_path / "heat.conf"
    extra = "" if how.startswith("deprecated") else sections[how]
    own = sections[how] if how.startswith("deprecated") else ""
    path.write_text(f"[heat_alarming]\nwebhook_allow_loopback = true\n"
                    f"notification_timeout = 30\n{own}{extra}")
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[str(path)])
    return conf


@pytest.mark.parametrize("how", ["[trustee] password", "[trustee] v3password",
                                 "deprecated trust_* options"])
def test_the_service_user_of_heat_conf_delivers_only_the_alarm_projects_own_trust(
        keystone, trust_cloud, tmp_path, hook, how, caplog):
    """A of project A and B of project B each delegate to the service user: each project's
    alarm is delivered with its own trust's token, and refused the other project's trust,
    before any token of it is asked for."""
    cloud = trust_cloud
    conf = heat_conf(tmp_path, keystone, cloud, how)
    with caplog.at_level(logging.WARNING, logger="heat_alarming"):
        settings = notifier_settings_from_conf(conf)
    warned = [r for r in caplog.records if DEPRECATION in r.getMessage()]
    assert len(warned) == (1 if how.startswith("deprecated") else 0)
    alarm_store = AlarmStore(f"sqlite:///{tmp_path / 'alarms.sqlite'}")
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, alarm_store, notifiers=NotifierManager(settings))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for own, other in (("a", "b"), ("b", "a")):
            foreign = getattr(cloud, f"trust_{other}")
            with pytest.raises(AlarmError, match=TRUST_REFUSED):
                evaluator.define(definition(cloud, trust_action(foreign, hook.url), own))
            assert foreign not in trust_tokens_asked(keystone)
        alarms = {own: evaluator.define(definition(
            cloud, trust_action(getattr(cloud, f"trust_{own}"), hook.url), own))
            for own in ("a", "b")}
        for own in ("a", "b"):
            store.add(Sample("cpu", 90.0, "vm", project_id=getattr(cloud, f"project_{own}").id,
                             timestamp=clock() + 1))
        clock.advance(61)
        assert len(evaluator.evaluate()) == 2
        assert evaluator.dispatcher.deliver_due() == 2
    tokens = {keystone.admin().tokens.validate(r["headers"]["X-Auth-Token"]).trust_id:
              r["body"]["alarm_id"] for r in hook.requests}
    assert tokens == {cloud.trust_a: alarms["a"].alarm_id, cloud.trust_b: alarms["b"].alarm_id}
    assert set(trust_tokens_asked(keystone)) - {None} == {cloud.trust_a, cloud.trust_b}, \
        "the proxy saw this way's token requests, so what it did not see was not asked"
    assert not [r for r in caplog.records if DEPRECATION in r.getMessage()], \
        "warned once, when the settings were read, not at each delivery"
    assert cloud.trust_a not in everything_logged(caplog)
    alarm_store.close()


def test_trustee_wins_over_the_deprecated_options(keystone, trust_cloud, tmp_path, hook,
                                                 caplog):
    cloud = trust_cloud
    conf = heat_conf(tmp_path, keystone, cloud, "[trustee] password")
    conf.set_override("trust_auth_url", "http://127.0.0.1:9/v3", opts.GROUP)
    conf.set_override("trust_username", "nobody", opts.GROUP)
    with caplog.at_level(logging.WARNING, logger="heat_alarming"):
        notifiers = NotifierManager(notifier_settings_from_conf(conf))
    assert not [r for r in caplog.records if DEPRECATION in r.getMessage()]
    (ignored,) = [r for r in caplog.records if "are ignored" in r.getMessage()]
    assert "[trustee] names the service user of trust actions" in ignored.getMessage()
    alarm = Alarm.from_dict(definition(cloud, trust_action(cloud.trust_a, hook.url)))
    notifiers.check_alarm(alarm)  # keystone at [trustee]'s URL answered, not port 9


def test_without_a_service_user_trust_actions_are_refused_saying_what_to_configure(
        tmp_path, hook):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("webhook_allow_loopback", True, opts.GROUP)
    notifiers = NotifierManager(notifier_settings_from_conf(conf))
    alarm = Alarm.from_dict({"alarm_id": str(uuid.uuid4()), "name": "n", "project_id": "p",
                             "user_id": "u",
                             "alarm_actions": [trust_action("t" * 32, hook.url)],
                             "threshold_rule": {"meter_name": "cpu", "threshold": 50}})
    with pytest.raises(AlarmError, match=r"no service user: heat.conf's \[trustee\] has no "
                                         r"auth_type"):
        notifiers.check_alarm(alarm)
