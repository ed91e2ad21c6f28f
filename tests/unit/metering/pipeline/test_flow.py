"""What happens to the samples of a poll: meter filtering, transformers, publishers
with bounded retry buffers, failures kept to one sink and one batch, and stop()."""
import math

import numpy as np
import pytest

from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.pipeline.base import PipelineError
from heat_alarming.metering.pipeline.definition import parse
from heat_alarming.metering.pipeline.runner import NO_LOCAL_STORE, Pipeline, concat
from tests.support.pipeline import PartLoader, build, sink, source
from tests.unit.metering.conftest import T0


def publisher_stats(pipeline, key="out.publishers[0]"):
    return pipeline.stats()["publishers"][key]


# -- meters -------------------------------------------------------------------------

def test_the_meters_of_a_source_filter_its_samples_whole_series(clock):
    meters = ["cpu", "cpu.idle", "memory", "disk.read", "disk.write"]
    pipeline, loader = build(clock, [source(meters=["*", "!disk.*"], parameters={
        "meters": meters, "resources": 3})], [sink()])
    collector, out = loader.one("scripted"), loader.one("record")
    pipeline.poll_due(T0)
    pipeline.poll_due(T0 + 10)
    first, second = out.batches
    assert set(first.names) == {"cpu", "cpu.idle", "memory"} and len(first) == 9
    # the collector's series tuple travels on, so that parts downstream can cache by it
    assert first.series is collector.series and second.series is collector.series
    assert pipeline.stats()["sources"]["s"]["filtered"] == 12
    assert pipeline.stats()["sources"]["s"]["samples"] == 18


def test_include_patterns_keep_only_the_meters_named(clock):
    pipeline, loader = build(clock, [source(meters=["cpu*"], parameters={
        "meters": ["cpu", "cpu.idle", "memory"]})], [sink()])
    pipeline.poll_due(T0)
    assert sorted(set(loader.one("record").batches[0].names)) == ["cpu", "cpu.idle"]


# -- sample rows ----------------------------------------------------------------------

def test_sample_rows_are_checked_and_bad_ones_counted_with_their_reason(clock):
    rows = [{"name": "cpu", "volume": 1.0, "resource_id": "r1"},
            {"name": "cpu", "volume": float("nan"), "resource_id": "r2"},
            {"name": "cpu", "volume": 2.0, "resource_id": ""},
            {"name": "cpu", "volume": 3.0, "resource_id": "r3", "timestamp": T0 - 10 ** 7},
            "not a sample",
            {"name": "cpu", "volume": "4", "resource_id": "r4"}]
    pipeline, loader = build(clock, [source(collector="rows", parameters={"rows": rows})],
                             [sink()])
    pipeline.poll_due(T0)
    (batch,) = loader.one("record").batches
    assert batch.resource_ids == ["r1", "r4"]
    assert batch.volumes.tolist() == [1.0, 4.0] and batch.timestamps.tolist() == [T0, T0]
    stats = pipeline.stats()["sources"]["s"]
    assert (stats["rejected"], stats["samples"], stats["failures"]) == (4, 2, 0)
    assert "'volume'" in stats["last_rejection"]


@pytest.mark.parametrize("answer", [None, "text", {"a": 1}, 42])
def test_a_collector_answering_neither_a_batch_nor_samples_fails_the_poll(clock, answer):
    pipeline, _ = build(clock, [source(collector="rows", parameters={"rows": answer})],
                        [sink()])
    pipeline.poll_due(T0)
    stats = pipeline.stats()["sources"]["s"]
    assert stats["failures"] == 1 and "not a SampleBatch or samples" in stats["last_error"]


def test_a_batch_whose_codes_name_no_series_fails_the_poll_and_the_source_goes_on(clock):
    hostile = SampleBatch((), np.array([3], np.uint32), np.ones(1), np.full(1, T0))
    pipeline, loader = build(clock, [source(collector="rows", meters=["cpu"],
                                            parameters={"rows": hostile})], [sink()])
    pipeline.poll_due(T0)
    stats = pipeline.stats()["sources"]["s"]
    assert stats["failures"] == 1 and "names no series" in stats["last_error"]
    assert not stats["busy"] and pipeline.poll_due(T0 + 10) == ["s"]


