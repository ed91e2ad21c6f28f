"""The synthetic collector: a steady, whole-array load with the same series every poll."""
import time

import numpy as np
import pytest

from heat_alarming.metering.collectors.synthetic import SyntheticCollector
from heat_alarming.metering.pipeline.base import COLLECTORS, PipelineError, load
from heat_alarming.metering.sample import SampleValidator
from heat_alarming.metering.store import RollingStore

METERS = {"cpu": {"type": "cumulative", "rate": 1e9, "unit": "ns"},
          "memory.usage": {"type": "gauge", "level": 512, "unit": "MB"}}


def test_every_poll_gives_each_resource_and_meter_one_sample_in_the_same_series():
    c = SyntheticCollector({"resources": 4, "meters": METERS, "project": "p1"})
    first, second = c.collect(1000.0), c.collect(1010.0)
    assert len(first) == 8 and first.series is second.series  # one tuple, reused
    assert first.codes is second.codes
    assert sorted(set(first.names)) == ["cpu", "memory.usage"]
    assert first.projects() == {"p1"}
    assert (second.timestamps == 1010.0).all()
    cpu = np.array(first.names) == "cpu"
    grown = second.volumes[cpu] - first.volumes[cpu]
    assert (grown > 0.5 * 10 * 1e9 * 0.5).all()  # about rate x 10 s, each resource its share
    memory = first.volumes[~cpu]
    assert ((memory > 512 * 0.5 * 0.9) & (memory < 512 * 1.5 * 1.1)).all()


def test_the_same_seed_gives_the_same_values():
    a = SyntheticCollector({"seed": 3, "meters": METERS}).collect(5.0)
    b = SyntheticCollector({"seed": 3, "meters": METERS}).collect(5.0)
    c = SyntheticCollector({"seed": 4, "meters": METERS}).collect(5.0)
    assert a.volumes.tolist() == b.volumes.tolist() != c.volumes.tolist()


def test_counters_restart_from_zero_every_n_polls():
    c = SyntheticCollector({"resources": 2, "reset_every": 3, "noise": 0,
                            "meters": {"n": {"type": "cumulative", "rate": 1}}})
    values = [c.collect(float(t)).volumes.copy() for t in range(0, 60, 10)]
    assert values[1][0] > values[0][0] and values[2][0] > values[1][0]
    assert values[3][0] < 20  # restarted, then 10 s of about 1 a second
    assert values[4][0] > values[3][0]


def test_the_resources_of_the_source_are_its_resource_ids():
    c = SyntheticCollector({"meters": METERS}, resources=["vm-a", "vm-b"])
    assert sorted(set(c.collect(1.0).resource_ids)) == ["vm-a", "vm-b"]


def test_its_samples_go_into_a_store_unrefused():
    store = RollingStore(resolution=10, retention=3600, clock=lambda: 1_700_000_000.0)
    result = store.ingest_batch(SyntheticCollector({"resources": 50, "meters": METERS,
                                                    "project": "p"}).collect(1_700_000_000.0))
    assert (result.accepted, result.rejected) == (100, [])


@pytest.mark.parametrize("parameters, field", [
    ({"resources": 0}, "resources"),
    ({"resources": True}, "resources"),
    ({"resources": 10**7}, "resources"),
    ({"noise": 2}, "noise"),
    ({"seed": -1}, "seed"),
    ({"project": ""}, "project"),
    ({"meters": {}}, "meters"),
    ({"meters": {"x": {"type": "delta"}}}, "meters.x.type"),
    ({"meters": {"x": {"type": "gauge", "rate": 1}}}, "meters.x.rate"),
    ({"meters": {"x": {"type": "gauge", "level": float("nan")}}}, "meters.x.level"),
    ({"meters": {"x": {"type": "cumulative", "rate": -1}}}, "meters.x.rate"),
    ({"meters": {"x": {"unit": 3}}}, "meters.x.unit"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_parameters_are_named(parameters, field):
    with pytest.raises(PipelineError) as caught:
        SyntheticCollector(parameters)
    assert caught.value.field == field


def test_it_is_the_synthetic_entry_point():
    assert isinstance(load(COLLECTORS, "synthetic", {"resources": 1}), SyntheticCollector)


def test_ten_thousand_resources_by_five_meters_take_milliseconds_a_poll():
    meters = {f"m{i}": {"type": "cumulative" if i % 2 else "gauge",
                        "rate" if i % 2 else "level": 10} for i in range(5)}
    c = SyntheticCollector({"resources": 10_000, "meters": meters})
    c.collect(0.0)
    started = time.perf_counter()
    for t in range(1, 11):
        batch = c.collect(float(t))
    per_poll = (time.perf_counter() - started) / 10
    assert len(batch) == 50_000
    assert per_poll < 0.05, f"{per_poll * 1000:.1f} ms a poll"  # ~1-2 ms unloaded
    validator = SampleValidator(3600, 300)
    assert np.isfinite(batch.volumes).all() and validator.check_volume(
        float(batch.volumes.max()))
