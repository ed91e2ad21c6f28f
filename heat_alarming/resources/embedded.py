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


def parse_template(text: str) -> dict:
    """A template's text as Heat reads it (JSON or YAML, a mapping), without an engine.

    A ValueError says what is wrong in one line, with the line and column of a
    YAML error.
    """
    import yaml
    from heat.common import template_format  # leaves oslo.service's backend unselected
    try:
        return template_format.simple_parse(text)
    except ValueError as exc:
        cause = exc.__context__  # Heat re-raises the YAML error as a ValueError
        mark = getattr(cause, "problem_mark", None)
        if not isinstance(cause, yaml.MarkedYAMLError) or mark is None:
            raise
        where = f"line {mark.line + 1}, column {mark.column + 1}: {cause.problem}"
        if cause.context and cause.context_mark is not None:
            where += f" ({cause.context} from line {cause.context_mark.line + 1})"
        raise ValueError(where) from exc


class StackRefused(ValueError):
    """Heat refused to create a stack and stored nothing; the message is Heat's.

    Heat validates the whole template (resource types, properties and their
    values) and the parameters before it stores a stack.
    """


class StackFailed(RuntimeError):
    """A stack action ended FAILED; ``reason`` is Heat's status reason for it."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action} failed: {reason}")
        self.action = action
        self.reason = reason


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
        """Create a stack and wait for it: :class:`StackRefused` when Heat refuses it,
        :class:`StackFailed` (once the other resources have settled) when it fails."""
        from heat.common import exception, template_format
        ctx = ctx or self.ctx
        try:
            ident = self.client.create_stack(ctx, name, template_format.parse(template),
                                             params=params or {}, files={}, args={})
        except (exception.HeatException, ValueError) as exc:
            raise StackRefused(str(exc)) from exc
        try:
            self.wait(ident, "CREATE", ctx=ctx)
        except StackFailed:
            self.settle(ident, ctx=ctx)
            raise
        return ident

    def wait(self, ident, action, ctx=None, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack = self.client.show_stack(ctx or self.ctx, ident, resolve_outputs=False)[0]
            if stack["stack_action"] == action and stack["stack_status"] != "IN_PROGRESS":
                if stack["stack_status"] != "COMPLETE":
                    raise StackFailed(action, stack["stack_status_reason"])
                return stack
            time.sleep(0.1)
        raise TimeoutError(f"stack did not finish {action} in {timeout} s")

    def settle(self, ident, ctx=None, timeout=30) -> bool:
        """Wait until no resource of the stack or of its nested stacks is IN_PROGRESS.

        A stack is FAILED as soon as one resource fails, while Heat goes on with the
        others; stopping the engine under them leaves their threads waiting on RPC
        replies that never come. False: still busy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resources = self.client.list_stack_resources(ctx or self.ctx, ident,
                                                         nested_depth=5)
            if not any(r["resource_status"] == "IN_PROGRESS" for r in resources):
                return True
            time.sleep(0.1)
        return False

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
