"""Prometheus as a source: an HTTP API client, and a collector of PromQL queries.

:class:`PrometheusClient` asks a Prometheus server (or anything speaking its
HTTP API, ``/api/v1/query`` and ``/api/v1/query_range``) for an instant vector
(:meth:`~PrometheusClient.query`, a list of :class:`PromSeries`) or a range
(:meth:`~PrometheusClient.query_range`, a list of :class:`PromRange`).  The
answer is untrusted: the body is read streamed and refused past ``max_bytes``,
the number of series is refused past ``max_series``, the whole exchange is
bounded by ``timeout`` seconds, and every field of the JSON is checked.  Every
failure raises :class:`~heat_alarming.metering.pipeline.base.CollectError`
with a reason a person can act on (connection refused, timeout, the HTTP
status with Prometheus's own error text, oversized, ill-formed).

Values are Prometheus's: texts such as ``"1.5"``, ``"NaN"``, ``"+Inf"``, read
as floats (NaN and infinities kept; the collector drops them).

:class:`PrometheusCollector` (the pipeline's ``prometheus`` collector) turns the
answers of named PromQL queries into samples: one meter per query, one series
per answered label set (its resource id and project read from labels, its
metadata the other labels); see its docstring for the parameters.
"""
from __future__ import annotations

import json
import logging
import math
import operator
import re
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import requests

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.collectors import answers
from heat_alarming.metering.pipeline.base import CollectError, Collector, PipelineError
from heat_alarming.metering.sample import MAX_ABS_VOLUME, MAX_FIELD_LENGTH, METER_TYPES

LOG = logging.getLogger(__name__)

#: largest answer body read, in bytes (decompressed)
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: most series one answer may hold
DEFAULT_MAX_SERIES = 10_000
#: seconds one exchange (connect, evaluate, read) may last
DEFAULT_TIMEOUT = 10.0
_SHOWN = 300  # characters of a server's error text shown in a reason


class PromSeries(NamedTuple):
    """One series of an instant vector (or a scalar answer: ``labels`` is ``{}``)."""

    labels: dict[str, str]
    value: float
    timestamp: float


class PromRange(NamedTuple):
    """One series of a range answer: its points as float64 arrays, oldest first."""

    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


