"""``OS::Metering::ScalingPolicy``: Heat's scaling policy that heeds the alarm state.

Everything ``OS::Heat::ScalingPolicy`` has (the same properties, ``alarm_url``
and ``signal_url``), with three differences:

* it acts only on signals whose ``current`` state is ``alarm`` (Heat's own
  policy scales on any signal, ok included);
* ``step_adjustments`` choose the adjustment by the size of the breach
  (the alarm's newest value minus its threshold), as AWS step scaling;
* ``target_value`` turns it into target tracking: the group is resized to
  ``ceil(size * value / target_value)`` unless the value is within
  ``tolerance`` of the target.
"""
from __future__ import annotations

import copy
import math

from heat.common import exception
from heat.common.i18n import _
from heat.engine import constraints, properties, resource, support
from heat.engine.resources.openstack.heat import scaling_policy as heat_policy
from heat.scaling import scalingutil as sc_util
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class MeteringScalingPolicy(heat_policy.AutoScalingPolicy):
    """A scaling policy for ``OS::Heat::AutoScalingGroup`` driven by metering alarms."""

    support_status = support.SupportStatus(version="27.0.0")

    OUR_PROPERTIES = (STEP_ADJUSTMENTS, TARGET_VALUE, TOLERANCE) = (
        "step_adjustments", "target_value", "tolerance")
    PROPERTIES = heat_policy.AutoScalingPolicy.PROPERTIES + OUR_PROPERTIES
    STEP_KEYS = (LOWER_BOUND, UPPER_BOUND, STEP_ADJUSTMENT) = (
        "lower_bound", "upper_bound", "scaling_adjustment")

    properties_schema = copy.deepcopy(heat_policy.AutoScalingPolicy.properties_schema)
    properties_schema[heat_policy.AutoScalingPolicy.SCALING_ADJUSTMENT] = properties.Schema(
        properties.Schema.NUMBER,
        _("Size of adjustment; not used with step_adjustments or target_value."),
        update_allowed=True)
    properties_schema.update({
        STEP_ADJUSTMENTS: properties.Schema(
            properties.Schema.LIST,
            _("Adjustments by breach size (the alarm's value minus its threshold): the "
              "step whose [lower_bound, upper_bound) holds the breach applies; a missing "
              "bound is unbounded."),
            update_allowed=True,
            schema=properties.Schema(properties.Schema.MAP, schema={
                LOWER_BOUND: properties.Schema(properties.Schema.NUMBER,
                                               _("Lowest breach of this step (inclusive).")),
                UPPER_BOUND: properties.Schema(properties.Schema.NUMBER,
                                               _("Breach this step ends at (exclusive).")),
                STEP_ADJUSTMENT: properties.Schema(properties.Schema.NUMBER,
                                                   _("Adjustment of this step."),
                                                   required=True),
            })),
        TARGET_VALUE: properties.Schema(
            properties.Schema.NUMBER,
            _("Target tracking: resize the group to ceil(size * value / target_value)."),
            update_allowed=True, constraints=[constraints.Range(min=0)]),
        TOLERANCE: properties.Schema(
            properties.Schema.NUMBER,
            _("Target tracking does nothing while value / target_value is within "
              "1 +- tolerance."),
            default=0.1, update_allowed=True, constraints=[constraints.Range(min=0)]),
    })

    def validate(self):
        super().validate()
        props = self.properties
        modes = [props[self.SCALING_ADJUSTMENT] is not None, bool(props[self.STEP_ADJUSTMENTS]),
                 props[self.TARGET_VALUE] is not None]
        if sum(modes) != 1:
            raise exception.StackValidationFailed(message=_(
                "%s: set exactly one of scaling_adjustment, step_adjustments and "
                "target_value") % self.name)
        for i, step in enumerate(props[self.STEP_ADJUSTMENTS] or []):
            low, high = step.get(self.LOWER_BOUND), step.get(self.UPPER_BOUND)
            if low is not None and high is not None and low >= high:
                raise exception.StackValidationFailed(message=_(
                    "%(name)s: step_adjustments[%(i)d]: lower_bound must be below "
                    "upper_bound") % {"name": self.name, "i": i})

    def _step_for(self, breach: float):
        for step in self.properties[self.STEP_ADJUSTMENTS]:
            low = step.get(self.LOWER_BOUND)
            high = step.get(self.UPPER_BOUND)
            if (low is None or breach >= low) and (high is None or breach < high):
                return step[self.STEP_ADJUSTMENT]
        return None

    def handle_signal(self, details=None):
        details = details or {}
        state = str(details.get("current", details.get("state", "alarm"))).lower()
        if state != "alarm":
            raise resource.NoActionRequired(self.name, f"the alarm is {state}, not alarm")
        group = self.stack.resource_by_refid(self.properties[self.AUTO_SCALING_GROUP_NAME])
        if group is None:
            raise exception.NotFound(_("Policy %(policy)s could not find scaling group "
                                       "%(group)s") % {
                "policy": self.name, "group": self.properties[self.AUTO_SCALING_GROUP_NAME]})
        adjustment = self.properties[self.SCALING_ADJUSTMENT]
        adjustment_type = self.properties[self.ADJUSTMENT_TYPE]
        value = details.get("value")
        if self.properties[self.STEP_ADJUSTMENTS]:
            if value is None or details.get("threshold") is None:
                raise resource.NoActionRequired(self.name, "the signal carries no value")
            adjustment = self._step_for(float(value) - float(details["threshold"]))
            if adjustment is None:
                raise resource.NoActionRequired(self.name, "no step holds the breach")
        elif self.properties[self.TARGET_VALUE] is not None:
            if value is None:
                raise resource.NoActionRequired(self.name, "the signal carries no value")
            ratio = float(value) / self.properties[self.TARGET_VALUE]
            if abs(ratio - 1.0) <= self.properties[self.TOLERANCE]:
                raise resource.NoActionRequired(self.name, "the value is on target")
            from heat.common import grouputils
            current = grouputils.get_size(group)
            adjustment = max(1, math.ceil(current * ratio))
            adjustment_type = sc_util.EXACT_CAPACITY
        LOG.info("%s: alarm %s, adjusting group %s by %s (%s)", self.name,
                 details.get("alarm_name"), group.name, adjustment, adjustment_type)
        with group.frozen_properties():
            group.adjust(adjustment, adjustment_type,
                         self.properties[self.MIN_ADJUSTMENT_STEP],
                         self.properties[self.COOLDOWN])
        return _("adjusted by %(adj)s (%(type)s)") % {"adj": adjustment, "type": adjustment_type}


def resource_mapping():
    return {"OS::Metering::ScalingPolicy": MeteringScalingPolicy}
