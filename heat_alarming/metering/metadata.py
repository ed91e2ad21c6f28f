"""Resource metadata: flattening nested maps and Heat's user-tag spellings.

Heat lets template authors address a server's user tags four ways
(``metadata.user_metadata.X``, ``metadata.metering.X``, ``user_metadata.X``
and ``metering.X``).  Nova-sourced samples carry them as ``user_metadata``,
other sources as ``metering.X`` keys.  Both the sample side and the query
side are folded onto one canonical spelling, ``user_metadata.X``, so that
every spelling selects the same series.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

USER_TAG = "user_metadata."
_TAG_ALIASES = ("metering.", "user_metadata.")


def canonical_metadata_key(key: str) -> str:
    """Fold a flattened metadata key (no ``metadata.`` prefix) to its canonical form."""
    for alias in _TAG_ALIASES:
        if key.startswith(alias):
            return sys.intern(USER_TAG + key[len(alias):])
    return sys.intern(key)


def canonical_query_field(field: str) -> str:
    """Fold a query field naming metadata onto ``metadata.<canonical key>``.

    ``resource_id`` and the other sample attributes are returned unchanged.
    """
    if field.startswith("metadata."):
        return "metadata." + canonical_metadata_key(field[len("metadata."):])
    for alias in _TAG_ALIASES:
        if field.startswith(alias):
            return "metadata." + canonical_metadata_key(field)
    return field


def flatten_metadata(metadata: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested maps to dotted canonical keys; lists become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metadata(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[canonical_metadata_key(name)] = json.dumps(value, default=str)
        else:
            flat[canonical_metadata_key(name)] = value
    return flat