class PrometheusClient:
    """A client of one Prometheus server's query API.

    ``url`` is the server's base URL (``http://127.0.0.1:9090``, or with a path
    prefix when behind a proxy); ``verify`` is requests' TLS setting (False, or
    the path of a CA bundle).  Safe to share between threads.
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES, max_series: int = DEFAULT_MAX_SERIES,
                 verify: bool | str = True) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url: must be an http:// or https:// URL (got {url!r})")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not 0 < timeout < math.inf:
            raise ValueError(f"timeout: must be a positive number of seconds (got {timeout!r})")
        for name, value in (("max_bytes", max_bytes), ("max_series", max_series)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer (got {value!r})")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.max_bytes = max_bytes
        self.max_series = max_series
        self.verify = verify
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    # -- the two queries ----------------------------------------------------------------
    def query(self, promql: str, at: float | None = None) -> list[PromSeries]:
        """The instant vector of ``promql`` at ``at`` (epoch seconds; the server's now
        when None).  A scalar answer is one series with no labels; a range vector or
        a string answer is refused."""
        form = {"query": _promql(promql)}
        if at is not None:
            form["time"] = _epoch_text("at", at)
        return read_instant(*self._ask("query", form), max_series=self.max_series)

    def query_range(self, promql: str, start: float, end: float,
                    step: float) -> list[PromRange]:
        """The points of ``promql`` at ``start``, ``start + step``... up to ``end``."""
        form = {"query": _promql(promql), "start": _epoch_text("start", start),
                "end": _epoch_text("end", end)}
        if isinstance(step, bool) or not isinstance(step, (int, float)) \
                or not 0 < step < math.inf:
            raise ValueError(f"step: must be a positive number of seconds (got {step!r})")
        if end < start:
            raise ValueError(f"end: must not be before start ({end!r} < {start!r})")
        form["step"] = repr(float(step))
        return read_range(*self._ask("query_range", form), max_series=self.max_series)

    # -- the exchange -------------------------------------------------------------------
    def _ask(self, endpoint: str, form: dict[str, str]) -> tuple[int, bytes]:
        """The status and body of one answer (the body bounded in size and time)."""
        # Prometheus bounds its own evaluation too, a little inside ours
        form["timeout"] = f"{max(int(self.timeout * 900), 1)}ms"  # (no fractions in a duration)
        url = f"{self.url}/api/v1/{endpoint}"
        deadline = time.monotonic() + self.timeout
        try:
            response = self._session.post(url, data=form, timeout=self.timeout, stream=True,
                                          verify=self.verify)
        except requests.exceptions.Timeout:
            raise CollectError(f"Prometheus at {self.url} did not answer within "
                               f"{self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise CollectError(f"cannot reach Prometheus at {self.url} "
                               f"({_root_cause(exc)})") from None
        except requests.exceptions.RequestException as exc:
            raise CollectError(f"cannot ask Prometheus at {self.url} ({exc})") from None
        try:
            body = self._read(response, deadline)
        finally:
            response.close()
        return response.status_code, body

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        try:
            return answers.read_body(response, self.max_bytes, deadline)
        except answers.AnswerTooLarge as exc:
            size = "larger" if exc.declared is None else f"{exc.declared} bytes, more"
            raise CollectError(f"Prometheus's answer is {size} than max_bytes "
                               f"({self.max_bytes}); refused") from None
        except answers.AnswerLate:
            raise CollectError(f"Prometheus at {self.url} did not finish its answer "
                               f"within {self.timeout:g} s") from None
        except answers.AnswerBroken as exc:
            raise CollectError(f"Prometheus's answer broke off "
                               f"({_root_cause(exc.cause)})") from None

# -- reading an answer ---------------------------------------------------------------------
def read_instant(status: int, body: bytes, *,
                 max_series: int = DEFAULT_MAX_SERIES) -> list[PromSeries]:
    """The series of an answer (``status``, ``body``) to ``/api/v1/query``, checked:
    a vector, or a scalar as one series without labels; :class:`CollectError` for
    anything else, an error answer or more than ``max_series`` series."""
    kind, result = _data(status, body)
    if kind == "vector":
        _check_count(result, max_series)
        return [_instant(item, i) for i, item in enumerate(result)]
    if kind == "scalar":
        ts, value = _point(result, "result")
        return [PromSeries({}, value, ts)]
    if kind == "matrix":
        raise CollectError("Prometheus answered a range vector to an instant query "
                           "(query_range asks for ranges; a range selector needs a "
                           "function such as rate() here)")
    raise CollectError(f"Prometheus answered a {kind} to an instant query, not a number")


def read_range(status: int, body: bytes, *,
               max_series: int = DEFAULT_MAX_SERIES) -> list[PromRange]:
    """The series of an answer to ``/api/v1/query_range``, checked (a matrix)."""
    kind, result = _data(status, body)
    if kind != "matrix":
        raise CollectError(f"Prometheus answered a {kind} to a range query, not a matrix")
    _check_count(result, max_series)
    return [_ranged(item, i) for i, item in enumerate(result)]


def _data(status: int, body: bytes) -> tuple[str, Any]:
    """The ``resultType`` and ``result`` of a successful answer."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError, OverflowError):
        answer = None
    if not isinstance(answer, dict):
        shown = body[:_SHOWN].decode("utf-8", "replace").strip()
        if status != 200:
            raise CollectError(f"Prometheus answered HTTP {status}: {shown or '(no text)'}")
        raise CollectError(f"Prometheus's answer is not a JSON object ({shown[:80]!r})")
    if answer.get("status") == "error" or status != 200:
        kind, error = answer.get("errorType"), answer.get("error")
        text = error[:_SHOWN] if isinstance(error, str) else "(no error text)"
        kind = f"{kind[:40]}: " if isinstance(kind, str) and kind else ""
        raise CollectError(f"Prometheus answered HTTP {status}: {kind}{text}")
    if answer.get("status") != "success":
        raise CollectError(f"Prometheus's answer has status {str(answer.get('status'))[:40]!r}, "
                           "neither success nor error")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise CollectError("Prometheus's answer has no data object")
    kind = data.get("resultType")
    if kind not in ("vector", "matrix", "scalar", "string"):
        raise CollectError(f"Prometheus's answer has an unknown resultType "
                           f"{str(kind)[:40]!r}")
    result = data.get("result")
    if not isinstance(result, list):
        raise CollectError(f"Prometheus's answer has a {type(result).__name__} result, "
                           "not a list")
    return kind, result


