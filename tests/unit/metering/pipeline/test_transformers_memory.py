"""memory_util: memory in use against the resource's total, written out by hand."""
import numpy as np
import pytest

from heat_alarming.metering.pipeline.base import TRANSFORMERS, PipelineError, load
from heat_alarming.metering.pipeline.transformers import MemoryUtil
from tests.support.transformer_batches import T0, batch, copy_of, rows, series, unchanged, values


def gauge(name, resource="vm1", **kw):
    return series(name, resource, unit="MB", type="gauge", **kw)


def test_usage_over_the_memory_sample_of_the_same_resource():
    s = (gauge("memory"), gauge("memory.usage"))
    out = MemoryUtil({}).transform(batch(s, [(0, 2048, T0), (1, 512, T0 + 1)]), T0 + 1)
    assert rows(out, "memory_util") == [("memory_util", "vm1", "%", "gauge", 25.0, T0 + 1)]
    assert values(out, "memory") == [("vm1", 2048.0, 0.0)]  # the inputs are passed on
    assert values(out, "memory.usage") == [("vm1", 512.0, 1.0)]


def test_resources_are_joined_by_resource_and_project():
    s = (gauge("memory", "a"), gauge("memory", "b"), gauge("memory.usage", "b"),
         gauge("memory.usage", "a"), gauge("memory.usage", "a", project_id="p2"))
    out = MemoryUtil({}).transform(batch(s, [(0, 2048, T0), (1, 1000, T0), (2, 100, T0),
                                             (3, 1024, T0), (4, 1, T0)]), T0)
    # a: 1024 / 2048 = 50 %, b: 100 / 1000 = 10 %; a of p2 has no total
    assert values(out, "memory_util") == [("a", 50.0, 0.0), ("b", 10.0, 0.0)]


def test_the_total_is_remembered_across_batches_and_the_newest_wins():
    t = MemoryUtil({})
    s = (gauge("memory"), gauge("memory.usage"))
    t.transform(batch(s, [(0, 2048, T0 + 10), (0, 1024, T0)]), T0 + 10)  # 2048 is newer
    out = t.transform(batch(s[1:], [(0, 512, T0 + 20)]), T0 + 20)
    assert values(out, "memory_util") == [("vm1", 25.0, 20.0)]
    t.transform(batch(s, [(0, 4096, T0 + 5)]), T0 + 20)  # older than 2048: not the total
    out = t.transform(batch(s[1:], [(0, 1024, T0 + 30)]), T0 + 30)
    assert values(out, "memory_util") == [("vm1", 50.0, 30.0)]


@pytest.mark.parametrize("metadata", [
    {"memory_mb": 4096}, {"flavor": {"ram": 4096}}, {"flavor.ram": "4096"}])
def test_the_total_may_come_from_the_metadata(metadata):
    s = (gauge("memory.usage", metadata=metadata),)
    out = MemoryUtil({}).transform(batch(s, [(0, 1024, T0)]), T0)
    assert values(out, "memory_util") == [("vm1", 25.0, 0.0)]


def test_a_memory_sample_is_preferred_to_the_metadata():
    s = (gauge("memory"), gauge("memory.usage", metadata={"memory_mb": 4096}))
    out = MemoryUtil({}).transform(batch(s, [(0, 2048, T0), (1, 1024, T0)]), T0)
    assert values(out, "memory_util") == [("vm1", 50.0, 0.0)]


def test_memory_available_gives_the_used_share():
    s = (gauge("memory"), gauge("memory.available"))
    out = MemoryUtil({}).transform(batch(s, [(0, 2048, T0), (1, 1536, T0)]), T0)
    assert values(out, "memory_util") == [("vm1", 25.0, 0.0)]  # (2048 - 1536) / 2048


def test_no_total_no_util():
    s = (gauge("memory.usage", metadata={"memory_mb": "much", "flavor": {"ram": None}}),
         gauge("memory", "zero"), gauge("memory.usage", "zero"))
    out = MemoryUtil({}).transform(batch(s, [(0, 1024, T0), (1, 0, T0), (2, 5, T0)]), T0)
    assert values(out, "memory_util") == []


def test_hostile_volumes_give_no_util():
    s = (gauge("memory"), gauge("memory.usage"), gauge("memory.available"))
    out = MemoryUtil({}).transform(batch(s, [
        (0, 1000, T0), (1, np.nan, T0), (1, -5, T0 + 1), (1, np.inf, T0 + 2),
        (2, 5000, T0 + 3),  # more available than the total: used < 0
        (1, 1500, T0 + 4)]), T0 + 4)
    assert values(out, "memory_util") == [("vm1", 150.0, 4.0)]  # not clipped at the top


def test_a_nan_total_is_not_remembered():
    s = (gauge("memory"), gauge("memory.usage"))
    t = MemoryUtil({})
    t.transform(batch(s, [(0, 1000, T0)]), T0)
    out = t.transform(batch(s, [(0, np.nan, T0 + 1), (1, 100, T0 + 1)]), T0 + 1)
    assert values(out, "memory_util") == [("vm1", 10.0, 1.0)]


def test_a_total_unseen_for_max_age_is_forgotten():
    t = MemoryUtil({"max_age": 100})
    s = (gauge("memory"), gauge("memory.usage"))
    t.transform(batch(s[:1], [(0, 1000, T0)]), T0)
    t.transform(batch((gauge("memory", "other"),), [(0, 1, T0 + 200)]), T0 + 200)
    out = t.transform(batch(s[1:], [(0, 100, T0 + 200)]), T0 + 200)
    assert values(out, "memory_util") == []


def test_the_input_is_unchanged_and_other_meters_pass():
    s = (gauge("memory"), gauge("memory.usage"), series("cpu"))
    b = batch(s, [(0, 1000, T0), (1, 100, T0), (2, 7, T0)], ids=[1, 2, 3])
    before = copy_of(b)
    out = MemoryUtil({"keep_source": False}).transform(b, T0)
    assert unchanged(b, before)
    assert [(r[0], r[4]) for r in rows(out)] == [("cpu", 7.0), ("memory_util", 10.0)]
    other = batch((series("cpu"),), [(0, 1, T0)])
    assert MemoryUtil({}).transform(other, T0) is other


@pytest.mark.parametrize("parameters, field", [
    ({"usage_meter": None, "available_meter": None}, "usage_meter"),
    ({"total_meter": "memory.usage"}, "total_meter"),
    ({"total_keys": []}, "total_keys"),
    ({"target": {"name": ""}}, "target.name"),
    ({"max_age": -1}, "max_age"),
    ({"memory": 1}, "memory"),
])
def test_bad_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        MemoryUtil(parameters)
    assert err.value.field == field


def test_the_entry_point_loads_it():
    assert isinstance(load(TRANSFORMERS, "memory_util", {}), MemoryUtil)
