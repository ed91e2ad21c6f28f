"""A simulated ``OS::Heat::AutoScalingGroup`` and its scaling policies (Heat 27's rules).

:class:`SimulatedGroup` answers a policy's signal the way Heat's group does
(``heat.engine.resources.aws.autoscaling.autoscaling_group.AutoScalingGroup.adjust``
and ``heat.scaling.cooldown``), in this order:

1. the new capacity (:func:`heat_alarming.engine.scaling.calculate_new_capacity`,
   clamped to min_size/max_size) equals the current size: ignored, ``no_change``;
2. a resize is still running (Heat's ``scaling_in_progress``): ignored,
   ``scaling_in_progress``;
3. the group's cooldown has not ended: ignored, ``cooldown``;
4. else the resize is accepted: the new members are in service
   ``resize_seconds`` later, and the cooldown ends ``cooldown`` seconds after
   that (Heat measures it from the end of the resize; a later end is kept).

The cooldown is the policy's, else the group's, else 0 (Heat's default). One
cooldown holds for the whole group, whichever policy started it.

``OS::Metering::ScalingPolicy`` adds (``only_on_alarm``) that only signals whose
``current`` state is ``alarm`` act, ``step_adjustments`` chosen by the breach
(``details["value"] - details["threshold"]``) and ``target_value`` (target
tracking to ``ceil(size * value / target_value)``). A signal such a policy
does not act on (no value, no step for the breach, on target) is ignored as
``no_change``, as the live engine records it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from heat_alarming.engine import scaling

SIGNALLED, IGNORED = "signalled", "ignored"
#: why a signal was ignored (the words of the live engine's action history)
COOLDOWN, SCALING, NO_CHANGE = "cooldown", "scaling_in_progress", "no_change"


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """The group's sizes; ``resize_seconds`` is how long a resize takes to land;
    ``cooldown`` the group's own (used by policies that set none)."""

    min_size: int
    max_size: int
    desired_capacity: int
    resize_seconds: float = 0.0
    cooldown: float | None = None

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError(f"min_size: {self.min_size} is below 0")
        if self.max_size < self.min_size:
            raise ValueError(f"max_size: {self.max_size} is below min_size ({self.min_size})")
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(f"desired_capacity: {self.desired_capacity} is outside "
                             f"[{self.min_size}, {self.max_size}]")
        if self.resize_seconds < 0:
            raise ValueError(f"resize_seconds: {self.resize_seconds:g} is below 0")


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """A scaling policy: Heat's properties, and OS::Metering::ScalingPolicy's."""

    name: str
    adjustment_type: str = scaling.CHANGE_IN_CAPACITY
    scaling_adjustment: float = 0
    cooldown: float | None = None
    min_adjustment_step: int | None = None
    step_adjustments: tuple = ()
    target_value: float | None = None
    tolerance: float | None = None
    #: OS::Metering::ScalingPolicy acts only on signals of the alarm state
    only_on_alarm: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the group did with one signal."""

    at: float
    policy: str
    status: str             # "signalled" | "ignored"
    why: str | None         # None | "cooldown" | "scaling_in_progress" | "no_change"
    old_size: int
    new_size: int


def wanted_capacity(policy: PolicySpec, current: int, spec: GroupSpec,
                    details: Mapping | None) -> int | None:
    """The size the policy asks for on this signal (None: the policy does nothing)."""
    details = details or {}
    adjustment, kind = policy.scaling_adjustment, policy.adjustment_type
    if policy.only_on_alarm:
        state = details.get("current", details.get("state", "alarm"))
        if not isinstance(state, str) or state.lower() != "alarm":
            return None
    if policy.step_adjustments:
        if details.get("value") is None or details.get("threshold") is None:
            return None
        breach = float(details["value"]) - float(details["threshold"])
        adjustment = scaling.step_adjustment(policy.step_adjustments, breach)
        if adjustment is None:
            return None
    elif policy.target_value is not None:
        if details.get("value") is None:
            return None
        tolerance = scaling.TOLERANCE if policy.tolerance is None else policy.tolerance
        adjustment = scaling.target_capacity(current, float(details["value"]),
                                             policy.target_value, tolerance, spec.max_size)
        if adjustment is None:
            return None
        kind = scaling.EXACT_CAPACITY
    return int(scaling.calculate_new_capacity(current, adjustment, kind,
                                              policy.min_adjustment_step, spec.min_size,
                                              spec.max_size))


class SimulatedGroup:
    """An autoscaling group on a simulated clock: ``signal`` at non-decreasing times."""

    def __init__(self, spec: GroupSpec, start: float) -> None:
        self.spec = spec
        self.start = float(start)
        self.outcomes: list[Outcome] = []
        self._size = int(spec.desired_capacity)        # in service
        self._desired = int(spec.desired_capacity)     # what the last accepted resize asked
        self._lands_at: float | None = None            # when the running resize lands
        self._cooldown_end: float | None = None
        self._cooldown_of_resize = 0.0

    def size(self, now: float) -> int:
        """Members in service at ``now``."""
        if self._lands_at is not None and now >= self._lands_at:
            return self._desired
        return self._size

    def desired(self) -> int:
        """The size the group is at or resizing to."""
        return self._desired

    def scaling(self, now: float) -> bool:
        """Whether a resize is still running at ``now`` (Heat's scaling_in_progress)."""
        return self._lands_at is not None and now < self._lands_at

    def signal(self, policy: PolicySpec, now: float, details: Mapping | None = None) -> Outcome:
        """Apply one signal of ``policy`` at ``now``; the outcome is also kept in
        :attr:`outcomes`."""
        self._land(now)
        current = self._size
        new = wanted_capacity(policy, current, self.spec, details)
        if new is None or new == current:
            return self._record(now, policy, IGNORED, NO_CHANGE, current, current)
        if self.scaling(now):
            return self._record(now, policy, IGNORED, SCALING, current, current)
        if self._cooldown_end is not None and now < self._cooldown_end:
            return self._record(now, policy, IGNORED, COOLDOWN, current, current)
        cooldown = policy.cooldown if policy.cooldown is not None else self.spec.cooldown
        self._desired = new
        self._cooldown_of_resize = max(0.0, float(cooldown or 0.0))
        self._lands_at = now + self.spec.resize_seconds
        self._land(now)
        return self._record(now, policy, SIGNALLED, None, current, new)

    def _land(self, now: float) -> None:
        """Finish the running resize if it has landed by ``now``; its cooldown starts."""
        if self._lands_at is None or now < self._lands_at:
            return
        end = self._lands_at + self._cooldown_of_resize
        self._cooldown_end = end if self._cooldown_end is None else max(end,
                                                                        self._cooldown_end)
        self._size, self._lands_at = self._desired, None

    def _record(self, now: float, policy: PolicySpec, status: str, why: str | None,
                old: int, new: int) -> Outcome:
        outcome = Outcome(float(now), policy.name, status, why, old, new)
        self.outcomes.append(outcome)
        return outcome