def _check_count(result: list, max_series: int) -> None:
    if len(result) > max_series:
        raise CollectError(f"Prometheus answered {len(result)} series, more than "
                           f"max_series ({max_series}); refused (narrow the query "
                           "or aggregate it)")


# -- reading the fields of an answer ------------------------------------------------------
def _promql(promql: Any) -> str:
    if not isinstance(promql, str) or not promql.strip():
        raise ValueError(f"promql: must be a non-empty text (got {promql!r})")
    return promql


def _epoch_text(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"{field}: must be epoch seconds (got {value!r})")
    return f"{float(value):.3f}"


def _labels(item: Any, where: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise CollectError(f"ill-formed answer: {where} is a {type(item).__name__}, "
                           "not an object")
    labels = item.get("metric")
    if not isinstance(labels, dict) or not all(
            type(k) is str and type(v) is str for k, v in labels.items()):
        raise CollectError(f"ill-formed answer: {where}.metric is not a map of texts")
    if "histogram" in item or "histograms" in item:
        raise CollectError(f"{where} is a native histogram, which is not a number (ask "
                           "for histogram_quantile(), histogram_sum() or "
                           "histogram_count() of it)")
    return labels


def _point(point: Any, where: str) -> tuple[float, float]:
    if type(point) is not list or len(point) != 2:
        raise CollectError(f"ill-formed answer: {where} is not a [timestamp, value] pair")
    ts, text = point
    try:  # (an integer of hundreds of digits is too large for a float)
        finite = type(ts) in (int, float) and math.isfinite(ts)
    except OverflowError:
        finite = False
    if not finite:
        raise CollectError(f"ill-formed answer: {where} has the timestamp {ts!r:.40}")
    if type(text) is not str:
        raise CollectError(f"ill-formed answer: {where} has the value {text!r:.40}, "
                           "not a number's text")
    try:
        return float(ts), float(text)
    except ValueError:
        raise CollectError(f"ill-formed answer: {where} has the value {text!r:.40}, "
                           "not a number") from None


def _instant(item: Any, i: int) -> PromSeries:
    where = f"result[{i}]"
    labels = _labels(item, where)
    ts, value = _point(item.get("value"), f"{where}.value")
    return PromSeries(labels, value, ts)


def _ranged(item: Any, i: int) -> PromRange:
    """One matrix series, its points checked and converted whole-array."""
    where = f"result[{i}]"
    labels = _labels(item, where)
    points = item.get("values")
    if type(points) is not list:
        raise CollectError(f"ill-formed answer: {where}.values is not a list")
    if not points:
        return PromRange(labels, np.empty(0), np.empty(0))
    try:
        table = np.array(points, dtype=object)
    except ValueError:
        table = None
    if table is None or table.ndim != 2 or table.shape[1] != 2:
        raise CollectError(f"ill-formed answer: {where}.values is not a list of "
                           "[timestamp, value] pairs")
    stamps, texts = table[:, 0].tolist(), table[:, 1].tolist()
    if not set(map(type, stamps)) <= {int, float}:
        raise CollectError(f"ill-formed answer: {where}.values has a timestamp that is "
                           "not a number")
    if set(map(type, texts)) != {str}:
        raise CollectError(f"ill-formed answer: {where}.values has a value that is not a "
                           "number's text")
    try:
        timestamps = np.array(stamps, dtype=np.float64)
    except OverflowError:
        raise CollectError(f"ill-formed answer: {where}.values has a timestamp too large "
                           "for a number of seconds") from None
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError:
        raise CollectError(f"ill-formed answer: {where}.values has a value that is not "
                           "a number") from None
    if not np.isfinite(timestamps).all() or (np.diff(timestamps) <= 0).any():
        raise CollectError(f"ill-formed answer: {where}.values' timestamps are not "
                           "finite and increasing")
    return PromRange(labels, timestamps, values)


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error (``Connection refused``)."""
    seen = exc
    while seen.__context__ is not None or seen.__cause__ is not None:
        seen = seen.__cause__ or seen.__context__
    text = str(seen) or type(seen).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text[:_SHOWN]




# -- the collector --------------------------------------------------------------------------
DEFAULT_SOURCE = "prometheus"
DEFAULT_RESOURCE_LABEL = "instance"
DEFAULT_TYPE = "gauge"
#: queries of one poll asked at once (each waits on the server, not on this process)
DEFAULT_CONCURRENCY = 4
#: most points per series of one range query (Prometheus's own limit is 11,000)
MAX_RANGE_POINTS = 11_000
_PARAMETERS = ("url", "timeout", "max_bytes", "max_series", "verify", "source",
               "concurrency", "queries")
_QUERY_KEYS = ("query", "unit", "type", "resource_label", "project", "project_label",
               "metadata_labels", "range")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SKIP = None  # a label set that makes no series (cached like a descriptor)


class _Meter:
    """One query of the collector's ``queries``, checked, and its series cache."""

    def __init__(self, name: str, spec: Any, source: str) -> None:
        where = f"queries.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_FIELD_LENGTH:
            raise PipelineError("queries", f"a meter name must be a non-empty text of at "
                                           f"most {MAX_FIELD_LENGTH} characters "
                                           f"(got {name!r})")
        if isinstance(spec, str):
            spec = {"query": spec}
        if not isinstance(spec, Mapping):
            raise PipelineError(where, "must be a mapping (query, unit, type...)")
        for key in spec:
            if key not in _QUERY_KEYS:
                raise PipelineError(f"{where}.{key}", f"unknown key (known: "
                                                      f"{', '.join(_QUERY_KEYS)})")
        self.name = name
        self.source = source
        self.query = _text(spec.get("query"), f"{where}.query", "a PromQL expression",
                           limit=64 * 1024)
        if "unit" not in spec:
            raise PipelineError(f"{where}.unit", "is required (the meter's unit: B, %, s...)")
        self.unit = _text(spec["unit"], f"{where}.unit", "a unit", limit=MAX_FIELD_LENGTH)
        self.type = spec.get("type", DEFAULT_TYPE)
        if self.type not in METER_TYPES:
            raise PipelineError(f"{where}.type", f"must be one of {', '.join(sorted(METER_TYPES))}"
                                                 f" (got {self.type!r})")
        self.resource_label = _label(spec.get("resource_label", DEFAULT_RESOURCE_LABEL),
                                     f"{where}.resource_label")
        if "project" in spec and "project_label" in spec:
            raise PipelineError(f"{where}.project", "give project or project_label, not both")
        self.project = None if spec.get("project") is None else _text(
            spec["project"], f"{where}.project", "a project id", limit=MAX_FIELD_LENGTH)
        self.project_label = None if spec.get("project_label") is None else _label(
            spec["project_label"], f"{where}.project_label")
        keep = spec.get("metadata_labels")
        field = f"{where}.metadata_labels"
        if keep is None:
            pass
        elif isinstance(keep, Mapping):  # label -> the metadata key it becomes
            keep = {_label(k, field): _text(v, f"{field}.{k}", "a metadata key",
                                            limit=MAX_FIELD_LENGTH) for k, v in keep.items()}
        elif isinstance(keep, str) or not isinstance(keep, Iterable):
            raise PipelineError(field, "must be a list of label names, or a mapping of "
                                       "label names to metadata keys")
        else:
            keep = {_label(k, field): k for k in keep}
        self.keep: dict[str, str] | None = keep
        self.window = self.step = None
        if spec.get("range") is not None:
            span = spec["range"]
            if not isinstance(span, Mapping) or set(span) != {"window", "step"}:
                raise PipelineError(f"{where}.range", "must be a mapping of window and step")
            self.window = _duration(span["window"], f"{where}.range.window")
            self.step = _duration(span["step"], f"{where}.range.step")
            if not self.step <= self.window <= self.step * MAX_RANGE_POINTS:
                raise PipelineError(f"{where}.range.window", f"must be from one step to "
                                                             f"{MAX_RANGE_POINTS} steps")
        # label set (as answered) -> its descriptor, or _SKIP; the series of the last
        # answer only, so that the cache is bounded by what the server answers
        self.described: dict[tuple, SeriesDescriptor | None] = {}
        self.last_series: tuple[SeriesDescriptor, ...] = ()
        self.last_keep: np.ndarray = np.empty(0, bool)  # first of each store key
        self.sent_until: float | None = None  # range: the newest step sent

    def describe(self, labels: dict[str, str]) -> SeriesDescriptor | None:
        """The descriptor of a label set, or None when it names no resource or project."""
        resource = labels.get(self.resource_label)
        if not resource or len(resource) > MAX_FIELD_LENGTH:
            return _SKIP
        project = self.project
        if self.project_label is not None:
            project = labels.get(self.project_label)
            if not project or len(project) > MAX_FIELD_LENGTH:
                return _SKIP
        keep = self.keep
        if keep is None:
            metadata = {k: v for k, v in labels.items() if k != "__name__"}
        else:
            metadata = {keep[k]: v for k, v in labels.items() if k in keep}
        return SeriesDescriptor(self.name, resource, project, self.type, self.unit, None,
                                self.source, metadata)


class PrometheusCollector(Collector):
    """Samples from PromQL queries, one meter per query (entry point ``prometheus``).

    Parameters (the source's ``parameters`` in the pipeline file)::

        url: http://127.0.0.1:9090      # required: Prometheus (or its HTTP API)
        timeout: 10                     # seconds per query (also Prometheus's own bound)
        max_bytes: 33554432             # largest answer read, per query
        max_series: 10000               # most series of one answer, per query
        verify: true                    # TLS: true, false or a CA bundle path
        source: prometheus              # the samples' source
        concurrency: 4                  # queries of a poll asked at once
        queries:                        # meter name -> what to ask
          cpu_util:
            query: 100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))
            unit: "%"
            type: gauge                 # gauge (default), cumulative or delta
            resource_label: instance    # the label giving the resource id (default)
            project: my-project         # a fixed project id, or:
            # project_label: tenant     # the label giving it
            metadata_labels: [job]      # labels kept as resource_metadata
                                        # (default all but __name__), or renamed:
            # metadata_labels: {server_group: metering.server_group, job: job}
            range: {window: 5m, step: 15s}   # optional: a range query, a sample per step

    An instant query is asked at the poll's ``now`` and gives one sample per
    series.  A range query gives one sample per step of ``(previous end, end]``
    (its steps at multiples of ``step``, its first poll reaching ``window`` back):
    each step once across polls.  A series without the resource label (or the
    project label) is skipped; so is a value that is NaN, infinite or beyond
    :data:`~heat_alarming.metering.sample.MAX_ABS_VOLUME`, and a second series of
    one meter, resource and project (aggregate ``by`` the resource label to
    avoid that); :attr:`skipped` counts them by reason.  Descriptors are cached
    per label set and the batch's series tuple is the same object from poll to
    poll while the answers' label sets stay the same.

    A poll fails (:class:`CollectError`) when every query fails; when only some
    do, the others' samples are returned and the failures logged and counted
    (``skipped["failed_queries"]``), so one bad query does not silence the rest.
    """

    PARAMETERS = _PARAMETERS

    def __init__(self, parameters: Mapping[str, Any], *, resources: Iterable[str] = (),
                 clock: Clock = system_clock) -> None:
        super().__init__(parameters, resources=resources, clock=clock)
        p = self.parameters
        url = p.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise PipelineError("url", f"must be Prometheus's http:// or https:// URL "
                                       f"(got {url!r})")
        timeout = _number(p.get("timeout", DEFAULT_TIMEOUT), "timeout", 0.001, 3600.0)
        max_bytes = _whole(p.get("max_bytes", DEFAULT_MAX_BYTES), "max_bytes", 1, 2**31)
        max_series = _whole(p.get("max_series", DEFAULT_MAX_SERIES), "max_series", 1, 10**7)
        verify = p.get("verify", True)
        if not isinstance(verify, (bool, str)) or verify == "":
            raise PipelineError("verify", "must be true, false or a CA bundle path")
        source = _text(p.get("source", DEFAULT_SOURCE), "source", "a source name",
                       limit=MAX_FIELD_LENGTH)
        self.concurrency = _whole(p.get("concurrency", DEFAULT_CONCURRENCY), "concurrency",
                                  1, 64)
        queries = p.get("queries")
        if not isinstance(queries, Mapping) or not queries:
            raise PipelineError("queries", "must map meter names to queries (at least one)")
        self.meters = [_Meter(name, spec, source) for name, spec in queries.items()]
        self.client = PrometheusClient(url, timeout=timeout, max_bytes=max_bytes,
                                       max_series=max_series, verify=verify)
        self._pool: ThreadPoolExecutor | None = None
        self._skipped = dict.fromkeys(("no_resource_label", "not_finite", "duplicate",
                                       "failed_queries"), 0)
        self._counting = threading.Lock()  # the pool's threads count into _skipped
        self._last_parts: tuple[tuple[SeriesDescriptor, ...], ...] = ()
        self._last_series: tuple[SeriesDescriptor, ...] = ()

    @property
    def skipped(self) -> dict[str, int]:
        """What the polls so far left out, by reason (a copy)."""
        with self._counting:
            return dict(self._skipped)

    def _count(self, reason: str, n: int) -> None:
        with self._counting:
            self._skipped[reason] += n

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()

    # -- one poll ---------------------------------------------------------------------
    def collect(self, now: float) -> SampleBatch:
        if len(self.meters) == 1 or self.concurrency == 1:
            outcomes = [self._outcome(m, now) for m in self.meters]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(min(self.concurrency, len(self.meters)),
                                                thread_name_prefix="prometheus-collector")
            outcomes = list(self._pool.map(lambda m: self._outcome(m, now), self.meters))
        failures = [(m, o) for m, o in zip(self.meters, outcomes)
                    if isinstance(o, CollectError)]
        if failures and len(failures) == len(outcomes):
            raise CollectError("; ".join(f"{m.name}: {o}" for m, o in failures))
        for meter, error in failures:
            self._count("failed_queries", 1)
            LOG.warning("Prometheus query of meter %s failed: %s", meter.name, error)
        return self._join([o for o in outcomes if not isinstance(o, CollectError)])

    def batch_of(self, answers: Mapping[str, list[PromSeries] | list[PromRange]]) -> SampleBatch:
        """The batch that a poll makes of ``answers`` (meter name -> the client's
        answer to that meter's query: a list of :class:`PromSeries`, or of
        :class:`PromRange` for a range meter), without asking the server: what
        :meth:`collect` does once the answers are in (the benchmark times it apart
        from the HTTP exchange).  The caches and counts are the polls'."""
        names = {m.name for m in self.meters}
        for name in answers:
            if name not in names:
                raise ValueError(f"answers: no meter {name!r} (meters: {', '.join(names)})")
        return self._join([self._instant(m, answers[m.name]) if m.step is None else
                           self._ranged(m, answers[m.name])
                           for m in self.meters if m.name in answers])

    def _outcome(self, meter: _Meter, now: float):
        try:
            if meter.step is None:
                return self._instant(meter, self.client.query(meter.query, at=now))
            end = math.floor(now / meter.step) * meter.step
            start = end - meter.window
            if meter.sent_until is not None:
                start = max(start, meter.sent_until + meter.step)
            if start > end:
                return (meter.last_series, np.empty(0, np.uint32), np.empty(0), np.empty(0))
            part = self._ranged(meter, self.client.query_range(meter.query, start, end,
                                                               meter.step))
            meter.sent_until = end
            return part
        except CollectError as exc:
            return exc

    def _series_of(self, meter: _Meter, label_sets: list[dict[str, str]]) -> np.ndarray:
        """Each answered series' code in ``meter.last_series`` (-1: skipped); the
        descriptors and the tuple reused where the label sets were answered before."""
        described, fresh = meter.described, {}
        descriptors, codes = [], np.full(len(label_sets), -1, np.int64)
        unknown = new_unknown = 0
        for i, labels in enumerate(label_sets):
            key = tuple(labels.items())  # (hashed twice: a tuple keeps no hash)
            d = described.get(key, fresh)
            if d is fresh:
                d = meter.describe(labels)
                new_unknown += d is None
            fresh[key] = d
            if d is None:
                unknown += 1
                continue
            codes[i] = len(descriptors)
            descriptors.append(d)
        meter.described = fresh
        if unknown:
            self._count("no_resource_label", unknown)
        if new_unknown:  # (once per label set: the cache remembers the skip)
            LOG.warning("meter %s: %d new series without a %r label%s skipped", meter.name,
                        new_unknown, meter.resource_label,
                        f" or a {meter.project_label!r} label" if meter.project_label else "")
        series = meter.last_series
        if len(series) != len(descriptors) or not all(map(operator.is_, series,
                                                          descriptors)):
            series = meter.last_series = tuple(descriptors)
            seen: set[tuple] = set()
            keep = np.ones(len(series), bool)
            for j, d in enumerate(series):
                if d.key in seen:
                    keep[j] = False
                seen.add(d.key)
            meter.last_keep = keep
        duplicates = int((~meter.last_keep).sum())
        if duplicates:
            self._count("duplicate", duplicates)
            codes[codes >= 0] = np.where(meter.last_keep, np.arange(len(series)), -1)[
                codes[codes >= 0]]
        return codes

    def _instant(self, meter: _Meter, answer: list[PromSeries]):
        codes = self._series_of(meter, [s.labels for s in answer])
        volumes = np.fromiter((s.value for s in answer), np.float64, len(answer))
        stamps = np.fromiter((s.timestamp for s in answer), np.float64, len(answer))
        return self._kept(meter, codes, volumes, stamps)

    def _ranged(self, meter: _Meter, answer: list[PromRange]):
        codes = self._series_of(meter, [r.labels for r in answer])
        sizes = np.fromiter((r.values.size for r in answer), np.int64, len(answer))
        if not answer:
            return self._kept(meter, codes, np.empty(0), np.empty(0))
        volumes = np.concatenate([r.values for r in answer])
        stamps = np.concatenate([r.timestamps for r in answer])
        per_point = np.repeat(codes, sizes)
        return self._kept(meter, per_point, volumes, stamps)

    def _kept(self, meter: _Meter, codes: np.ndarray, volumes: np.ndarray,
              stamps: np.ndarray):
        finite = np.abs(volumes) <= MAX_ABS_VOLUME  # (False for NaN)
        bad = int((~finite & (codes >= 0)).sum())
        if bad:
            self._count("not_finite", bad)
        keep = finite & (codes >= 0)
        return (meter.last_series, codes[keep].astype(np.uint32), volumes[keep],
                stamps[keep])

    def _join(self, parts: list[tuple]) -> SampleBatch:
        """One batch of the meters' parts; the series tuple reused while every
        meter's is."""
        if not parts:
            return SampleBatch.empty()
        # (the parts' tuples themselves are held, and compared by identity)
        tuples = tuple(series for series, *_ in parts)
        if len(parts) == 1:
            series = tuples[0]
        elif len(tuples) == len(self._last_parts) and all(
                a is b for a, b in zip(tuples, self._last_parts)):
            series = self._last_series
        else:
            series = tuple(d for s in tuples for d in s)
        self._last_parts, self._last_series = tuples, series
        offsets = np.cumsum([0] + [len(s) for s, *_ in parts[:-1]], dtype=np.int64)
        codes = np.concatenate([c + np.uint32(o) for (_, c, _, _), o in zip(parts, offsets)])
        return SampleBatch(series, codes.astype(np.uint32, copy=False),
                           np.concatenate([v for _, _, v, _ in parts]),
                           np.concatenate([t for *_, t in parts]))


def _text(value: Any, field: str, what: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise PipelineError(field, f"must be {what}: a non-empty text of at most {limit} "
                                   f"characters (got {value!r:.60})")
    return value


def _label(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise PipelineError(field, f"must be a Prometheus label name (got {value!r:.60})")
    return value


def _number(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low <= value <= high:
        raise PipelineError(field, f"must be a number from {low:g} to {high:g} (got {value!r})")
    return float(value)


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PipelineError(field, f"must be a whole number from {low} to {high} "
                                   f"(got {value!r})")
    return value


def _duration(value: Any, field: str) -> float:
    """Seconds, from a number or a Prometheus-style duration text (``15s``, ``5m``)."""
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            raise PipelineError(field, f"must be seconds or a duration such as 15s, 5m, 1h "
                                       f"(got {value!r:.40})")
        value = float(match.group(1)) * _UNITS[match.group(2)]
    seconds = _number(value, field, 0.001, 366 * 86400.0)
    if seconds <= 0:
        raise PipelineError(field, "must be positive")
    return seconds
