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
from collections.abc import Mapping

from heat.common import exception
from heat.common.i18n import _
from heat.engine import properties, resource, support
from heat.engine.resources.openstack.heat import scaling_policy as heat_policy
from heat.scaling import scalingutil as sc_util
from oslo_log import log as logging

from heat_alarming.engine import scaling
from heat_alarming.resources import actions

LOG = logging.getLogger(__name__)


class MeteringScalingPolicy(heat_policy.AutoScalingPolicy):
    """A scaling policy for ``OS::Heat::AutoScalingGroup`` driven by metering alarms."""

    support_status = support.SupportStatus(version="27.0.0")

    OUR_PROPERTIES = (STEP_ADJUSTMENTS, TARGET_VALUE, TOLERANCE) = (
        "step_adjustments", "target_value", "tolerance")
    PROPERTIES = heat_policy.AutoScalingPolicy.PROPERTIES + OUR_PROPERTIES
    STEP_KEYS = (LOWER_BOUND, UPPER_BOUND, STEP_ADJUSTMENT) = scaling.STEP_KEYS

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
            _("Target tracking: resize the group to ceil(size * value / target_value); "
              "above 0."),
            update_allowed=True),
        TOLERANCE: properties.Schema(
            properties.Schema.NUMBER,
            _("Target tracking does nothing while value / target_value is within "
              "1 +- tolerance; from 0 up to (not including) 1."),
            default=scaling.TOLERANCE, update_allowed=True),
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
        adjustment_type = props[self.ADJUSTMENT_TYPE]
        try:
            if props[self.SCALING_ADJUSTMENT] is not None:
                scaling.check_adjustment(self.SCALING_ADJUSTMENT,
                                         props[self.SCALING_ADJUSTMENT], adjustment_type)
            elif props[self.STEP_ADJUSTMENTS]:
                scaling.check_steps(self.STEP_ADJUSTMENTS, props[self.STEP_ADJUSTMENTS],
                                    adjustment_type)
            else:
                scaling.check_target(self.TARGET_VALUE, props[self.TARGET_VALUE],
                                     self.TOLERANCE, props[self.TOLERANCE])
        except scaling.ScalingError as exc:
            from heat.engine import rsrc_defn
            raise exception.StackValidationFailed(
                error=_("Property error"),
                path=[self.stack.t.RESOURCES, self.name,
                      self.stack.t.get_section_name(rsrc_defn.PROPERTIES), exc.field],
                message=exc.reason) from None

    def handle_signal(self, details=None):
        details = {} if details is None else details
        if not isinstance(details, Mapping):
            raise exception.Error(_("%s: signal details must be a mapping") % self.name)
        state = details.get("current", details.get("state", "alarm"))
        if not isinstance(state, str) or state.lower() != "alarm":
            raise resource.NoActionRequired(self.name, "the alarm is not in alarm state")
        group = self.stack.resource_by_refid(self.properties[self.AUTO_SCALING_GROUP_NAME])
        if group is None:
            raise exception.NotFound(_("Policy %(policy)s could not find scaling group "
                                       "%(group)s") % {
                "policy": self.name, "group": self.properties[self.AUTO_SCALING_GROUP_NAME]})
        try:
            adjustment, adjustment_type = self._adjustment(details, group)
        except scaling.ScalingError as exc:
            raise exception.Error(_("%(name)s: signal %(reason)s") % {
                "name": self.name, "reason": str(exc)}) from None
        LOG.info("%s: alarm %s, adjusting group %s by %s (%s)", self.name,
                 str(details.get("alarm_name"))[:255], group.name, adjustment, adjustment_type)
        with group.frozen_properties():
            group.adjust(adjustment, adjustment_type,
                         self.properties[self.MIN_ADJUSTMENT_STEP],
                         self.properties[self.COOLDOWN])
        # the event Heat writes carries this text: the marker lets a redelivery find it
        return actions.with_marker(_("adjusted by %(adj)s (%(type)s)") % {
            "adj": adjustment, "type": adjustment_type}, details)

    def _adjustment(self, details, group):
        """(adjustment, type) for this signal; ScalingError names a bad signal field."""
        props = self.properties
        if props[self.STEP_ADJUSTMENTS]:
            if details.get("value") is None or details.get("threshold") is None:
                raise resource.NoActionRequired(self.name, "the signal carries no value")
            breach = (scaling.finite("value", details["value"])
                      - scaling.finite("threshold", details["threshold"]))
            adjustment = scaling.step_adjustment(props[self.STEP_ADJUSTMENTS], breach)
            if adjustment is None:
                raise resource.NoActionRequired(self.name, "no step holds the breach")
            return adjustment, props[self.ADJUSTMENT_TYPE]
        if props[self.TARGET_VALUE] is not None:
            if details.get("value") is None:
                raise resource.NoActionRequired(self.name, "the signal carries no value")
            from heat.common import grouputils
            capacity = scaling.target_capacity(
                grouputils.get_size(group), scaling.finite("value", details["value"]),
                props[self.TARGET_VALUE], props[self.TOLERANCE],
                group.properties[group.MAX_SIZE])
            if capacity is None:
                raise resource.NoActionRequired(self.name, "the value is on target")
            return capacity, sc_util.EXACT_CAPACITY
        return props[self.SCALING_ADJUSTMENT], props[self.ADJUSTMENT_TYPE]


def resource_mapping():
    return {"OS::Metering::ScalingPolicy": MeteringScalingPolicy}
