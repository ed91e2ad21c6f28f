"""Where the demo's samples come from: a built-in load profile, or this machine's CPU.

The profile is a *demand* in percent of one server (ramp, plateau, drop).
The group shares it, so each member reports ``demand / size`` (at most
100%): scaling out lowers what every member reports, as it would with real
servers behind a load balancer.  ``--source host`` reports the local CPU
instead, the same value for every member.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LoadProfile:
    """Demand over the demo, in periods: ``ramp`` up, hold a ``plateau``, ``drop``."""

    ramp: int = 3
    plateau: int = 8
    drop: int = 9
    base: float = 25.0
    peak: float = 220.0
    low: float = 20.0
    noise: float = 3.0
    seed: int = 7

    @property
    def periods(self) -> int:
        return self.ramp + self.plateau + self.drop

    def describe(self) -> str:
        return (f"demand ramps {self.base:.0f}% -> {self.peak:.0f}% of one server over "
                f"{self.ramp} periods, holds {self.plateau}, drops to {self.low:.0f}% "
                f"for {self.drop}")

    def demand(self, progress: float) -> float:
        """Demand at ``progress`` periods after the start."""
        if progress < self.ramp:
            return self.base + (self.peak - self.base) * progress / self.ramp
        if progress < self.ramp + self.plateau:
            return self.peak
        return self.low

    def sampler(self):
        return ProfileSampler(self)


class ProfileSampler:
    """Per-member values of the profile: the demand shared by the group, plus noise."""

    source = "profile"

    def __init__(self, profile: LoadProfile) -> None:
        self.profile = profile
        self._rng = np.random.default_rng(profile.seed)

    def values(self, progress: float, members: int) -> tuple[float, np.ndarray]:
        demand = self.profile.demand(progress)
        share = demand / max(members, 1)
        noisy = share + self._rng.normal(0.0, self.profile.noise, max(members, 1))
        return demand, np.clip(noisy, 0.0, 100.0)


class HostSampler:
    """This machine's CPU (psutil), reported by every member."""

    source = "host"

    def __init__(self) -> None:
        import psutil
        self._psutil = psutil
        psutil.cpu_percent(interval=None)  # the first call only starts the count

    def values(self, progress: float, members: int) -> tuple[float, np.ndarray]:
        used = float(self._psutil.cpu_percent(interval=None))
        return used, np.full(max(members, 1), used)
