"""Fixtures of the security tests: alarm databases on SQLite and PostgreSQL where the alarm
database matters, the session's in-process heat-engine (tests/support/heat_engine.py) and a
real keystone with two projects delegating to a service."""
from __future__ import annotations

import types

import pytest

from tests.support.alarm_worlds import AlarmWorld
from tests.support.databases import DATABASES, database_url
from tests.support.heat_engine import session_engine
from tests.support.keystone import Keystone


@pytest.fixture(params=DATABASES)
def alarm_url(request, tmp_path):
    return database_url(request.param, tmp_path, request)


@pytest.fixture
def world(alarm_url):
    world = AlarmWorld(alarm_url)
    yield world
    world.close()


@pytest.fixture(scope="session")
def heat_engine(request, tmp_path_factory):
    return session_engine(request, tmp_path_factory)


@pytest.fixture(scope="session")
def keystone(tmp_path_factory):
    server = Keystone(str(tmp_path_factory.mktemp("keystone")))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def trust_cloud(keystone):
    """Projects A and B, a user of each, the alarm service user ``svc``, and trusts:
    ``a`` (A's user to svc in A), ``b`` (B's user to svc in B) and ``a_to_b`` (A's user to
    B's user in A, not to the service)."""
    from keystoneclient.v3 import client
    ks = keystone.admin()
    member = ks.roles.list(name="member")[0]
    svc = ks.users.create("alarm-svc", domain="default", password="svc-secret")
    cloud = types.SimpleNamespace(svc=svc, svc_password="svc-secret")
    for name in ("a", "b"):
        project = ks.projects.create(f"project-{name}", "default")
        user = ks.users.create(f"user-{name}", domain="default", password=f"{name}-secret")
        ks.roles.grant(member, user=user, project=project)
        setattr(cloud, f"project_{name}", project)
        setattr(cloud, f"user_{name}", user)

    def trust(name, trustee):
        project = getattr(cloud, f"project_{name}")
        own = client.Client(session=keystone.session(f"user-{name}", f"{name}-secret",
                                                     project_id=project.id))
        return own.trusts.create(trustor_user=getattr(cloud, f"user_{name}").id,
                                 trustee_user=trustee.id, project=project.id,
                                 role_names=["member"], impersonation=False).id

    cloud.trust_a = trust("a", svc)
    cloud.trust_b = trust("b", svc)
    cloud.trust_a_to_b = trust("a", cloud.user_b)
    return cloud
