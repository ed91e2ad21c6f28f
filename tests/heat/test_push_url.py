"""``push_url``: samples pushed by a server that holds no keystone credentials (issue 14).

The alarm's ``push_url`` is Heat's EC2-signed heat-api-cfn URL for the alarm,
signed with the key of a keystone user that the alarm makes in Heat's
stack-user domain. heat-api-cfn checks the signature with keystone
(``ec2tokens``) and signals the resource as that user; here the engine is
real and in this process, keystone is Heat's ``FakeKeystoneClient`` (which
hands out user ``1234`` with access key ``4567`` and secret ``8901`` in
project ``aprojectid``), and the cfn API's step is played by calling the
engine's ``resource_signal`` exactly as ``heat.api.cfn.v1.signal`` does, with
the stack user's request context. tests/functional/test_deployment.py pushes
through a real heat-api-cfn and keystone with curl.
"""
from __future__ import annotations

import uuid
from unittest import mock
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from heat.common import identifier
from heat.engine.clients.os.keystone import fake_keystoneclient as fake_ks
from keystoneclient.contrib.ec2 import utils as ec2_utils

from heat_alarming.resources.embedded import user_context

#: an alarm whose push_url is handed to a (stand-in) server, as a server's user_data would be
PUSHED = """
heat_template_version: 2016-10-14
resources:
  busy:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 50
      comparison_operator: gt
  server:
    type: OS::Heat::Value
    properties:
      value: {get_attr: [busy, push_url]}
outputs:
  push_url:
    value: {get_attr: [server, value]}
  signal_url:
    value: {get_attr: [busy, signal_url]}
"""

#: an alarm nobody pushes to through a URL
QUIET = """
heat_template_version: 2016-10-14
resources:
  busy:
    type: OS::Metering::Alarm
    properties:
      meter_name: load
      threshold: 50
"""

#: what FakeKeystoneClient answers for every stack-domain user and key
STACK_USER, STACK_USER_PROJECT, ACCESS, SECRET = "1234", "aprojectid", "4567", "8901"


def _stack_user_context(project=STACK_USER_PROJECT):
    """The context heat-api-cfn's ec2token filter gives a request signed with the key."""
    ctx = user_context(project, user="busy-stack-user")
    ctx.user_id = STACK_USER
    ctx.roles = ["heat_stack_user"]
    return ctx


