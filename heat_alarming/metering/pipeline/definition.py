"""The pipeline file: read, checked, and nothing built.

One YAML file holds what Ceilometer splits between ``polling.yaml`` (what is
polled, how often) and ``pipeline.yaml`` (what happens to the samples)::

    sources:
      - name: node                  # unique
        collector: prometheus       # an entry point of heat_alarming.collectors
        interval: 30                # seconds between polls
        timeout: 10                 # optional
        meters: ["*", "!disk.*"]    # optional, Ceilometer's patterns
        resources: []               # optional, given to the collector
        parameters: {}              # the collector's own
        sinks: [cpu_sink]
    sinks:
      - name: cpu_sink
        transformers:
          - name: rate_of_change
            parameters: {}
        publishers:
          - notifier://?topic=metering

:func:`load_file` (or :func:`loads`, :func:`parse`) checks the shape of the
file - every key known, every value of its type and range, names unique, every
sink a source names defined, the meter patterns as Ceilometer allows them - and
returns a :class:`PipelineDefinition`.  Every error is a
:class:`~heat_alarming.metering.pipeline.base.PipelineError` whose field is the
path of the value (``sources[0].interval``) and whose reason says what it must
be.  Building the parts (whose constructors check their own parameters) is
:class:`~heat_alarming.metering.pipeline.runner.Pipeline`'s job.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml

from heat_alarming.metering.pipeline.base import PipelineError

#: largest pipeline file read, in bytes (an operator's file is a few kilobytes)
MAX_FILE_BYTES = 1 << 20
#: shortest and longest interval between two polls of a source, in seconds
MIN_INTERVAL, MAX_INTERVAL = 1.0, 86400.0
#: a source's timeout when the file gives none: this, or 80 % of the interval if shorter
DEFAULT_TIMEOUT = 10.0
DEFAULT_TIMEOUT_SHARE = 0.8
#: the meters of a source that lists none
DEFAULT_METERS = ("*",)
#: the query option of a publisher URL that sizes its retry buffer (taken by the
#: pipeline, not given to the publisher), and its default, in samples
BUFFER_OPTION = "buffer_samples"
DEFAULT_BUFFER_SAMPLES = 100_000
MAX_NAME_LENGTH = 255

_SOURCE_KEYS = ("name", "collector", "interval", "timeout", "meters", "resources",
                "parameters", "sinks")
_SINK_KEYS = ("name", "transformers", "publishers")
_TRANSFORMER_KEYS = ("name", "parameters")
_TOP_KEYS = ("sources", "sinks")


@dataclasses.dataclass(frozen=True)
class TransformerDefinition:
    """One transformer of a sink: its entry point name and parameters."""

    name: str
    parameters: Mapping[str, Any]
    path: str  # sinks[0].transformers[1]


@dataclasses.dataclass(frozen=True)
class PublisherDefinition:
    """One publisher of a sink: its URL as written, the entry point its scheme
    names, the URL the publisher is given (``target``: without the pipeline's
    ``buffer_samples`` option), the options of that URL's query string (one value
    a text, a repeated key a list of texts) and the size of its retry buffer, in
    samples."""

    url: str
    scheme: str
    options: Mapping[str, Any]
    buffer_samples: int
    path: str  # sinks[0].publishers[1]
    target: str = ""

    def __post_init__(self) -> None:
        if not self.target:
            object.__setattr__(self, "target", self.url)


@dataclasses.dataclass(frozen=True)
class SinkDefinition:
    name: str
    transformers: tuple[TransformerDefinition, ...]
    publishers: tuple[PublisherDefinition, ...]
    path: str  # sinks[0]


@dataclasses.dataclass(frozen=True)
class SourceDefinition:
    name: str
    collector: str
    interval: float
    timeout: float
    meters: tuple[str, ...]
    resources: tuple[str, ...]
    parameters: Mapping[str, Any]
    sinks: tuple[str, ...]
    path: str  # sources[0]

    def supports(self, meter: str) -> bool:
        """Whether the source's meter patterns let ``meter`` through."""
        return meter_supported(self.meters, meter)


