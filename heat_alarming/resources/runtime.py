"""The alarm machinery of one heat-engine process: store, evaluator, signaller.

heat-engine imports plugins in its parent process and forks its workers
afterwards, so nothing may be started at import time.  :func:`get_runtime`
builds the runtime for the current process on first use (and again in a
forked child, where the parent's threads do not exist), from the
``[heat_alarming]`` options of heat.conf.
"""
from __future__ import annotations

import os
import threading

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import opts
from heat_alarming.resources import actions

LOG = logging.getLogger(__name__)


class Runtime:
    """Store, evaluator and the in-process policy signaller of one process."""

    def __init__(self, conf: cfg.ConfigOpts = cfg.CONF, clock=None) -> None:
        self.pid = os.getpid()
        self.store = opts.store_from_conf(conf, clock=clock)
        self.evaluator = opts.evaluator_from_conf(conf, self.store, clock=clock)
        self.evaluator.register_target(actions.TARGET,
                                       actions.HeatSignaller(self._project_of_alarm,
                                                             self._threshold_of_alarm))
        self._started = False
        self._lock = threading.Lock()

    def _project_of_alarm(self, alarm_id: str) -> str | None:
        return self.evaluator.get(alarm_id).project_id

    def _threshold_of_alarm(self, alarm_id: str) -> float | None:
        rule = self.evaluator.get(alarm_id).rule
        return getattr(rule, "threshold", None)

    def start(self) -> Runtime:
        """Start the evaluation loop and the notification dispatcher (once)."""
        with self._lock:
            if not self._started:
                self.evaluator.start()
                self._started = True
                LOG.info("heat-alarming evaluator started in pid %d", self.pid)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._started:
                self.evaluator.stop()
                self._started = False


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime(start: bool = True) -> Runtime:
    """This process's runtime, built on first use (and anew after a fork)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = Runtime()
        runtime = _runtime
    return runtime.start() if start else runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests build one with their own clock and config)."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None and runtime is not _runtime:
            _runtime.stop()
        _runtime = runtime
