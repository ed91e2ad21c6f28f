"""The parent's side of tests/support/crash_engine.py: start, wait for an instant, SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.support import crash_engine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CrashRunner:
    """Children of one heat-engine deployment (one Heat database, one alarm database)."""

    def __init__(self, workdir: str, alarm_database: str, log=None) -> None:
        self.workdir = workdir
        self.alarm_database = alarm_database
        self.log = log

    def _path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def _clear(self, *names: str) -> None:
        for name in names:
            if os.path.exists(self._path(name)):
                os.remove(self._path(name))

    def start(self, trial: str | None = None, crash_at: str | None = None) -> subprocess.Popen:
        self._clear("reached", "delivering", "delivered", "report.json")
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop(crash_engine.TRIAL, None)
        env.pop(crash_engine.CRASH_AT, None)
        if trial:
            env[crash_engine.TRIAL] = trial
        if crash_at:
            env[crash_engine.CRASH_AT] = crash_at
        return subprocess.Popen([sys.executable, "-m", "tests.support.crash_engine",
                                 self.workdir, self.alarm_database], cwd=ROOT, env=env,
                                stdout=self.log or subprocess.DEVNULL,
                                stderr=self.log or subprocess.DEVNULL)

    def wait_for(self, child: subprocess.Popen, name: str, timeout: float = 300.0) -> bool:
        """Until the child has written ``name`` (True) or exited (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self._path(name)):
                return True
            if child.poll() is not None:
                return os.path.exists(self._path(name))
            time.sleep(0.02)
        child.kill()
        raise TimeoutError(f"the child never reached {name}")

    @staticmethod
    def kill(child: subprocess.Popen) -> None:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    def finish(self, child: subprocess.Popen, timeout: float = 300.0) -> dict:
        """Wait for a child that runs to its end; its report."""
        if child.wait(timeout) != 0:
            raise RuntimeError(f"the child failed with {child.returncode}")
        with open(self._path("report.json")) as handle:
            return json.load(handle)

    def crash_at(self, trial: str, instant: str) -> None:
        """Run ``trial`` until ``instant``, kill the engine there."""
        child = self.start(trial, instant)
        if not self.wait_for(child, "reached"):
            raise RuntimeError(f"the child ended before {instant} (code {child.returncode})")
        self.kill(child)

    def restart(self) -> dict:
        """A new engine on the same databases: it delivers what is pending, then reports."""
        return self.finish(self.start())
