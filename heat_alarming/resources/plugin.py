"""What heat-engine loads: the resource types of heat-alarming, and the worker hook.

heat-engine finds resource plugins only in ``plugin_dirs``; the shim module
that ``heat-alarming install-plugin`` writes there imports
:func:`available_resource_mapping` from here.  heat-engine imports plugins
in its parent process and then forks its workers (even with one worker), so
importing this module registers an after-fork hook that starts the runtime
in every worker, on a thread so that engine start-up never waits for it;
a worker that cotyledon respawns runs the hook again.
"""
from __future__ import annotations

import os
import sys
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def available_resource_mapping() -> dict:
    from heat_alarming.resources import (
        alarm,
        cloudwatch,
        composite_alarm,
        gnocchi_alarm,
        prometheus_alarm,
        scaling_policy,
    )

    mapping = {}
    mapping.update(alarm.resource_mapping())
    mapping.update(gnocchi_alarm.resource_mapping())
    mapping.update(composite_alarm.resource_mapping())
    mapping.update(prometheus_alarm.resource_mapping())
    mapping.update(cloudwatch.resource_mapping())
    mapping.update(scaling_policy.resource_mapping())
    return mapping


def _in_heat_engine() -> bool:
    return os.path.basename(sys.argv[0] if sys.argv else "").startswith("heat-engine")


def _start_runtime(retry_seconds: float = 10.0) -> None:
    """Start this worker's runtime, retrying while the alarm database is unreachable."""
    import time

    from heat_alarming.resources.runtime import get_runtime

    while True:
        try:
            get_runtime(start=True)
            return
        except Exception:  # a broken alarm database must not take heat-engine down
            LOG.exception("heat-alarming could not start in worker %d; retrying in %.0f s",
                          os.getpid(), retry_seconds)
            time.sleep(retry_seconds)


def _after_fork_in_worker() -> None:
    if _in_heat_engine():
        threading.Thread(target=_start_runtime, name="heat-alarming-start",
                         daemon=True).start()


os.register_at_fork(after_in_child=_after_fork_in_worker)
