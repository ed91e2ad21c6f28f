"""rate_of_change and cpu_util: rates of counters, written out by hand."""
import threading

import numpy as np
import pytest

from heat_alarming.metering.pipeline.base import TRANSFORMERS, PipelineError, load
from heat_alarming.metering.pipeline.transformers import CpuUtil, RateOfChange
from tests.support.transformer_batches import T0, batch, copy_of, rows, series, unchanged, values

IO = {"source": {"map_from": {
          "name": r"(disk\.device|network)\.(read|write|incoming|outgoing)\.(bytes|packets)",
          "unit": r"(B|packet)"}},
      "target": {"map_to": {"name": r"\1.\2.\3.rate", "unit": r"\1/s"}}}


def rate(**parameters):
    return RateOfChange({"meters": ["counter"], **parameters})


COUNTER = (series("counter", unit="B"),)


# -- rates ---------------------------------------------------------------------------
def test_one_definition_maps_disk_and_network_counters_to_their_rates():
    t = RateOfChange(IO)
    s = (series("disk.device.read.bytes", "vm1-vda", unit="B"),
         series("network.incoming.packets", "tap1", unit="packet"),
         series("cpu", unit="ns"))
    t.transform(batch(s, [(0, 1000, T0), (1, 10, T0), (2, 5, T0)]), T0)
    out = t.transform(batch(s, [(0, 3000, T0 + 10), (1, 60, T0 + 5), (2, 9, T0 + 10)]),
                      T0 + 10)
    # (3000 - 1000) / 10 = 200 B/s; (60 - 10) / 5 = 10 packet/s
    assert rows(out, "disk.device.read.bytes.rate") == [
        ("disk.device.read.bytes.rate", "vm1-vda", "B/s", "gauge", 200.0, T0 + 10)]
    assert rows(out, "network.incoming.packets.rate") == [
        ("network.incoming.packets.rate", "tap1", "packet/s", "gauge", 10.0, T0 + 5)]
    assert values(out, "cpu") == [("vm1", 9.0, 10.0)]  # not selected: passed on as it was


def test_a_unit_the_map_does_not_match_is_not_transformed():
    t = RateOfChange(IO)
    s = (series("disk.device.read.bytes", unit="KB"),)
    t.transform(batch(s, [(0, 1, T0)]), T0)
    out = t.transform(batch(s, [(0, 2, T0 + 1)]), T0 + 1)
    assert [r[0] for r in rows(out)] == ["disk.device.read.bytes"]


def test_the_first_sample_of_a_series_only_sets_the_baseline():
    out = rate().transform(batch(COUNTER, [(0, 100, T0)]), T0)
    assert rows(out, "counter.rate") == []
    assert values(out, "counter") == [("vm1", 100.0, 0.0)]  # keep_source: true


def test_the_state_carries_across_batches():
    t = rate()
    t.transform(batch(COUNTER, [(0, 100, T0)]), T0)
    out = t.transform(batch(COUNTER, [(0, 700, T0 + 60)]), T0 + 60)
    assert values(out, "counter.rate") == [("vm1", 10.0, 60.0)]  # 600 / 60
    assert rows(out, "counter.rate")[0][2:4] == ("B/s", "gauge")


def test_several_samples_of_a_series_in_one_batch_are_taken_in_time_order():
    t = rate()
    out = t.transform(batch(COUNTER, [(0, 3500, T0 + 20), (0, 1000, T0), (0, 3000, T0 + 10)]),
                      T0 + 20)
    # 1000 -> 3000 in 10 s = 200; 3000 -> 3500 in 10 s = 50
    assert values(out, "counter.rate") == [("vm1", 200.0, 10.0), ("vm1", 50.0, 20.0)]
    out = t.transform(batch(COUNTER, [(0, 4500, T0 + 30)]), T0 + 30)
    assert values(out, "counter.rate") == [("vm1", 100.0, 30.0)]  # from the newest: 3500


