"""Transformer outputs as the store takes them, and as an alarm's statistics read them."""
import numpy as np

from heat_alarming.metering.pipeline.transformers import Aggregator, CpuUtil
from tests.support.transformer_batches import T0, batch, series


def servers():
    return tuple(series("cpu", f"vm{i}", unit="ns", metadata={
        "vcpus": 2, "metering.server_group": "stack-1"}) for i in (1, 2))


def test_cpu_util_is_stored_and_averaged_in_percent(store, clock):
    t = CpuUtil({})
    s = servers()
    # vm1 busy 1 vCPU (60e9 ns per 60 s of 2 vCPUs = 50 %), vm2 both (100 %)
    for k in range(4):
        clock.set(T0 + 60 * k)
        out = t.transform(batch(s, [(0, 60e9 * k, T0 + 60 * k), (1, 120e9 * k, T0 + 60 * k)]),
                          clock())
        result = store.ingest_batch(out)
        assert result.accepted == len(out) and not result.rejected
    stats = store.statistics("cpu_util", period=60, start=T0, end=T0 + 240,
                             aggregates=("avg", "max"))
    # no rate in the first minute; then (50 + 100) / 2 = 75 average, 100 the maximum
    assert stats.count.tolist() == [0, 2, 2, 2]
    assert np.allclose(stats.values["avg"][1:], 75.0)
    assert np.allclose(stats.values["max"][1:], 100.0)


def test_a_group_aggregate_is_found_by_the_server_group_tag(store, clock):
    cpu = CpuUtil({})
    group = Aggregator({"meters": ["cpu_util"], "group_by": "metering.server_group",
                        "function": "avg", "period": 60,
                        "target": {"name": "cpu_util.group"}})
    s = servers()
    for k in range(3):
        clock.set(T0 + 60 * k + 30)
        out = group.transform(cpu.transform(batch(s, [(0, 60e9 * k, T0 + 60 * k + 30),
                                                      (1, 120e9 * k, T0 + 60 * k + 30)]),
                                            clock()), clock())
        assert store.ingest_batch(out).accepted == len(out)
        flushed = group.flush(clock())
        assert store.ingest_batch(flushed).accepted == len(flushed)
    # the window [T0 + 60, T0 + 120) closed at T0 + 150: one sample, (50 + 100) / 2
    stats = store.statistics("cpu_util.group", period=60, start=T0, end=T0 + 180,
                             aggregates=("avg",),
                             matching_metadata={"metering.server_group": "stack-1"})
    assert stats.count.tolist() == [0, 1, 0]
    assert stats.values["avg"][1] == 75.0
    other = store.statistics("cpu_util.group", period=60, start=T0, end=T0 + 180,
                             matching_metadata={"metering.server_group": "stack-2"})
    assert other.count.tolist() == [0, 0, 0]
