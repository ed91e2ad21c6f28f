"""House rules a machine can check: layering, style and configuration docs."""
import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

from heat_alarming import opts

ROOT = pathlib.Path(__file__).resolve().parents[2]


def imports_of(package: str) -> list[tuple[str, str]]:
    found = []
    for path in (ROOT / "heat_alarming" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("metering", ("heat", "heat_alarming.engine", "heat_alarming.resources")),
    ("engine", ("heat", "heat_alarming.resources")),
    ("demo", ("heat",)),  # the demo drives Heat only through heat_alarming.resources
    ("backtest", ("heat", "heat_alarming.resources")),  # a backtest runs without Heat
    # the openstack CLI plugin talks to heat-api with heatclient, and needs nothing else
    ("osc", ("heat", "heat_alarming.metering", "heat_alarming.engine",
             "heat_alarming.resources")),
])
def test_lower_layers_never_import_upper_ones(package, forbidden):
    bad = [(f, m) for f, m in imports_of(package)
           if any(m == x or m.startswith(x + ".") for x in forbidden)]
    assert bad == []


def test_the_code_passes_ruff():
    beside_python = str(pathlib.Path(sys.executable).parent)
    ruff = shutil.which("ruff") or shutil.which("ruff", path=beside_python)
    assert ruff, "ruff is a test dependency"
    done = subprocess.run([ruff, "check", "heat_alarming", "tests", "benchmarks", "setup.py"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_config_option_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for group, options in opts.list_opts():
        assert f"[{group}]" in doc
        for opt in options:
            assert f"`{opt.name}`" in doc, f"{opt.name} is missing from docs/configuration.md"