def test_series_of_one_batch_do_not_mix():
    s = (series("counter", "a", unit="B"), series("counter", "b", unit="B"))
    out = rate().transform(batch(s, [(0, 0, T0), (1, 1000, T0), (0, 50, T0 + 10),
                                     (1, 1100, T0 + 5), (1, 1300, T0 + 10)]), T0 + 10)
    assert values(out, "counter.rate") == [("a", 5.0, 10.0), ("b", 20.0, 5.0),
                                           ("b", 40.0, 10.0)]


def test_a_new_series_tuple_with_the_same_series_keeps_the_state():
    t = rate()
    t.transform(batch(COUNTER, [(0, 0, T0)]), T0)
    again = (series("counter", unit="B"),)  # equal, not the same tuple
    out = t.transform(batch(again, [(0, 30, T0 + 10)]), T0 + 10)
    assert values(out, "counter.rate") == [("vm1", 3.0, 10.0)]


def test_scale_multiplies_the_rate():
    t = rate(target={"scale": 8, "name": "counter.bits", "unit": "bit/s"})
    out = t.transform(batch(COUNTER, [(0, 0, T0), (0, 1000, T0 + 10)]), T0 + 10)
    assert rows(out, "counter.bits") == [("counter.bits", "vm1", "bit/s", "gauge", 800.0,
                                          T0 + 10)]


def test_keep_source_false_passes_only_the_rates_on():
    t = rate(keep_source=False)
    s = COUNTER + (series("other"),)
    out = t.transform(batch(s, [(0, 0, T0), (0, 10, T0 + 1), (1, 7, T0)]), T0 + 1)
    assert [(r[0], r[4]) for r in rows(out)] == [("counter.rate", 10.0), ("other", 7.0)]
    assert all(d.name != "counter" for d in out.series)


def test_a_batch_of_other_meters_is_passed_on_as_it_is():
    b = batch((series("other"),), [(0, 1, T0)])
    assert rate().transform(b, T0) is b


# -- counter resets, gaps, time going wrong --------------------------------------------
def test_a_counter_reset_counts_from_zero_by_default():
    t = rate()
    out = t.transform(batch(COUNTER, [(0, 3000, T0), (0, 3500, T0 + 10), (0, 400, T0 + 20),
                                      (0, 600, T0 + 30)]), T0 + 30)
    # 50; reset: 400 / 10 = 40 (never 400 - 3500 < 0); then (600 - 400) / 10 = 20
    assert values(out, "counter.rate") == [("vm1", 50.0, 10.0), ("vm1", 40.0, 20.0),
                                           ("vm1", 20.0, 30.0)]


def test_a_counter_reset_gives_no_rate_with_reset_drop():
    t = rate(reset="drop")
    out = t.transform(batch(COUNTER, [(0, 3000, T0), (0, 3500, T0 + 10), (0, 400, T0 + 20),
                                      (0, 600, T0 + 30)]), T0 + 30)
    assert values(out, "counter.rate") == [("vm1", 50.0, 10.0), ("vm1", 20.0, 30.0)]


def test_a_reset_across_batches_is_never_a_negative_rate():
    t = rate()
    t.transform(batch(COUNTER, [(0, 1e12, T0)]), T0)
    out = t.transform(batch(COUNTER, [(0, 5, T0 + 5)]), T0 + 5)
    assert values(out, "counter.rate") == [("vm1", 1.0, 5.0)]


def test_a_gap_longer_than_max_gap_restarts_the_baseline():
    t = rate(max_gap=60)
    out = t.transform(batch(COUNTER, [(0, 0, T0), (0, 1000, T0 + 100), (0, 1500, T0 + 110)]),
                      T0 + 110)
    assert values(out, "counter.rate") == [("vm1", 50.0, 110.0)]  # (1500 - 1000) / 10


