"""unit_conversion: renamed, rescaled meters, written out by hand."""
import numpy as np
import pytest

from heat_alarming.metering.pipeline.base import TRANSFORMERS, PipelineError, load
from heat_alarming.metering.pipeline.transformers import UnitConversion
from tests.support.transformer_batches import T0, batch, copy_of, rows, series, unchanged


def test_memory_in_megabytes_to_bytes():
    t = UnitConversion({"meters": ["memory"], "target": {"scale": 1048576, "unit": "B"}})
    s = (series("memory", unit="MB", type="gauge"), series("cpu", unit="ns"))
    out = t.transform(batch(s, [(0, 2, T0), (1, 5, T0)]), T0)
    assert rows(out) == [("cpu", "vm1", "ns", "cumulative", 5.0, T0),
                         ("memory", "vm1", "B", "gauge", 2097152.0, T0)]


def test_bytes_to_bits_for_every_interface_with_one_map():
    t = UnitConversion({"source": {"map_from": {"name": r"network\.(incoming|outgoing)\.bytes"}},
                        "target": {"map_to": {"name": r"network.\1.bits"}, "unit": "bit",
                                   "scale": 8}})
    s = (series("network.incoming.bytes", "tap1", unit="B"),
         series("network.outgoing.bytes", "tap1", unit="B"))
    out = t.transform(batch(s, [(0, 100, T0), (1, 3, T0)]), T0)
    assert [(r[0], r[2], r[4]) for r in rows(out)] == [
        ("network.incoming.bits", "bit", 800.0), ("network.outgoing.bits", "bit", 24.0)]


def test_a_scale_expression_over_volume_as_in_ceilometer():
    t = UnitConversion({"meters": ["disk.read.bytes"],
                        "target": {"name": "disk.read.kilobytes", "unit": "KB",
                                   "scale": "volume * 1.0 / 1024.0"}})
    out = t.transform(batch((series("disk.read.bytes", unit="B"),), [(0, 2048, T0)]), T0)
    assert rows(out) == [("disk.read.kilobytes", "vm1", "KB", "cumulative", 2.0, T0)]


def test_scale_and_offset():
    t = UnitConversion({"meters": ["hardware.temp*"],
                        "target": {"scale": 1.8, "offset": 32, "unit": "F"}})
    out = t.transform(batch((series("hardware.temperature", unit="C", type="gauge"),),
                            [(0, 100, T0), (0, -40, T0 + 1)]), T0 + 1)
    assert [r[4] for r in rows(out)] == [212.0, -40.0]


def test_keep_source_passes_both_on():
    t = UnitConversion({"meters": ["memory"], "keep_source": True,
                        "target": {"name": "memory.bytes", "scale": 1048576, "unit": "B"}})
    out = t.transform(batch((series("memory", unit="MB"),), [(0, 1, T0)], ids=[9]), T0)
    assert [(r[0], r[4]) for r in rows(out)] == [("memory", 1.0), ("memory.bytes", 1048576.0)]
    assert out.ids[0] == 9 and out.ids[1] not in (0, 9)


def test_a_result_that_is_not_finite_is_dropped_and_nan_too():
    t = UnitConversion({"meters": ["m"], "target": {"scale": 1e300}})
    out = t.transform(batch((series("m"), series("n")),
                            [(0, 1e300, T0), (0, 2, T0), (0, np.nan, T0), (1, np.nan, T0)]),
                      T0)
    assert [(r[0], r[4]) for r in rows(out, "m")] == [("m", 2e300)]
    assert len(rows(out, "n")) == 1  # not converted: passed on as it was


def test_the_input_is_unchanged_and_a_batch_with_nothing_to_convert_is_passed_as_is():
    t = UnitConversion({"meters": ["memory"], "target": {"scale": 2}})
    b = batch((series("memory"),), [(0, 3, T0)], ids=[5])
    before = copy_of(b)
    out = t.transform(b, T0)
    assert unchanged(b, before) and out.volumes.tolist() == [6.0] and out.ids.tolist() == [5]
    other = batch((series("cpu"),), [(0, 1, T0)])
    assert t.transform(other, T0) is other


@pytest.mark.parametrize("parameters, field", [
    ({}, "meters"),
    ({"meters": "m", "target": {"scale": "__import__('os').system('x')"}}, "target.scale"),
    ({"meters": "m", "target": {"scale": "volume * $(cpu)"}}, "target.scale"),
    ({"meters": "m", "target": {"scale": [2]}}, "target.scale"),
    ({"meters": "m", "target": {"offset": "1"}}, "target.offset"),
    ({"meters": "m", "target": {"unit": 8}}, "target.unit"),
    ({"meters": "m", "keep_source": True, "target": {"unit": "B"}}, "target.name"),
])
def test_bad_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        UnitConversion(parameters)
    assert err.value.field == field


def test_the_entry_point_loads_it():
    assert isinstance(load(TRANSFORMERS, "unit_conversion", {"meters": ["m"]}), UnitConversion)