@pytest.fixture
def keystone_calls():
    """Heat's calls to the fake keystone's stack-domain methods, by method name."""
    calls: dict[str, list] = {}
    names = ("create_stack_domain_user", "create_stack_domain_user_keypair",
             "delete_stack_domain_user", "delete_stack_domain_user_keypair",
             "disable_stack_domain_user", "enable_stack_domain_user")
    patches = []
    for name in names:
        real = getattr(fake_ks.FakeKeystoneClient, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.setdefault(_name, []).append(kwargs)
            return _real(self, *args, **kwargs)
        patches.append(mock.patch.object(fake_ks.FakeKeystoneClient, name, spy))
    for patch in patches:
        patch.start()
    yield calls
    for patch in patches:
        patch.stop()


def _unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _stored(engine, resource_id, project="test_tenant_id"):
    """How many series of ``resource_id`` the store holds for ``project`` (0 or 1)."""
    query = [{"field": "resource_id", "op": "eq", "value": resource_id}]
    return engine.runtime.store.select("load", query, project_id=project).size


def _alarm_events(engine, ident):
    return [e for e in engine.client.list_events(engine.ctx, ident)
            if e["resource_name"] == "busy" and e["resource_action"] == "SIGNAL"]


def test_push_url_is_an_ec2_signed_url_for_the_alarm(heat_engine, keystone_calls):
    engine = heat_engine
    ident = engine.create(_unique("pushurl"), PUSHED)
    url = engine.outputs(ident)["push_url"]

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:8000")  # the cfn server
    rid = identifier.ResourceIdentifier.from_arn_url(url)
    assert dict(rid.stack()) == dict(ident) and rid.resource_name == "busy"
    assert parts.path == "/v1/waitcondition" + rid.arn_url_path()
    params = dict(parse_qsl(parts.query))
    assert params.keys() == {"SignatureMethod", "SignatureVersion", "AWSAccessKeyId",
                             "Signature"}, "no Timestamp: the URL does not expire"
    assert (params["SignatureMethod"], params["SignatureVersion"],
            params["AWSAccessKeyId"]) == ("HmacSHA256", "2", ACCESS)
    # the signature keystone's ec2tokens recomputes, for a PUT to this path
    signature = params.pop("Signature")
    assert signature == ec2_utils.Ec2Signer(SECRET).generate({
        "host": parts.netloc, "verb": "PUT", "path": unquote(parts.path), "params": params})

    # one user and one key, made at create since the template hands the URL on
    assert len(keystone_calls["create_stack_domain_user"]) == 1
    assert len(keystone_calls["create_stack_domain_user_keypair"]) == 1
    assert engine.outputs(ident)["push_url"] == url, "the same URL every time"
    assert len(keystone_calls["create_stack_domain_user_keypair"]) == 1

    signal_url = engine.outputs(ident)["signal_url"]
    assert signal_url.endswith(f"/stacks/{ident['stack_name']}/{ident['stack_id']}"
                               "/resources/busy/signal"), signal_url


def test_an_alarm_without_push_url_makes_no_keystone_user(heat_engine, keystone_calls):
    engine = heat_engine
    engine.create(_unique("quiet"), QUIET)
    assert "create_stack_domain_user" not in keystone_calls
    assert "create_stack_domain_user_keypair" not in keystone_calls


def test_resource_show_makes_the_url_on_first_use(heat_engine, keystone_calls):
    engine = heat_engine
    ident = engine.create(_unique("lazy"), QUIET)
    shown = engine.client.describe_stack_resource(engine.ctx, ident, "busy",
                                                  with_attr=None)
    assert "/v1/waitcondition/" in shown["attributes"]["push_url"]
    assert len(keystone_calls["create_stack_domain_user_keypair"]) == 1


def test_samples_pushed_as_the_stack_user_are_stored_without_an_event(heat_engine):
    engine = heat_engine
    ident = engine.create(_unique("pushed"), PUSHED)
    vms = [_unique("vm"), _unique("vm")]
    engine.client.resource_signal(
        _stack_user_context(), ident, "busy",
        {"samples": [{"meter": "load", "value": 70.0, "resource_id": vm} for vm in vms]},
        sync_call=True)
    assert [_stored(engine, vm) for vm in vms] == [1, 1], "stored under the stack's project"
    assert [_stored(engine, vm, project=STACK_USER_PROJECT) for vm in vms] == [0, 0], \
        "never under the stack user's own project"
    assert _alarm_events(engine, ident) == [], "a push writes no Heat event"


def test_a_push_is_checked_as_any_signal_and_refused_whole(heat_engine):
    engine = heat_engine
    ident = engine.create(_unique("refused"), PUSHED)
    vm = _unique("vm")
    rows = [{"meter": "load", "value": 10.0, "resource_id": vm},
            {"meter": "load", "value": "NaN", "resource_id": vm}]
    with pytest.raises(Exception, match=r"samples\[1\]\.value"):
        engine.client.resource_signal(_stack_user_context(), ident, "busy",
                                      {"samples": rows}, sync_call=True)
    too_many = [{"meter": "load", "value": 1.0, "resource_id": vm}] * 100_000
    with pytest.raises(Exception, match="max_samples_per_signal"):
        engine.client.resource_signal(_stack_user_context(), ident, "busy",
                                      {"samples": too_many}, sync_call=True)
    assert _stored(engine, vm) == 0


def test_a_refusal_reaches_the_caller_of_an_asynchronous_signal_too(heat_engine):
    """heat-api's /signal and heat-api-cfn's /signal/ hand the signal to a thread of the
    engine; the samples are checked before, in the caller's RPC call."""
    engine = heat_engine
    ident = engine.create(_unique("async"), PUSHED)
    vm = _unique("vm")
    with pytest.raises(Exception, match=r"samples\[0\]: unknown field\(s\) \['cpu'\]") as caught:
        engine.client.resource_signal(
            _stack_user_context(), ident, "busy",
            {"samples": [{"meter": "load", "value": 1.0, "resource_id": vm, "cpu": 3}]})
    assert type(caught.value).__name__.startswith("StackValidationFailed"), \
        "a type heat-api and heat-api-cfn answer with a 400 and the message"
    assert _stored(engine, vm) == 0


def test_a_stack_user_of_another_project_cannot_push(heat_engine):
    engine = heat_engine
    ident = engine.create(_unique("victim"), PUSHED)
    vm = _unique("vm")
    # Heat's database API does not find another project's stack
    with pytest.raises(Exception, match="could not be found"):
        engine.client.resource_signal(
            _stack_user_context(project="another-stack-user-project"), ident, "busy",
            {"samples": [{"meter": "load", "value": 99.0, "resource_id": vm}]},
            sync_call=True)
    assert _stored(engine, vm) == 0


def test_suspend_disables_the_user_resume_enables_it_delete_deletes_it(
        heat_engine, keystone_calls):
    engine = heat_engine
    ident = engine.create(_unique("lifecycle"), PUSHED)
    engine.client.stack_suspend(engine.ctx, ident)
    engine.wait(ident, "SUSPEND")
    assert [c["user_id"] for c in keystone_calls["disable_stack_domain_user"]] == [STACK_USER]
    with pytest.raises(Exception, match="SUSPEND"):
        engine.client.resource_signal(
            _stack_user_context(), ident, "busy",
            {"samples": [{"meter": "load", "value": 1.0, "resource_id": "vm"}]},
            sync_call=True)
    engine.client.stack_resume(engine.ctx, ident)
    engine.wait(ident, "RESUME")
    assert [c["user_id"] for c in keystone_calls["enable_stack_domain_user"]] == [STACK_USER]

    engine.client.delete_stack(engine.ctx, ident)
    engine.wait(ident, "DELETE")
    assert len(keystone_calls["delete_stack_domain_user_keypair"]) == 1
    assert [c["user_id"] for c in keystone_calls["delete_stack_domain_user"]] == [STACK_USER]


def test_suspending_an_alarm_never_pushed_to_touches_no_user(heat_engine, keystone_calls):
    engine = heat_engine
    ident = engine.create(_unique("quietsuspend"), QUIET)
    engine.client.stack_suspend(engine.ctx, ident)
    engine.wait(ident, "SUSPEND")
    engine.client.stack_resume(engine.ctx, ident)
    engine.wait(ident, "RESUME")
    engine.client.delete_stack(engine.ctx, ident)
    engine.wait(ident, "DELETE")
    assert keystone_calls == {}


def test_the_template_hands_the_url_to_its_server(heat_engine):
    """templates/hot-push-url.yaml, its server a stand-in (OS::Heat::None takes any
    properties): the stack creates, and what the server's cron job would PUT is stored."""
    engine = heat_engine
    env = {"resource_registry": {"OS::Nova::Server": "OS::Heat::None"}}
    ident = engine.create(_unique("template"), engine.template("hot-push-url.yaml"),
                          params=env)
    assert "/v1/waitcondition/" in engine.outputs(ident)["push_url"]
    host = _unique("server")
    engine.client.resource_signal(
        _stack_user_context(), ident, "high_load",
        {"samples": [{"meter": "load", "value": 0.42, "resource_id": host,
                      "metadata": {"metering.server_group": ident["stack_id"]}}]},
        sync_call=True)
    assert _stored(engine, host) == 1
