"""The pipeline file: what a good one gives, and every mistake named by its path."""
import copy
import pathlib

import pytest

from heat_alarming.metering.pipeline import definition
from heat_alarming.metering.pipeline.base import PipelineError
from heat_alarming.metering.pipeline.definition import load_file, loads, meter_supported, parse

ROOT = pathlib.Path(__file__).resolve().parents[4]

GOOD = {
    "sources": [{"name": "node", "collector": "prometheus", "interval": 30,
                 "meters": ["*", "!disk.*"], "parameters": {"url": "http://127.0.0.1:9090"},
                 "sinks": ["cpu_sink"]},
                {"name": "fake", "collector": "synthetic", "interval": 1,
                 "resources": ["a", "b"], "sinks": ["cpu_sink", "other"]}],
    "sinks": [{"name": "cpu_sink",
               "transformers": [{"name": "rate_of_change", "parameters": {"scale": 2}}],
               "publishers": ["notifier://?topic=metering&buffer_samples=50"]},
              {"name": "other", "publishers": ["file:///tmp/x?a=1&a=2", "http://h/p"]}],
}


def broken(change):
    data = copy.deepcopy(GOOD)
    change(data)
    with pytest.raises(PipelineError) as caught:
        parse(data)
    return caught.value


def test_a_good_definition_keeps_every_value_and_fills_the_defaults():
    d = parse(copy.deepcopy(GOOD))
    node, fake = d.sources
    assert (node.name, node.collector, node.interval, node.sinks) == (
        "node", "prometheus", 30.0, ("cpu_sink",))
    assert node.timeout == definition.DEFAULT_TIMEOUT  # 10 s, below the 30 s interval
    assert fake.timeout == pytest.approx(0.8)  # 80 % of a 1 s interval
    assert fake.meters == ("*",) and fake.resources == ("a", "b") and fake.parameters == {}
    assert node.parameters == {"url": "http://127.0.0.1:9090"}
    cpu = d.sink("cpu_sink")
    assert [(t.name, t.parameters, t.path) for t in cpu.transformers] == [
        ("rate_of_change", {"scale": 2}, "sinks[0].transformers[0]")]
    (notifier,) = cpu.publishers
    assert (notifier.scheme, notifier.options, notifier.buffer_samples) == (
        "notifier", {"topic": "metering"}, 50)
    # the buffer's size is the pipeline's: the publisher's URL goes without it
    assert notifier.target == "notifier://?topic=metering"
    assert notifier.url == "notifier://?topic=metering&buffer_samples=50"
    file, http = d.sink("other").publishers
    assert file.options == {"a": ["1", "2"]}  # a repeated key: a list
    assert http.buffer_samples == definition.DEFAULT_BUFFER_SAMPLES
    assert d.summary() == ("2 sources: node (prometheus every 30 s), fake (synthetic every "
                           "1 s); 2 sinks with 1 transformer and 3 publishers")


@pytest.mark.parametrize("change, field, words", [
    (lambda d: d.update(extra=1), "extra", "unknown key"),
    (lambda d: d["sources"][0].update(intervall=3), "sources[0].intervall", "unknown key"),
    (lambda d: d["sources"][0].pop("interval"), "sources[0].interval", "required"),
    (lambda d: d["sources"][0].update(interval="30"), "sources[0].interval", "number"),
    (lambda d: d["sources"][0].update(interval=True), "sources[0].interval", "number"),
    (lambda d: d["sources"][0].update(interval=0.5), "sources[0].interval", "at least 1"),
    (lambda d: d["sources"][0].update(interval=float("nan")), "sources[0].interval",
     "at least 1"),
    (lambda d: d["sources"][0].update(interval=float("inf")), "sources[0].interval",
     "at most"),
    (lambda d: d["sources"][1].update(timeout=2), "sources[1].timeout", "at most 1"),
    (lambda d: d["sources"][1].update(timeout=0), "sources[1].timeout", "more than 0"),
    (lambda d: d["sources"][1].update(name="node"), "sources[1].name", "given twice"),
    (lambda d: d["sources"][0].update(name=""), "sources[0].name", "non-empty"),
    (lambda d: d["sources"][0].update(collector=7), "sources[0].collector", "text"),
    (lambda d: d["sinks"][1].update(name="cpu_sink"), "sinks[1].name", "given twice"),
    (lambda d: d["sources"][1].update(sinks=["cpu_sink", "nowhere"]), "sources[1].sinks[1]",
     "no sink 'nowhere'"),
    (lambda d: d["sources"][1].update(sinks=["other", "other"]), "sources[1].sinks[1]",
     "given twice"),
    (lambda d: d["sources"][1].update(sinks=[]), "sources[1].sinks", "empty"),
    (lambda d: d["sources"][0].update(meters=["cpu", "!disk.*"]), "sources[0].meters",
     "may not be mixed"),
    (lambda d: d["sources"][0].update(meters=["*", "cpu"]), "sources[0].meters", "'*'"),
    (lambda d: d["sources"][0].update(meters=[]), "sources[0].meters", "empty"),
    (lambda d: d["sources"][0].update(meters=["cpu", 3]), "sources[0].meters[1]", "text"),
    (lambda d: d["sources"][0].update(resources="a"), "sources[0].resources", "list"),
    (lambda d: d["sources"][0].update(parameters=[1]), "sources[0].parameters", "mapping"),
    (lambda d: d.update(sources=[]), "sources", "must not be empty"),
    (lambda d: d.pop("sources"), "sources", "required"),
    (lambda d: d.update(sources={"name": "x"}), "sources", "list"),
    (lambda d: d["sources"].__setitem__(0, "node"), "sources[0]", "mapping"),
    (lambda d: d["sinks"][0].update(publishers=[]), "sinks[0].publishers", "empty"),
    (lambda d: d["sinks"][0].update(publishers=[42]), "sinks[0].publishers[0]", "URL"),
    (lambda d: d["sinks"][0].update(publishers=["notifier"]), "sinks[0].publishers[0]",
     "scheme"),
    (lambda d: d["sinks"][0].update(publishers=["store://", "store://"]),
     "sinks[0].publishers[1]", "given twice"),
    (lambda d: d["sinks"][0].update(publishers=["notifier://?buffer_samples=-1"]),
     "sinks[0].publishers[0].buffer_samples", "whole number"),
    (lambda d: d["sinks"][0].update(publishers=["notifier://?topic"]),
     "sinks[0].publishers[0]", "key=value"),
    (lambda d: d["sinks"][0]["transformers"][0].pop("name"), "sinks[0].transformers[0].name",
     "required"),
    (lambda d: d["sinks"][0]["transformers"][0].update(parameters="x"),
     "sinks[0].transformers[0].parameters", "mapping"),
    (lambda d: d["sinks"][0]["transformers"][0].update(params={}),
     "sinks[0].transformers[0].params", "unknown key"),
])
def test_each_mistake_is_named_by_its_path(change, field, words):
    error = broken(change)
    assert error.field == field
    assert words in error.reason
    assert str(error).startswith(f"{field}: ")