def test_a_duplicate_time_emits_nothing():
    t = rate()
    out = t.transform(batch(COUNTER, [(0, 0, T0), (0, 10, T0), (0, 50, T0 + 10)]), T0 + 10)
    assert values(out, "counter.rate") == [("vm1", 5.0, 10.0)]  # the first at T0 is kept
    out = t.transform(batch(COUNTER, [(0, 99, T0 + 10)]), T0 + 10)  # dt 0 across batches
    assert values(out, "counter.rate") == []


def test_an_older_sample_than_the_state_is_ignored_and_changes_nothing():
    t = rate()
    t.transform(batch(COUNTER, [(0, 100, T0 + 10)]), T0 + 10)
    assert values(t.transform(batch(COUNTER, [(0, 50, T0 + 5)]), T0 + 10), "counter.rate") == []
    out = t.transform(batch(COUNTER, [(0, 300, T0 + 20)]), T0 + 20)
    assert values(out, "counter.rate") == [("vm1", 20.0, 20.0)]  # from 100 at T0 + 10


def test_nan_infinite_and_negative_volumes_are_ignored():
    t = rate()
    out = t.transform(batch(COUNTER, [(0, 100, T0), (0, np.nan, T0 + 5), (0, -50, T0 + 6),
                                      (0, np.inf, T0 + 7), (0, 200, T0 + 10)]), T0 + 10)
    assert values(out, "counter.rate") == [("vm1", 10.0, 10.0)]  # 100 -> 200 in 10 s
    assert len(values(out, "counter")) == 5  # passed on as they came; the store refuses


def test_a_non_finite_time_is_ignored():
    t = rate()
    out = t.transform(batch(COUNTER, [(0, 100, T0), (0, 150, np.nan), (0, 200, T0 + 10)]),
                      T0 + 10)
    assert values(out, "counter.rate") == [("vm1", 10.0, 10.0)]


def test_a_series_unseen_for_max_age_is_forgotten():
    t = rate(max_age=100, max_gap=1e6)
    t.transform(batch(COUNTER, [(0, 0, T0)]), T0)
    assert len(t.state) == 1
    other = (series("counter", "vm2", unit="B"),)
    t.transform(batch(other, [(0, 0, T0 + 200)]), T0 + 200)
    assert len(t.state) == 1  # vm1 forgotten, vm2 held
    out = t.transform(batch(COUNTER, [(0, 2000, T0 + 200)]), T0 + 200)
    assert values(out, "counter.rate") == []  # a new baseline, not 2000 / 200


def test_the_input_batch_is_never_changed():
    t = rate()
    b = batch(COUNTER, [(0, 3500, T0 + 20), (0, 1000, T0), (0, np.nan, T0 + 10)], ids=[1, 2, 3])
    before = copy_of(b)
    out = t.transform(b, T0 + 20)  # the arrays are read-only: a write would raise
    assert unchanged(b, before)
    assert out is not b


def test_rates_of_samples_with_message_ids_get_their_own_stable_ids():
    b = batch(COUNTER, [(0, 0, T0), (0, 10, T0 + 1)], ids=[7, 8])
    out1, out2 = rate().transform(b, T0 + 1), rate().transform(b, T0 + 1)
    rate_ids = out1.ids[[d.name == "counter.rate" for d in
                         (out1.series[c] for c in out1.codes)]]
    assert rate_ids.size == 1 and rate_ids[0] not in (0, 7, 8)
    assert np.array_equal(out1.ids, out2.ids)


# -- cpu_util --------------------------------------------------------------------------
def cpu(vcpus_metadata, **parameters):
    t = CpuUtil(parameters)
    s = (series("cpu", unit="ns", metadata=vcpus_metadata),)
    return t, s


