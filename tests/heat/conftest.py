"""A real heat-engine in this process (EngineService on a SQLite file, fake:// RPC).

The engine comes from :mod:`heat_alarming.resources.embedded`; Keystone is the
only cloud service Heat touches here (trusts, stack-domain users and EC2 keys
of the scaling policies), and Heat's own FakeKeystoneClient stands in for it
because no keystone runs in these tests.
"""
from __future__ import annotations

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()  # before anything imports heat

import pytest  # noqa: E402

from tests.support.heat_engine import session_engine  # noqa: E402


@pytest.fixture(scope="session")
def heat_engine(request, tmp_path_factory):
    return session_engine(request, tmp_path_factory)
