"""A real heat-engine in this process (EngineService on PostgreSQL, fake:// RPC).

heat-engine 27 runs on oslo.service's threading backend, which has to be
chosen before anything imports heat; this conftest does it first. Keystone is
the only cloud service Heat touches here (trusts, stack-domain users and EC2
keys of the scaling policies): Heat's own FakeKeystoneClient stands in for
it, because no keystone runs in these tests.
"""
from __future__ import annotations

import os
import sys
import time
from unittest import mock

from oslo_service import backend

backend.init_backend(backend.BackendType.THREADING)

import pytest  # noqa: E402
from heat.common import config  # noqa: E402,F401
from oslo_config import cfg  # noqa: E402

cfg.CONF.set_override("environment_dir", os.path.join(sys.prefix, "etc/heat/environment.d"))
from heat.engine import resources  # noqa: E402

resources.initialise()
cfg.CONF.clear_override("environment_dir")

from heat.common import context as heat_context  # noqa: E402
from heat.common import messaging  # noqa: E402
from heat.db import api as db_api  # noqa: E402
from heat.db import models  # noqa: E402
from heat.engine import service  # noqa: E402
from heat.engine.clients.os import keystone  # noqa: E402
from heat.engine.clients.os.keystone import fake_keystoneclient as fake_ks  # noqa: E402
from heat.rpc import api as rpc_api  # noqa: E402
from heat.rpc import client as rpc_client  # noqa: E402
from heat.tests import utils  # noqa: E402
from oslo_db import options as db_options  # noqa: E402

from heat_alarming import opts  # noqa: E402
from heat_alarming.metering import ManualClock  # noqa: E402
from heat_alarming.resources import plugin, runtime  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def register_plugin() -> None:
    """Map our types in the global environment, as loading from plugin_dirs does."""
    env = resources.global_env()
    for name, cls in plugin.available_resource_mapping().items():
        env.register_class(name, cls)


def _fake_keystone_data(self):
    self._keystone_loaded = True
    self.roles = ["member"]
    self.user_domain_id = self.project_domain_id = "default"


class Engine:
    """The running EngineService, an RPC client and the plugin runtime."""

    def __init__(self, clock: ManualClock) -> None:
        self.client = rpc_client.EngineClient()
        self.ctx = utils.dummy_context()
        self.clock = clock
        self.runtime = runtime.get_runtime(start=False)

    def template(self, name: str) -> str:
        with open(os.path.join(ROOT, "templates", name)) as handle:
            return handle.read()

    def create(self, name: str, template: str, params=None, ctx=None):
        ctx = ctx or self.ctx
        from heat.common import template_format
        ident = self.client.create_stack(ctx, name, template_format.parse(template),
                                         params=params or {}, files={}, args={})
        self.wait(ident, "CREATE", ctx=ctx)
        return ident

    def wait(self, ident, action, ctx=None, timeout=60):
        ctx = ctx or self.ctx
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack = self.client.show_stack(ctx, ident, resolve_outputs=False)[0]
            if stack["stack_action"] == action and stack["stack_status"] != "IN_PROGRESS":
                assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
                return stack
            time.sleep(0.1)
        raise AssertionError(f"stack did not finish {action} in {timeout} s")

    def outputs(self, ident, ctx=None):
        stack = self.client.show_stack(ctx or self.ctx, ident, resolve_outputs=True)[0]
        return {o["output_key"]: o.get("output_value") for o in stack.get("outputs", [])}

    def group_idle(self, ident, name="group", timeout=30, ctx=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.client.describe_stack_resource(ctx or self.ctx, ident, name)
            if not (res.get("metadata") or {}).get("scaling_in_progress"):
                return
            time.sleep(0.1)
        raise AssertionError("the group kept scaling")


@pytest.fixture(scope="session")
def heat_database(postgres_server):
    """A PostgreSQL database for Heat itself: the engine's threads write concurrently,
    which a SQLite file answers with "database is locked"."""
    import uuid

    import sqlalchemy as sa
    name = f"ha_heat_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name})
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def heat_engine(tmp_path_factory, heat_database):
    workdir = tmp_path_factory.mktemp("heat-engine")
    cfg.CONF([], project="heat")
    cfg.CONF.set_override("deferred_auth_method", "password")
    cfg.CONF.set_override("heat_waitcondition_server_url",
                          "http://127.0.0.1:8000/v1/waitcondition")
    opts.register_opts(cfg.CONF)
    cfg.CONF.set_override("alarm_database", str(workdir / "alarms.sqlite"), "heat_alarming")
    messaging.setup("fake://", optional=True)
    db_options.set_defaults(cfg.CONF, connection=heat_database)
    models.BASE.metadata.create_all(db_api.get_engine())
    register_plugin()
    clock = ManualClock(float(int(time.time()) // 60 * 60))
    # the only worker of this engine: no joining grace to wait out
    runtime.set_runtime(runtime.Runtime(cfg.CONF, clock=clock, join_grace=False))
    patches = [mock.patch.object(keystone.KeystoneClientPlugin, "_create",
                                 return_value=fake_ks.FakeKeystoneClient()),
               mock.patch.object(heat_context.StoredContext, "_load_keystone_data",
                                 _fake_keystone_data)]
    for patch in patches:
        patch.start()
    engine_service = service.EngineService("localhost", rpc_api.ENGINE_TOPIC)
    engine_service.start()
    try:
        yield Engine(clock)
    finally:
        engine_service.stop()
        runtime.set_runtime(None)
        for patch in patches:
            patch.stop()