@pytest.mark.parametrize("metadata, expected", [
    ({"vcpus": 2}, 25.0),                   # 5e9 / (10 * 1e9 * 2) * 100
    ({"flavor": {"vcpus": 4}}, 12.5),       # nested
    ({"flavor.vcpus": "4"}, 12.5),          # dotted key, numeric text
    ({"vcpus": "lots"}, 50.0),              # not a number: default_vcpus 1
    ({"vcpus": True}, 50.0),                # a boolean is not a count
    ({"vcpus": -2}, 50.0),
    ({"vcpus": float("nan")}, 50.0),
    ({}, 50.0),
])
def test_cpu_util_divides_by_the_vcpus_of_the_metadata(metadata, expected):
    t, s = cpu(metadata)
    out = t.transform(batch(s, [(0, 0, T0), (0, 5e9, T0 + 10)]), T0 + 10)
    assert rows(out, "cpu_util") == [("cpu_util", "vm1", "%", "gauge", expected, T0 + 10)]


def test_cpu_util_reads_the_key_it_is_told():
    t, s = cpu({"cores": 5, "vcpus": 1}, vcpus_key="cores")
    out = t.transform(batch(s, [(0, 0, T0), (0, 5e9, T0 + 10)]), T0 + 10)
    assert values(out, "cpu_util") == [("vm1", 10.0, 10.0)]


def test_cpu_util_without_vcpus_and_no_default_gives_nothing():
    t, s = cpu({"vcpus": "x"}, default_vcpus=None)
    out = t.transform(batch(s, [(0, 0, T0), (0, 5e9, T0 + 10)]), T0 + 10)
    assert values(out, "cpu_util") == []


def test_cpu_util_is_clipped_at_100_unless_max_is_null():
    t, s = cpu({"vcpus": 1})
    out = t.transform(batch(s, [(0, 0, T0), (0, 15e9, T0 + 10)]), T0 + 10)
    assert values(out, "cpu_util") == [("vm1", 100.0, 10.0)]  # 150 % clipped
    t, s = cpu({"vcpus": 1}, max=None)
    out = t.transform(batch(s, [(0, 0, T0), (0, 15e9, T0 + 10)]), T0 + 10)
    assert values(out, "cpu_util") == [("vm1", 150.0, 10.0)]


def test_a_cpu_counter_that_overflows_the_rate_gives_nothing_not_100():
    t, s = cpu({"vcpus": 1})
    soon = float(np.nextafter(T0, np.inf))  # 1e308 ns in 2.4e-7 s: not a finite rate
    out = t.transform(batch(s, [(0, 0, T0), (0, 1e308, soon)]), T0 + 1)
    assert len(out) == 2  # the two cpu samples, no cpu_util
    assert values(out, "cpu_util") == []


def test_cpu_util_after_a_reboot_counts_from_zero():
    t, s = cpu({"vcpus": 2})
    out = t.transform(batch(s, [(0, 0, T0), (0, 5e9, T0 + 10), (0, 1e9, T0 + 20)]), T0 + 20)
    # 25 %, then the counter restarted: 1e9 / (10 * 1e9 * 2) * 100 = 5 %
    assert values(out, "cpu_util") == [("vm1", 25.0, 10.0), ("vm1", 5.0, 20.0)]


def test_cpu_util_gap_and_state_across_batches():
    t, s = cpu({"vcpus": 4}, max_gap=120)
    t.transform(batch(s, [(0, 0, T0)]), T0)
    assert values(t.transform(batch(s, [(0, 1e12, T0 + 600)]), T0 + 600), "cpu_util") == []
    out = t.transform(batch(s, [(0, 1e12 + 24e10, T0 + 660)]), T0 + 660)
    assert values(out, "cpu_util") == [("vm1", 100.0, 660.0)]  # 24e10 / (60e9 * 4) = 1


def test_cpu_util_of_several_servers_with_different_vcpus():
    t = CpuUtil({})
    s = (series("cpu", "a", unit="ns", metadata={"vcpus": 1}),
         series("cpu", "b", unit="ns", metadata={"vcpus": 8}),
         series("memory.usage", "a", unit="MB", type="gauge"))
    out = t.transform(batch(s, [(0, 0, T0), (1, 0, T0), (2, 5, T0), (0, 3e9, T0 + 10),
                                (1, 40e9, T0 + 10)]), T0 + 10)
    assert values(out, "cpu_util") == [("a", 30.0, 10.0), ("b", 50.0, 10.0)]
    assert values(out, "memory.usage") == [("a", 5.0, 0.0)]


