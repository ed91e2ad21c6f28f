"""What heat-engine loads: the resource types of heat-alarming.

heat-engine finds resource plugins only in ``plugin_dirs``; the shim module
that ``heat-alarming install-plugin`` writes there imports
:func:`available_resource_mapping` from here.
"""
from __future__ import annotations


def available_resource_mapping() -> dict:
    from heat_alarming.resources import alarm, cloudwatch, composite_alarm, scaling_policy

    mapping = {}
    mapping.update(alarm.resource_mapping())
    mapping.update(composite_alarm.resource_mapping())
    mapping.update(cloudwatch.resource_mapping())
    mapping.update(scaling_policy.resource_mapping())
    return mapping