# -- sinks ------------------------------------------------------------------------------

def test_transformers_apply_in_order_and_each_sink_gets_its_own_result(clock):
    pipeline, loader = build(clock, [source(sinks=["doubled", "plain"],
                                            parameters={"value": 3.0})],
                             [sink("doubled", transformers=[
                                 {"name": "scale", "parameters": {"factor": 2}},
                                 {"name": "scale", "parameters": {"factor": 5}}]),
                              sink("plain")])
    pipeline.poll_due(T0)
    doubled, plain = loader.parts["record"]
    assert doubled.batches[0].volumes.tolist() == [30.0, 30.0]
    assert plain.batches[0].volumes.tolist() == [3.0, 3.0]


def test_a_transformer_that_raises_fails_its_sink_for_that_batch_only(clock):
    pipeline, loader = build(clock, [source(sinks=["broken", "fine"])],
                             [sink("broken", transformers=["scale"]), sink("fine")])
    transformer = loader.one("scale")
    broken, fine = loader.parts["record"]
    transformer.crash = True
    pipeline.poll_due(T0)
    assert broken.samples == 0 and fine.samples == 2
    stats = pipeline.stats()["sinks"]["broken"]
    assert stats["failures"] == 1 and stats["last_error"] == "RuntimeError: transformer bug"
    transformer.crash = False
    pipeline.poll_due(T0 + 10)
    assert broken.samples == 2 and fine.samples == 4


def test_what_a_transformer_holds_back_goes_on_when_it_flushes(clock):
    pipeline, loader = build(clock, [source()], [sink(transformers=["holding", "scale"])])
    holding, out = loader.one("holding"), loader.one("record")
    pipeline.poll_due(T0)
    pipeline.poll_due(T0 + 10)
    assert out.samples == 0
    holding.release = True
    pipeline.poll_due(T0 + 20)  # this poll's samples and the two held back
    assert out.samples == 6
    assert loader.one("scale").seen == [6]  # released samples pass the later transformers


AGGREGATOR = {"name": "aggregator", "parameters": {
    "meters": ["load"], "group_by": "project_id", "function": "sum", "period": 60,
    "target": {"name": "load.sum"}}}


def test_the_transformers_counters_are_in_the_sinks_stats(clock):
    pipeline, _ = build(clock, [source()], [sink(transformers=["scale", AGGREGATOR])])
    pipeline.poll_due(T0)
    pipeline.poll_due(T0 + 30)

    transformers = pipeline.stats()["sinks"]["out"]["transformers"]
    assert transformers == {"transformers[1]": {"name": "aggregator", "late": 0,
                                                "early": 0, "dropped": 0}}  # (scale: none)


def test_at_stop_a_closed_window_is_emitted_and_an_open_one_counted_as_dropped(clock):
    pipeline, loader = build(clock, [source(interval=30)], [sink(transformers=[AGGREGATOR])])
    out = loader.one("record")
    pipeline.poll_due(T0)        # two resources in the window [T0, T0 + 60)
    pipeline.poll_due(T0 + 30)
    clock.set(T0 + 60)           # it has closed when the pipeline stops
    pipeline.poll_due(T0 + 60)   # ...and two partial results in the next, still open
    emitted_before_stop = out.samples
    pipeline.stop()

    aggregated = [(b.volumes[i], b.timestamps[i]) for b in out.batches
                  for i, c in enumerate(b.codes.tolist()) if b.series[c].name == "load.sum"]
    assert emitted_before_stop == 6 + 1
    assert aggregated == [(2.0, T0)]  # the T0 window, once: the sum of r0's and r1's 1.0
    stats = pipeline.stats()["sinks"]["out"]["transformers"]["transformers[0]"]
    assert stats["dropped"] == 2  # the open window's two resources, not emitted
    assert out.samples == emitted_before_stop