class CountingMetadata(dict):
    """Metadata that counts how often it is read."""

    reads = 0

    def get(self, *args):
        CountingMetadata.reads += 1
        return super().get(*args)


def test_what_a_series_means_is_worked_out_once_per_series_tuple():
    CountingMetadata.reads = 0
    t = CpuUtil({})
    s = (series("cpu", unit="ns")._replace(metadata=CountingMetadata(vcpus=2)),)
    for k in range(5):
        t.transform(batch(s, [(0, 1e9 * k, T0 + 10 * k)]), T0 + 10 * k)
    assert CountingMetadata.reads == 1  # the vcpus of the first batch, then the cache
    t.transform(batch(tuple(s), [(0, 9e9, T0 + 100)]), T0 + 100)  # tuple(s) is s
    assert CountingMetadata.reads == 1
    t.transform(batch((s[0],), [(0, 1e10, T0 + 110)]), T0 + 110)  # another tuple
    assert CountingMetadata.reads == 2


def test_sources_sharing_the_transformer_from_their_threads_keep_their_rates():
    t = rate()
    tuples = [(series("counter", f"vm{i}", unit="B"),) for i in range(8)]
    outputs = {}

    def poll(i):
        got = []
        for k in range(200):
            out = t.transform(batch(tuples[i], [(0, (i + 1) * 10 * k, T0 + 10 * k)]), T0 + 10 * k)
            got.extend(v for _, v, _ in values(out, "counter.rate"))
        outputs[i] = got

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert {i: set(v) for i, v in outputs.items()} == {i: {i + 1.0} for i in range(8)}
    assert all(len(v) == 199 for v in outputs.values())


# -- parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("parameters, field", [
    ({}, "meters"),
    ({"meters": "x", "max_gap": -1}, "max_gap"),
    ({"meters": "x", "max_gap": "10"}, "max_gap"),
    ({"meters": "x", "max_age": 0}, "max_age"),
    ({"meters": "x", "reset": "negative"}, "reset"),
    ({"meters": "x", "keep_source": "yes"}, "keep_source"),
    ({"meters": "x", "target": {"scale": "x"}}, "target.scale"),
    ({"meters": "x", "target": {"scale": float("inf")}}, "target.scale"),
    ({"meters": "x", "target": {"scale": "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"}},
     "target.scale"),
    ({"meters": "x", "target": {"type": "rate"}}, "target.type"),
    ({"meters": "x", "target": {"colour": "red"}}, "target.colour"),
    ({"meters": "x", "scale": 2}, "scale"),
    ({"meters": [1]}, "meters"),
    ({"meters": "x", "target": {"map_to": {"name": "y"}}}, "target.map_to.name"),
    ({"source": {"map_from": {"name": "(a"}}}, "source.map_from.name"),
    ({"source": {"map_from": {"name": "(a)"}}, "target": {"map_to": {"name": r"\2"}}},
     "target.map_to.name"),
    ({"source": {"map_from": {"name": "a", "kind": "x"}}}, "source.map_from.kind"),
    ({"source": "cpu"}, "source"),
])
def test_bad_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        RateOfChange(parameters)
    assert err.value.field == field


@pytest.mark.parametrize("parameters, field", [
    ({"default_vcpus": 0}, "default_vcpus"),
    ({"max": -1}, "max"),
    ({"vcpus_key": 3}, "vcpus_key"),
    ({"target": {"scale": 2}}, "target.scale"),
])
def test_bad_cpu_util_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        CpuUtil(parameters)
    assert err.value.field == field


def test_the_entry_points_load_the_rate_transformers():
    assert isinstance(load(TRANSFORMERS, "rate_of_change", {"meters": ["cpu"]}), RateOfChange)
    assert isinstance(load(TRANSFORMERS, "cpu_util", {}), CpuUtil)
