"""Run ``heat-alarming COMMAND ...`` in its own process, as a user does.

The command runs this checkout's package (``python -m heat_alarming.cli`` with the
checkout first on the path), whatever the ``heat-alarming`` script on the PATH was
installed from; tests/unit/test_cli.py checks that the script itself is installed.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_command(args: list[str], *, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """``heat-alarming ARGS`` to its end: its status, stdout and stderr (text)."""
    env = dict(os.environ, **kwargs.pop("env", {}))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-m", "heat_alarming.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)
