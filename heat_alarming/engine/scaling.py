"""Scaling arithmetic of ``OS::Metering::ScalingPolicy``, without Heat.

The policy resource (:mod:`heat_alarming.resources.scaling_policy`) validates
its properties and reads a signal with these functions, then hands the
adjustment to Heat's group, which applies it (as Heat keeps its own arithmetic
in ``heat.scaling.scalingutil``).  Every check raises :class:`ScalingError`
naming the property or signal field, so that nothing a template or a signal
carries can make a later step raise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Heat's adjustment types (heat.scaling.scalingutil), spelt as Heat spells them
ADJUSTMENT_TYPES = (EXACT_CAPACITY, CHANGE_IN_CAPACITY, PERCENT_CHANGE_IN_CAPACITY) = (
    "exact_capacity", "change_in_capacity", "percent_change_in_capacity")
#: CloudFormation's spellings of the same types (AWS::AutoScaling::ScalingPolicy)
CFN_ADJUSTMENT_TYPES = (CFN_EXACT_CAPACITY, CFN_CHANGE_IN_CAPACITY,
                        CFN_PERCENT_CHANGE_IN_CAPACITY) = (
    "ExactCapacity", "ChangeInCapacity", "PercentChangeInCapacity")
#: the largest percent change of one step: a thousandfold growth
MAX_PERCENT = 100_000.0
#: target tracking's dead band: no resize while value / target is within 1 +- this
TOLERANCE = 0.1
STEP_KEYS = (LOWER_BOUND, UPPER_BOUND, STEP_ADJUSTMENT) = (
    "lower_bound", "upper_bound", "scaling_adjustment")


class ScalingError(ValueError):
    """A property or signal field that would make scaling fail; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def finite(field: str, value: Any) -> float:
    """A finite number (text that reads as one accepted); else :class:`ScalingError`."""
    if isinstance(value, bool):
        raise ScalingError(field, f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ScalingError(field, f"{_short(value)} is not a finite number") from None
    except (TypeError, ValueError):
        raise ScalingError(field, f"{_short(value)} is not a number") from None
    if not math.isfinite(number):
        raise ScalingError(field, f"{_short(value)} is not a finite number")
    return number


def check_adjustment(field: str, adjustment: Any, adjustment_type: str) -> float:
    """An adjustment Heat's group can apply: a whole number of members for
    change_in_capacity, a size of 0 or more for exact_capacity, and from -100 to
    MAX_PERCENT for percent_change_in_capacity."""
    number = finite(field, adjustment)
    if adjustment_type == PERCENT_CHANGE_IN_CAPACITY:
        if not -100.0 <= number <= MAX_PERCENT:
            raise ScalingError(field, f"{number:g} % is outside [-100, {MAX_PERCENT:g}]")
        return number
    if not number.is_integer():
        raise ScalingError(field, f"{number:g} is not a whole number of members")
    if adjustment_type == EXACT_CAPACITY and number < 0:
        raise ScalingError(field, f"{number:g} is not a group size")
    return number


def check_steps(field: str, steps: Sequence[Mapping[str, Any]], adjustment_type: str) -> None:
    """Step adjustments whose intervals [lower_bound, upper_bound) are well formed and
    disjoint, each with an adjustment Heat can apply."""
    intervals = []
    for i, step in enumerate(steps):
        where = f"{field}[{i}]"
        low, high = step.get(LOWER_BOUND), step.get(UPPER_BOUND)
        low = -math.inf if low is None else finite(f"{where}.{LOWER_BOUND}", low)
        high = math.inf if high is None else finite(f"{where}.{UPPER_BOUND}", high)
        if low >= high:
            raise ScalingError(f"{where}.{LOWER_BOUND}", "must be below upper_bound")
        check_adjustment(f"{where}.{STEP_ADJUSTMENT}", step.get(STEP_ADJUSTMENT),
                         adjustment_type)
        intervals.append((low, high, i))
    intervals.sort()
    for (_, high, i), (low, _, j) in zip(intervals, intervals[1:]):
        if low < high:
            raise ScalingError(f"{field}[{max(i, j)}]",
                               f"overlaps step_adjustments[{min(i, j)}]")


def check_target(target_field: str, target_value: Any, tolerance_field: str,
                 tolerance: Any) -> None:
    """Target tracking needs a finite target above 0 and a tolerance in [0, 1)."""
    if finite(target_field, target_value) <= 0:
        raise ScalingError(target_field, f"{target_value!r} must be above 0")
    tol = finite(tolerance_field, tolerance)
    if not 0.0 <= tol < 1.0:
        raise ScalingError(tolerance_field, f"{tol:g} is outside [0, 1)")


def step_adjustment(steps: Sequence[Mapping[str, Any]], breach: float) -> float | None:
    """The adjustment of the step whose [lower_bound, upper_bound) holds ``breach``."""
    for step in steps:
        low, high = step.get(LOWER_BOUND), step.get(UPPER_BOUND)
        if (low is None or breach >= low) and (high is None or breach < high):
            return step[STEP_ADJUSTMENT]
    return None


def target_capacity(current: int, value: float, target: float, tolerance: float,
                    maximum: int) -> int | None:
    """The group size that brings ``value`` to ``target``: ceil(current * value /
    target), at least 1 and at most ``maximum``; None while value / target is within
    1 +- tolerance (on target)."""
    if abs(value - target) <= tolerance * target:  # |ratio - 1| <= tolerance, exactly
        return None
    wanted = current * (value / target)
    if not math.isfinite(wanted) or wanted >= maximum:
        return max(1, int(maximum))
    return min(max(1, math.ceil(wanted)), int(maximum))


def calculate_new_capacity(current: int, adjustment: float, adjustment_type: str,
                           min_adjustment_step: int | None, minimum: int,
                           maximum: int) -> int:
    """The group size an adjustment asks for, kept within [minimum, maximum].

    Heat's own rule (``heat.scaling.scalingutil``): change_in_capacity adds the
    adjustment, exact_capacity is the size; percent_change_in_capacity adds
    ``current * adjustment / 100`` rounded away from zero when under one member
    and towards zero otherwise, then made at least ``min_adjustment_step``
    members in the same direction.
    """
    if adjustment_type in (CHANGE_IN_CAPACITY, CFN_CHANGE_IN_CAPACITY):
        wanted = current + adjustment
    elif adjustment_type in (EXACT_CAPACITY, CFN_EXACT_CAPACITY):
        wanted = adjustment
    else:
        delta = current * adjustment / 100.0
        small = abs(delta) < 1.0
        # under one member: at least one; from one up: only whole members
        step = int(math.ceil(delta) if (delta > 0) == small else math.floor(delta))
        if min_adjustment_step and min_adjustment_step > abs(step):
            step = min_adjustment_step if step > 0 else -min_adjustment_step
        wanted = current + step
    if wanted > maximum:
        return maximum
    if wanted < minimum:
        return minimum
    return wanted


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