def test_a_failed_poll_still_flushes_the_sinks_and_retries_their_buffers(clock):
    pipeline, loader = build(clock, [source()], [sink()])
    collector, out = loader.one("scripted"), loader.one("record")
    out.refuse = True
    pipeline.poll_due(T0)
    out.refuse, collector.fail = False, True
    pipeline.poll_due(T0 + 10)
    assert out.samples == 2  # the first poll's, retried though the second poll failed


# -- publishers and their buffers -----------------------------------------------------------

def test_a_refused_batch_waits_is_sent_first_and_the_oldest_samples_drop_when_full(clock):
    pipeline, loader = build(clock, [source()], [sink(publishers=[
        "record://?buffer_samples=5"])])
    out = loader.one("record")
    assert out.url == "record://"  # the buffer's option is the pipeline's
    out.refuse = True
    for i in range(3):  # 2 samples a poll: 2, 4, then 6 > 5 waiting
        pipeline.poll_due(T0 + 10 * i)
    stats = publisher_stats(pipeline)
    assert (stats["buffered"], stats["dropped"], stats["failed"]) == (5, 1, 3)
    assert stats["last_error"] == "destination down"
    out.refuse = False
    pipeline.poll_due(T0 + 30)
    # oldest first: what is left of the first poll (its newer sample), then in order
    assert [b.timestamps.tolist() for b in out.batches] == [
        [T0], [T0 + 10] * 2, [T0 + 20] * 2, [T0 + 30] * 2]
    assert out.batches[0].resource_ids == ["r1"]
    stats = publisher_stats(pipeline)
    assert (stats["published"], stats["buffered"], stats["dropped"]) == (7, 0, 1)


def test_a_publisher_without_a_buffer_drops_what_it_refuses(clock):
    pipeline, loader = build(clock, [source()], [sink(publishers=[
        "record://?buffer_samples=0"])])
    loader.one("record").refuse = True
    pipeline.poll_due(T0)
    stats = publisher_stats(pipeline)
    assert (stats["buffered"], stats["dropped"], stats["failed"]) == (0, 2, 1)


def test_a_publisher_that_raises_loses_that_batch_and_the_others_still_publish(clock):
    pipeline, loader = build(clock, [source()], [sink(publishers=[
        "record://a", "record://b"])])
    buggy, fine = loader.parts["record"]
    buggy.crash = True
    pipeline.poll_due(T0)
    assert fine.samples == 2
    stats = publisher_stats(pipeline)
    assert (stats["failed"], stats["dropped"], stats["buffered"]) == (1, 2, 0)
    assert stats["last_error"] == "RuntimeError: publisher bug"
    buggy.crash = False
    pipeline.poll_due(T0 + 10)
    assert buggy.samples == 2 and publisher_stats(pipeline)["published"] == 2


def test_one_sink_fed_by_two_sources_is_built_once(clock):
    pipeline, loader = build(clock, [source("a"), source("b")], [sink(transformers=["scale"])])
    pipeline.poll_due(T0)
    assert len(loader.parts["scale"]) == 1 and loader.one("record").samples == 4
    assert pipeline.stats()["sinks"]["out"]["batches"] == 2


# -- stop --------------------------------------------------------------------------------------

def test_stop_flushes_the_transformers_retries_the_buffers_and_closes_the_parts(clock):
    pipeline, loader = build(clock, [source()], [sink(transformers=["holding"])])
    holding, out, collector = loader.one("holding"), loader.one("record"), \
        loader.one("scripted")
    pipeline.poll_due(T0)
    holding.release = True
    pipeline.stop()
    assert out.samples == 2 and out.closed and collector.closed
    pipeline.stop()  # twice is once


def test_stop_counts_what_could_not_be_published_as_dropped(clock):
    pipeline, loader = build(clock, [source()], [sink()])
    loader.one("record").refuse = True
    pipeline.poll_due(T0)
    pipeline.stop()
    stats = publisher_stats(pipeline)
    assert (stats["buffered"], stats["dropped"]) == (0, 2)


def test_a_pipeline_on_threads_publishes_and_stops(clock):
    pipeline, loader = build(clock, [source()], [sink(transformers=["holding"])])
    loader.one("holding").release = True
    with pipeline.start():
        assert loader.one("record").wait_for(2)
    assert loader.one("record").closed


