"""The package as a user installs it: a wheel of this checkout, in new virtual environments.

``pip install heat-alarming`` is the library (``heat_alarming.metering``,
``heat_alarming.engine``) and the commands that need no Heat; ``heat-alarming[heat]``
adds Heat, for the resource plugins, ``install-plugin`` and the demo. Each test makes a
new venv (no system site-packages, so a dependency the metadata forgets is missing there
too), installs the wheel with its dependencies from the configured package index, and
runs what a user runs, from a directory outside the checkout and without this checkout on
the path: the templates and migrations must come from the wheel's package data.

On the 2-core test machine the wheel takes about 10 s, the base venv and its checks 35 s,
the ``[heat]`` venv and the demo about 2 min, every package fetched from the index (the
install is most of it; the demo runs five periods).
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.docs import LIBRARY, printed, python_example

pytestmark = pytest.mark.timeout(900)

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: what a checkout holds that is no part of the source: left out of the copy built
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache")
MISSING_HEAT = ("the demo needs heat, which is not installed: "
                "pip install 'heat-alarming[heat]'")
NOTIFIER_PIPELINE = """
sources:
  - {name: fake, collector: synthetic, interval: 10, meters: ["*"], sinks: [out]}
sinks:
  - {name: out, publishers: ["notifier://guest:guest@127.0.0.1:5672/"]}
"""


def _environment() -> dict[str, str]:
    # nothing of this checkout or of the suite's venv may leak into the new ones
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))
    return env


def _run(argv, cwd, timeout=600, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=_environment(),
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    """``pip wheel --no-deps`` of a copy of this checkout (setuptools builds in the
    source directory: a copy leaves no build/ behind here)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist",
          source], cwd=tmp)
    (built,) = (tmp / "dist").glob("heat_alarming-*.whl")
    return built


def _venv(path: pathlib.Path, requirement: str) -> pathlib.Path:
    """A new venv at ``path`` with ``requirement`` installed; its bin directory."""
    _run([sys.executable, "-m", "venv", path], cwd=path.parent)
    _run([path / "bin" / "python", "-m", "pip", "install", "-q", requirement],
         cwd=path.parent)
    return path / "bin"


def test_the_base_install_is_the_library_without_heat(wheel, tmp_path):
    bin_dir = _venv(tmp_path / "base", str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = bin_dir / "python"

    # docs/library.md's example, as a user would paste it into a file
    text = LIBRARY.read_text()
    (elsewhere / "example.py").write_text(python_example(text))
    assert _run([python, "example.py"], cwd=elsewhere).stdout == printed(text)

    _run([python, "-c", "import heat_alarming.metering, heat_alarming.engine"], cwd=elsewhere)
    no_heat = _run([python, "-c", "import heat"], cwd=elsewhere, check=False)
    assert no_heat.returncode == 1 and "No module named 'heat'" in no_heat.stderr

    # what needs an extra says which one, in one line
    demo = _run([bin_dir / "heat-alarming", "demo"], cwd=elsewhere, check=False)
    assert (demo.returncode, demo.stderr) == (1, f"heat-alarming demo: error: {MISSING_HEAT}\n")
    plugin = _run([bin_dir / "heat-alarming", "install-plugin", "--plugin-dir", "plugins"],
                  cwd=elsewhere, check=False)
    assert plugin.returncode == 1
    assert plugin.stderr == ("heat-alarming install-plugin: error: the plugin needs heat, "
                             "which is not installed: pip install 'heat-alarming[heat]'\n")
    assert not (elsewhere / "plugins").exists()
    (elsewhere / "pipeline.yaml").write_text(NOTIFIER_PIPELINE)
    agent = _run([bin_dir / "heat-alarming", "agent", "--pipeline", "pipeline.yaml", "--check"],
                 cwd=elsewhere, check=False)
    assert agent.returncode == 1 and len(agent.stderr.splitlines()) == 1, agent.stderr
    assert "pip install 'heat-alarming[messaging]'" in agent.stderr


def test_with_the_heat_extra_the_demo_runs_from_any_directory(wheel, tmp_path):
    bin_dir = _venv(tmp_path / "heat", f"{wheel}[heat]")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # five periods of the built-in load: the ramp takes the high alarm to alarm
    done = _run([bin_dir / "heat-alarming", "demo", "--periods", "5"], cwd=elsewhere,
                timeout=300)
    out = done.stdout
    assert out.startswith("heat-alarming demo: templates/hot-autoscaling.yaml in an "
                          "embedded heat-engine"), out[:500]
    assert "summary, read from the engine's records" in out
    signalled = re.search(r"scale_up: (\d+) SIGNAL event", out)
    assert signalled and int(signalled.group(1)) >= 1, out[-2000:]