@dataclasses.dataclass(frozen=True)
class PipelineDefinition:
    """A checked pipeline file (nothing built yet)."""

    sources: tuple[SourceDefinition, ...]
    sinks: tuple[SinkDefinition, ...]
    origin: str = "<pipeline>"

    def sink(self, name: str) -> SinkDefinition:
        for sink in self.sinks:
            if sink.name == name:
                return sink
        raise KeyError(name)

    def summary(self) -> str:
        """One line: the sources (collector and interval), sinks and publishers."""
        sources = ", ".join(f"{s.name} ({s.collector} every {s.interval:g} s)"
                            for s in self.sources)
        publishers = sum(len(s.publishers) for s in self.sinks)
        transformers = sum(len(s.transformers) for s in self.sinks)
        return (f"{_count(len(self.sources), 'source')}: {sources}; "
                f"{_count(len(self.sinks), 'sink')} with "
                f"{_count(transformers, 'transformer')} and "
                f"{_count(publishers, 'publisher')}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# -- reading -----------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (YAML would keep the
    last one silently)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in result
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
# YAML 1.1 reads 1e9 and 1.0e9 as texts (its exponent needs a sign and a dot); an
# operator writes them as numbers, as YAML 1.2 and JSON read them
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_file(path: str | os.PathLike) -> PipelineDefinition:
    """The checked definition in the file at ``path``.

    :class:`OSError` if it cannot be read; :class:`PipelineError` if it is too
    large, not YAML (the field names the line) or not a valid pipeline.
    """
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise PipelineError("file", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError("file", f"not UTF-8 text (byte {exc.start})") from None
    return loads(text, origin=os.fspath(path))


def loads(text: str, origin: str = "<pipeline>") -> PipelineDefinition:
    """The checked definition in the YAML ``text``."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else "file"
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "not YAML"
        raise PipelineError(where, f"not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise PipelineError("file", f"not valid YAML: {exc}") from None
    return parse(data, origin=origin)


def parse(data: Any, origin: str = "<pipeline>") -> PipelineDefinition:
    """The checked definition of a mapping already read (``{"sources": [...], ...}``)."""
    if data is None:
        raise PipelineError("sources", "the file is empty: a pipeline needs sources "
                                       "and sinks")
    _keys(data, "", _TOP_KEYS, required=_TOP_KEYS)
    raw_sources = _list(data, "sources", "sources", nonempty=True)
    sources = tuple(_source(s, f"sources[{i}]") for i, s in enumerate(raw_sources))
    _unique([s.name for s in sources], "sources", "source")
    raw_sinks = _list(data, "sinks", "sinks", nonempty=True)
    sinks = tuple(_sink(s, f"sinks[{i}]") for i, s in enumerate(raw_sinks))
    _unique([s.name for s in sinks], "sinks", "sink")
    known = [s.name for s in sinks]
    for source in sources:
        for j, name in enumerate(source.sinks):
            if name not in known:
                raise PipelineError(f"{source.path}.sinks[{j}]",
                                    f"no sink {name!r} is defined (sinks: "
                                    f"{', '.join(known)})")
    return PipelineDefinition(sources, sinks, origin)


# -- the parts ---------------------------------------------------------------------

def _source(data: Any, path: str) -> SourceDefinition:
    _keys(data, path, _SOURCE_KEYS, required=("name", "collector", "interval", "sinks"))
    name = _name(data, "name", path)
    collector = _name(data, "collector", path)
    interval = _number(data, "interval", path, MIN_INTERVAL, MAX_INTERVAL)
    if "timeout" in data:
        timeout = _number(data, "timeout", path, 0.0, interval, low_open=True)
    else:
        timeout = min(DEFAULT_TIMEOUT, DEFAULT_TIMEOUT_SHARE * interval)
    meters = tuple(_texts(data, "meters", path, default=DEFAULT_METERS, nonempty=True))
    _check_meters(meters, f"{path}.meters")
    resources = tuple(_texts(data, "resources", path, default=()))
    parameters = _parameters(data, path)
    sinks = tuple(_texts(data, "sinks", path, default=None, nonempty=True))
    _unique(list(sinks), f"{path}.sinks", "sink", listed=True)
    return SourceDefinition(name, collector, interval, timeout, meters, resources,
                            parameters, sinks, path)


def _sink(data: Any, path: str) -> SinkDefinition:
    _keys(data, path, _SINK_KEYS, required=("name", "publishers"))
    name = _name(data, "name", path)
    transformers = []
    for i, item in enumerate(_list(data, "transformers", f"{path}.transformers")):
        where = f"{path}.transformers[{i}]"
        _keys(item, where, _TRANSFORMER_KEYS, required=("name",))
        transformers.append(TransformerDefinition(_name(item, "name", where),
                                                  _parameters(item, where), where))
    publishers = tuple(_publisher(url, f"{path}.publishers[{i}]") for i, url in
                       enumerate(_list(data, "publishers", f"{path}.publishers",
                                       nonempty=True)))
    _unique([p.url for p in publishers], f"{path}.publishers", "publisher", listed=True)
    return SinkDefinition(name, tuple(transformers), publishers, path)


def _publisher(url: Any, path: str) -> PublisherDefinition:
    if not isinstance(url, str) or not url.strip():
        raise PipelineError(path, f"must be a publisher URL such as notifier:// "
                                  f"(got {_kind(url)})")
    url = url.strip()
    if len(url) > 4096:
        raise PipelineError(path, "longer than 4096 characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise PipelineError(path, f"not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise PipelineError(path, f"must be a URL with a scheme, such as store://, "
                                  f"notifier://, https://host/path or file:///path "
                                  f"(got {url!r})")
    options: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(
            parts.query))
    except ValueError as exc:
        raise PipelineError(path, f"its query string is not key=value&... ({exc})") from None
    for key, value in pairs:
        if key in options:
            held = options[key]
            options[key] = (held if isinstance(held, list) else [held]) + [value]
        else:
            options[key] = value
    target = url
    if BUFFER_OPTION in options:  # the pipeline's: the publisher is given the rest
        query = urlencode([(k, v) for k, v in pairs if k != BUFFER_OPTION])
        target = url.partition("?")[0] + (f"?{query}" if query else "") + (
            f"#{parts.fragment}" if parts.fragment else "")
    buffer = options.pop(BUFFER_OPTION, str(DEFAULT_BUFFER_SAMPLES))
    if isinstance(buffer, list) or not buffer.isdigit() or len(buffer) > 12:
        raise PipelineError(f"{path}.{BUFFER_OPTION}",
                            f"must be a whole number of samples, once (got {buffer!r})")
    return PublisherDefinition(url, scheme, options, int(buffer), path, target)


# -- Ceilometer's meter patterns ---------------------------------------------------

def _check_meters(meters: tuple[str, ...], path: str) -> None:
    """Ceilometer's rules: includes and excludes never mixed, no include beside '*'."""
    for i, pattern in enumerate(meters):
        if pattern in ("", "!"):
            raise PipelineError(f"{path}[{i}]", "must be a meter name or pattern")
    includes = [m for m in meters if m[0] not in "!*"]
    excludes = [m for m in meters if m[0] == "!"]
    if includes and excludes:
        raise PipelineError(path, f"includes ({includes[0]!r}) and excludes "
                                  f"({excludes[0]!r}) may not be mixed: list the meters "
                                  f"to poll, or '*' and the meters not to poll")
    if "*" in meters and includes:
        raise PipelineError(path, f"'*' already includes every meter; {includes[0]!r} "
                                  f"beside it says nothing (exclude with '!name')")


def meter_supported(patterns: tuple[str, ...] | list[str], meter: str) -> bool:
    """Whether ``meter`` passes Ceilometer-style ``patterns``: an exclude
    (``!disk.*``) that matches refuses it, an include (``cpu``, ``disk.*``,
    ``*``) that matches takes it, and with excludes only, the rest is taken."""
    if any(fnmatch.fnmatchcase(meter, p[1:]) for p in patterns if p[0] == "!"):
        return False
    if any(fnmatch.fnmatchcase(meter, p) for p in patterns if p[0] != "!"):
        return True
    return all(p[0] == "!" for p in patterns)


# -- value checks ------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _keys(data: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    if not isinstance(data, dict):
        raise PipelineError(path or "file", f"must be a mapping of {', '.join(allowed)} "
                                            f"(got {_kind(data)})")
    for key in data:
        if key not in allowed:
            shown = key if isinstance(key, str) else repr(key)
            raise PipelineError(_field(path, str(shown)),
                                f"unknown key (known: {', '.join(allowed)})")
    for key in required:
        if key not in data:
            raise PipelineError(_field(path, key), "is required")


def _list(data: dict, key: str, path: str, nonempty: bool = False) -> list:
    value = data.get(key)
    if value is None and not nonempty:
        return []
    if not isinstance(value, list):
        raise PipelineError(path, f"must be a list (got {_kind(value)})")
    if nonempty and not value:
        raise PipelineError(path, "must not be empty")
    return value


def _name(data: dict, key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PipelineError(_field(path, key), f"must be a non-empty text (got {_kind(value)})")
    if len(value) > MAX_NAME_LENGTH or any(c in value for c in "\x00\r\n"):
        raise PipelineError(_field(path, key), f"must be one line of at most "
                                               f"{MAX_NAME_LENGTH} characters")
    return value


def _number(data: dict, key: str, path: str, low: float, high: float,
            low_open: bool = False) -> float:
    value = data.get(key)
    field = _field(path, key)
    low_text = f"more than {low:g}" if low_open else f"at least {low:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PipelineError(field, f"must be a number of seconds, {low_text} and at most "
                                   f"{high:g} (got {_kind(value)})")
    value = float(value)
    if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
        raise PipelineError(field, f"must be {low_text} and at most {high:g} seconds "
                                   f"(got {value:g})")
    return value


def _texts(data: dict, key: str, path: str, default: Any, nonempty: bool = False) -> list[str]:
    field = _field(path, key)
    if key not in data and default is not None:
        return list(default)
    value = data.get(key)
    if not isinstance(value, list):
        raise PipelineError(field, f"must be a list of texts (got {_kind(value)})")
    if nonempty and not value:
        raise PipelineError(field, "must not be empty")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise PipelineError(f"{field}[{i}]", f"must be a non-empty text (got "
                                                 f"{_kind(item)})")
    return value


def _parameters(data: dict, path: str) -> dict:
    value = data.get("parameters")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PipelineError(_field(path, "parameters"), f"must be a mapping (got "
                                                        f"{_kind(value)})")
    for key in value:
        if not isinstance(key, str):
            raise PipelineError(_field(path, "parameters"),
                                f"its keys must be texts (got {_kind(key)})")
    return value


def _unique(values: list, path: str, what: str, listed: bool = False) -> None:
    """No value twice: ``path[i].name`` of named entries, or ``path[i]`` of a list of
    texts (``listed``)."""
    seen: dict = {}
    for i, value in enumerate(values):
        if value in seen:
            field = f"{path}[{i}]" if listed else f"{path}[{i}].name"
            raise PipelineError(field, f"the {what} {value!r} is given twice (also at "
                                       f"{path}[{seen[value]}])")
        seen[value] = i