# -- building ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sources, sinks, field, words", [
    ([source(collector="nope")], [sink()], "sources[0].collector", "no part 'nope'"),
    ([source(parameters={"resources": 0})], [sink()], "sources[0].parameters.resources",
     "whole number"),
    ([source()], [sink(transformers=[{"name": "scale", "parameters": {"factor": "x"}}])],
     "sinks[0].transformers[0].parameters.factor", "number"),
    ([source()], [sink(transformers=["nope"])], "sinks[0].transformers[0].name", "no part"),
    ([source()], [sink(publishers=["record://", "nope://"])], "sinks[0].publishers[1]",
     "no part 'nope'"),
    ([source()], [sink(publishers=["jsonl://relative"])], "sinks[0].publishers[0].path",
     "absolute"),
])
def test_a_part_that_cannot_be_built_is_named_by_its_path(clock, sources, sinks, field, words):
    with pytest.raises(PipelineError) as caught:
        build(clock, sources, sinks)
    assert caught.value.field == field and words in caught.value.reason


def test_the_parts_built_before_a_failing_one_are_closed(clock):
    loader = PartLoader()
    definition = parse({"sources": [source(), source("b", collector="nope")],
                        "sinks": [sink()]})
    with pytest.raises(PipelineError):
        Pipeline(definition, clock=clock, loader=loader)
    assert loader.one("record").closed and loader.one("scripted").closed


def test_a_store_publisher_needs_a_host_with_a_store(clock):
    definition = parse({"sources": [source()], "sinks": [sink(publishers=["store://"])]})
    with pytest.raises(PipelineError) as caught:
        Pipeline(definition, clock=clock, loader=PartLoader())
    assert caught.value.field == "sinks[0].publishers[0]"
    assert caught.value.reason == NO_LOCAL_STORE


def test_every_publisher_is_given_the_hosts_local_ingest(clock):
    taken = []
    pipeline, loader = build(clock, [source()], [sink()], local=taken.append)
    assert loader.one("record").local == taken.append


def test_a_constructor_raising_something_else_is_named_too(clock):
    class Loader(PartLoader):
        def __call__(self, namespace, name, *args, **kwargs):
            if name == "scale":
                raise TypeError("unexpected keyword argument 'clock'")
            return super().__call__(namespace, name, *args, **kwargs)

    definition = parse({"sources": [source()], "sinks": [sink(transformers=["scale"])]})
    with pytest.raises(PipelineError) as caught:
        Pipeline(definition, clock=clock, loader=Loader())
    assert caught.value.field == "sinks[0].transformers[0].parameters"
    assert "TypeError" in caught.value.reason


# -- batches -----------------------------------------------------------------------------------

def test_two_batches_concatenate_with_their_codes_renumbered():
    from heat_alarming.metering.batch import SeriesDescriptor
    a_series = (SeriesDescriptor("a", "r", None, "gauge", "", None, "t", {}),)
    b_series = (SeriesDescriptor("b", "r", None, "gauge", "", None, "t", {}),) * 2
    a = SampleBatch(a_series, np.zeros(2, np.uint32), np.array([1.0, 2.0]),
                    np.array([0.0, 1.0]))
    b = SampleBatch(b_series, np.array([1], np.uint32), np.array([3.0]), np.array([2.0]),
                    np.array([7], np.uint64))
    both = concat(a, b)
    assert both.names == ["a", "a", "b"] and both.codes.tolist() == [0, 0, 2]
    assert both.ids.tolist() == [0, 0, 7]
    assert concat(a, SampleBatch.empty()) is a and concat(SampleBatch.empty(), b) is b
    assert not math.isnan(both.volumes.sum())


def test_the_counters_show_no_password_nor_secret_option(clock):
    pipeline, _ = build(clock, [source()], [sink(publishers=[
        "record://user:pw@host:5672/?topic=t&telemetry_secret=s3cret"])])
    assert publisher_stats(pipeline)["url"] == (
        "record://user:***@host:5672/?topic=t&telemetry_secret=***")
