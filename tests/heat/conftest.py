"""A real heat-engine in this process (EngineService on a SQLite file, fake:// RPC).

The engine comes from :mod:`heat_alarming.resources.embedded`; Keystone is the
only cloud service Heat touches here (trusts, stack-domain users and EC2 keys
of the scaling policies), and Heat's own FakeKeystoneClient stands in for it
because no keystone runs in these tests.
"""
from __future__ import annotations

import os
import time

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()  # before anything imports heat

import pytest  # noqa: E402

from heat_alarming.metering import ManualClock  # noqa: E402
from heat_alarming.resources.embedded import ROOT, EmbeddedEngine  # noqa: E402

__all__ = ["ROOT"]


@pytest.fixture(scope="session")
def heat_engine(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("heat-engine")
    heat_database = "sqlite:///" + os.path.join(workdir, "heat.sqlite")
    clock = ManualClock(float(int(time.time()) // 60 * 60))
    # the only worker of this engine: no joining grace to wait out
    engine = EmbeddedEngine(heat_database, os.path.join(workdir, "alarms.sqlite"),
                            clock=clock, join_grace=False)
    try:
        yield engine
    finally:
        engine.stop()
