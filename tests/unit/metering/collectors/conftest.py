"""The collectors' servers: the real Gnocchi (tests/support/gnocchi.py)."""
from __future__ import annotations

import pytest

from tests.support import gnocchi as gnocchi_support


@pytest.fixture(scope="session")
def gnocchi() -> gnocchi_support.GnocchiAdmin:
    """The running Gnocchi (started by tools/ensure-gnocchi.sh), as its admin; the
    tests that use it skip with the reason when it cannot run here."""
    return gnocchi_support.server()


@pytest.fixture(scope="session")
def instance_type(gnocchi) -> str:
    """The tests' shared resource type, shaped like Ceilometer's ``instance``."""
    return gnocchi.ensure_resource_type()
