"""One in-process heat-engine per test session, shared by every test package that needs it.

Heat's configuration and RPC transport are process-wide, so two engines cannot
run in one process: each package's ``heat_engine`` fixture asks for this one.
"""
from __future__ import annotations

import os
import time

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()  # before anything imports heat

from heat_alarming.metering import ManualClock  # noqa: E402
from heat_alarming.resources.embedded import EmbeddedEngine  # noqa: E402

_engine: EmbeddedEngine | None = None


def session_engine(request, tmp_path_factory) -> EmbeddedEngine:
    """The session's engine (SQLite files for Heat and the alarms), started on first use."""
    global _engine
    if _engine is None:
        workdir = tmp_path_factory.mktemp("heat-engine")
        clock = ManualClock(float(int(time.time()) // 60 * 60))
        # the only worker of this engine: no joining grace to wait out
        _engine = EmbeddedEngine("sqlite:///" + os.path.join(workdir, "heat.sqlite"),
                                 os.path.join(workdir, "alarms.sqlite"), clock=clock,
                                 join_grace=False)
        engine = _engine

        def stop() -> None:
            engine.stop()

        request.addfinalizer(stop)
    return _engine
