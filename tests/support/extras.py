"""Optional dependencies made absent inside this process.

``uninstalled(monkeypatch, "heat")`` puts None in ``sys.modules`` for each name,
which is how Python itself blocks a module: every ``import heat`` (and of any
submodule) raises ModuleNotFoundError with ``name`` "heat", as it does where the
package is not installed. monkeypatch puts the real modules back after the test.
The same commands run without the extras for real in tests/functional/test_packaging.py.
"""
from __future__ import annotations

import sys


def uninstalled(monkeypatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
