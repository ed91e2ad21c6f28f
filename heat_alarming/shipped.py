"""The example templates shipped inside the package (``heat_alarming/templates``).

They are package data, so they are where the package is, whatever directory a
command runs from and however the package was installed; a source tree also has
them as ``templates/`` at its root (a link to the same directory).
"""
from __future__ import annotations

import os
from importlib import resources


def template_dir() -> str:
    """The directory of the shipped templates."""
    return os.fspath(resources.files("heat_alarming").joinpath("templates"))


def template_path(name: str) -> str:
    """The path of the shipped template ``name``: ``"hot-autoscaling.yaml"``, or
    ``"environments/aodh-gnocchi.yaml"`` for an environment file.

    Raises FileNotFoundError when the package ships no such file.
    """
    path = os.path.join(template_dir(), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no template {name!r} in {template_dir()}")
    return path


def find_template(name: str) -> str:
    """``name`` as a path if there is such a file, else the shipped template of that
    name; FileNotFoundError saying where it looked when neither is."""
    if os.path.exists(name):
        return name
    try:
        return template_path(name)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file here or in {template_dir()}") from None


def template_names() -> list[str]:
    """The names of the shipped templates (environment files left out), sorted."""
    directory = template_dir()
    return sorted(n for n in os.listdir(directory)
                  if os.path.isfile(os.path.join(directory, n)))