def test_an_empty_file_asks_for_sources():
    with pytest.raises(PipelineError) as caught:
        loads("# nothing yet\n")
    assert caught.value.field == "sources" and "empty" in caught.value.reason


def test_a_yaml_error_names_its_line():
    with pytest.raises(PipelineError) as caught:
        loads("sources:\n  - name: a\n    interval: [30\nsinks: []\n")
    assert caught.value.field.startswith("line ")
    assert "not valid YAML" in caught.value.reason


def test_a_key_given_twice_is_refused_with_its_line():
    # YAML itself would keep the second value silently
    with pytest.raises(PipelineError) as caught:
        loads("sources:\n  - name: a\n    interval: 30\n    interval: 60\n")
    assert caught.value.field == "line 4"
    assert "'interval' is given twice" in caught.value.reason


def test_yaml_tags_that_build_objects_are_refused():
    with pytest.raises(PipelineError) as caught:
        loads("sources: !!python/object/apply:os.system ['true']\n")
    assert caught.value.field.startswith("line ")


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(b"#" * (definition.MAX_FILE_BYTES + 1))
    with pytest.raises(PipelineError) as caught:
        load_file(path)
    assert caught.value.field == "file" and "larger than" in caught.value.reason


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(b"sources: \xff\n")
    with pytest.raises(PipelineError) as caught:
        load_file(path)
    assert "UTF-8" in caught.value.reason


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        load_file(tmp_path / "none.yaml")


@pytest.mark.parametrize("patterns, meter, passes", [
    (["*"], "cpu", True),
    (["cpu", "disk.*"], "disk.read.bytes", True),
    (["cpu", "disk.*"], "memory", False),
    (["*", "!disk.*"], "disk.read.bytes", False),
    (["*", "!disk.*"], "cpu", True),
    (["!disk.*"], "cpu", True),  # excludes only: the rest passes
    (["!disk.*", "!cpu"], "cpu", False),
])
def test_meters_follow_ceilometers_include_and_exclude_rules(patterns, meter, passes):
    assert meter_supported(patterns, meter) is passes


def test_the_example_pipeline_file_is_a_valid_definition():
    d = load_file(ROOT / "etc" / "pipeline.yaml")
    assert [s.collector for s in d.sources] == ["prometheus"]
    schemes = {p.scheme for sink in d.sinks for p in sink.publishers}
    assert "notifier" in schemes and "store" not in schemes


def test_numbers_with_an_exponent_are_numbers_as_an_operator_means():
    d = loads("sources:\n  - {name: a, collector: c, interval: 3e1, sinks: [s],\n"
              "     parameters: {rate: 1.0e9, small: 2.5E-3, text: '1e9', version: 1.10}}\n"
              "sinks: [{name: s, publishers: ['store://']}]\n")
    (a,) = d.sources
    assert a.interval == 30.0
    assert a.parameters == {"rate": 1e9, "small": 2.5e-3, "text": "1e9", "version": 1.1}
