"""Fixtures for the metering tests: a store on a manual clock."""
import pytest

from heat_alarming.metering import ManualClock, RollingStore

T0 = 1_699_999_200.0  # a whole hour: periods of 60 s and 3600 s start here


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def store(clock):
    return RollingStore(resolution=10, retention=3600, clock=clock)
