"""A heat-engine inside this process, for tests, benchmarks and the demo.

``EmbeddedEngine`` starts Heat's real ``EngineService`` on ``fake://``
messaging with our resource types registered, and a Heat database on the URL
given: a SQLite file (set up so that the engine's threads can share it) or
PostgreSQL.  No cloud runs here, so Keystone, which
Heat needs for trusts, stack-domain users and the EC2 keys behind
``alarm_url``, is Heat's own ``FakeKeystoneClient``; nothing else is faked.

heat-engine 27 runs on oslo.service's threading backend, which must be
selected before Heat is imported: call :func:`select_threading_backend`
first thing (the test conftest and the scripts do).
"""
from __future__ import annotations

import os
import sys
import time
from unittest import mock

from oslo_service import backend

from heat_alarming import shipped


def select_threading_backend() -> None:
    """Select the backend heat-engine uses; harmless when already selected."""
    try:
        backend.init_backend(backend.BackendType.THREADING)
    except backend.exceptions.BackendAlreadySelected:
        pass


def _share_sqlite_between_threads(engine) -> None:
    """Let the engine's many threads share one SQLite file.

    SQLite allows one writer at a time. A transaction that starts as a reader
    and then writes cannot wait for the lock (SQLite fails it at once with
    "database is locked"), so every transaction takes the write lock when it
    begins (BEGIN IMMEDIATE) and waits up to the busy timeout for it;
    write-ahead logging keeps those waits short.
    """
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # oslo.db begins SQLite transactions itself, with a deferred BEGIN: replace
    # its listener (the commit and rollback listeners that clear its
    # ``in_transaction`` flag stay)
    for listener in list(engine.dispatch.begin):
        if getattr(listener, "__name__", "") == "_sqlite_emit_begin":
            sa.event.remove(engine, "begin", listener)

    @sa.event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.info["in_transaction"] = True

    engine.dispose()


def _fake_keystone_data(self):
    self._keystone_loaded = True
    self.roles = ["member"]
    self.user_domain_id = self.project_domain_id = "default"


def user_context(tenant_id: str = "test_tenant_id", user: str = "demo"):
    """A request context as a logged-in user of ``tenant_id`` would have."""
    from heat.common import context
    return context.RequestContext.from_dict({
        "tenant_id": tenant_id, "tenant": tenant_id, "username": user, "user_id": None,
        "password": "", "roles": ["member"], "is_admin": False,
        "auth_url": "http://127.0.0.1:5000/v3", "auth_token": "embedded",
        "trust_id": None, "region_name": None})


class EmbeddedEngine:
    """A running in-process heat-engine with our plugin, and helpers to drive it."""

    def __init__(self, heat_database: str, alarm_database: str, *, clock=None,
                 overrides: dict | None = None, join_grace: bool = False) -> None:
        from heat.common import config  # noqa: F401  (registers Heat's options)
        from oslo_config import cfg
        cfg.CONF.set_override("environment_dir",
                              os.path.join(sys.prefix, "etc/heat/environment.d"))
        from heat.engine import resources
        resources.initialise()
        cfg.CONF.clear_override("environment_dir")
        from heat.common import context as heat_context
        from heat.common import messaging
        from heat.db import api as db_api
        from heat.db import models
        from heat.engine import service
        from heat.engine.clients.os import keystone
        from heat.engine.clients.os.keystone import fake_keystoneclient as fake_ks
        from heat.rpc import api as rpc_api
        from heat.rpc import client as rpc_client
        from oslo_db import options as db_options

        from heat_alarming import opts
        from heat_alarming.resources import plugin, runtime

        cfg.CONF([], project="heat")
        cfg.CONF.set_override("deferred_auth_method", "password")
        cfg.CONF.set_override("heat_waitcondition_server_url",
                              "http://127.0.0.1:8000/v1/waitcondition")
        opts.register_opts(cfg.CONF)
        cfg.CONF.set_override("alarm_database", alarm_database, opts.GROUP)
        for name, value in (overrides or {}).items():
            cfg.CONF.set_override(name, value, opts.GROUP)
        messaging.setup("fake://", optional=True)
        db_options.set_defaults(cfg.CONF, connection=heat_database)
        if heat_database.startswith("sqlite"):
            _share_sqlite_between_threads(db_api.get_engine())
        models.BASE.metadata.create_all(db_api.get_engine())
        env = resources.global_env()
        for type_name, cls in plugin.available_resource_mapping().items():
            env.register_class(type_name, cls)
        self.runtime = runtime.Runtime(cfg.CONF, clock=clock, join_grace=join_grace)
        runtime.set_runtime(self.runtime)
        self._patches = [
            mock.patch.object(keystone.KeystoneClientPlugin, "_create",
                              return_value=fake_ks.FakeKeystoneClient()),
            mock.patch.object(heat_context.StoredContext, "_load_keystone_data",
                              _fake_keystone_data)]
        for patch in self._patches:
            patch.start()
        self._service = service.EngineService("localhost", rpc_api.ENGINE_TOPIC)
        self._service.start()
        self.client = rpc_client.EngineClient()
        self.ctx = user_context()
        self.clock = clock

    def stop(self) -> None:
        from heat_alarming.resources import runtime
        self._service.stop()
        runtime.set_runtime(None)
        for patch in self._patches:
            patch.stop()

    # -- driving it ------------------------------------------------------------
    @staticmethod
    def template(name: str) -> str:
        """The text of the shipped template ``name`` (heat_alarming.shipped)."""
        with open(shipped.template_path(name)) as handle:
            return handle.read()

    def create(self, name: str, template: str, params=None, ctx=None):
        from heat.common import template_format
        ctx = ctx or self.ctx
        ident = self.client.create_stack(ctx, name, template_format.parse(template),
                                         params=params or {}, files={}, args={})
        self.wait(ident, "CREATE", ctx=ctx)
        return ident

    def wait(self, ident, action, ctx=None, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack = self.client.show_stack(ctx or self.ctx, ident, resolve_outputs=False)[0]
            if stack["stack_action"] == action and stack["stack_status"] != "IN_PROGRESS":
                if stack["stack_status"] != "COMPLETE":
                    raise RuntimeError(f"{action} failed: {stack['stack_status_reason']}")
                return stack
            time.sleep(0.1)
        raise TimeoutError(f"stack did not finish {action} in {timeout} s")

    def outputs(self, ident, ctx=None) -> dict:
        stack = self.client.show_stack(ctx or self.ctx, ident, resolve_outputs=True)[0]
        return {o["output_key"]: o.get("output_value") for o in stack.get("outputs", [])}

    def group_idle(self, ident, name="group", timeout=30, ctx=None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.client.describe_stack_resource(ctx or self.ctx, ident, name)
            if not (res.get("metadata") or {}).get("scaling_in_progress"):
                return
            time.sleep(0.1)
        raise TimeoutError("the group kept scaling")

    def physical_id(self, ident, name: str, ctx=None) -> str:
        return self.client.describe_stack_resource(ctx or self.ctx, ident,
                                                   name)["physical_resource_id"]
