"""Samples from a Gnocchi: the aggregates of the resources a search matches.

A cloud whose Ceilometer already publishes to Gnocchi gets in-engine alarms
without touching its agents: each poll, :class:`GnocchiCollector`

1. searches the resources of ``resource_type`` that ``query`` matches (Gnocchi's
   own filter language, ``{"=": {"server_group": "web"}}``), page by page, and
   refuses a poll that matches more than ``max_resources``;
2. fetches the ``aggregation`` (mean, max...) at ``granularity`` of the named
   ``metrics`` of those resources: one ``POST /v1/aggregates`` per bundle of
   metrics where the server has that API (Gnocchi >= 4.1), else one
   ``GET /v1/metric/<id>/measures`` per metric;
3. emits one gauge sample per point of a period that has ended (a period that is
   still filling would change after it was sent, and the pipeline dedups
   nothing), each point once: after the first poll a series is fetched from its
   newest point on, and what was already sent is dropped.

A sample is named after the metric; its resource, project and user are the
Gnocchi resource's, its unit the metric's, its timestamp the period's start and
its volume the aggregate; its metadata are the attributes of the resource type
(``server_group``, ``flavor_id``, ``display_name``... as Gnocchi names them),
without the fields every resource has (ids, creator, revision and lifetime).

Gnocchi's answers are untrusted: every body is read up to ``max_bytes``, every
field it is used for is checked, and a failure of any kind is a
:class:`~heat_alarming.metering.pipeline.base.CollectError` whose text says what
failed (Gnocchi's own reason for a refused search or fetch).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.collectors import answers
from heat_alarming.metering.pipeline.base import CollectError, Collector, PipelineError
from heat_alarming.metering.sample import GAUGE

LOG = logging.getLogger(__name__)

DEFAULT_AGGREGATION = "mean"
DEFAULT_TIMEOUT = 10.0
#: how far back the first poll of a series reaches, seconds
DEFAULT_LOOKBACK = 600.0
DEFAULT_MAX_RESOURCES = 1000
#: largest answer body read from Gnocchi, bytes
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_SOURCE = "gnocchi"
DEFAULT_USER = "admin"
#: resources per search page (Gnocchi's own largest page by default, [api] max_limit)
DEFAULT_PAGE_SIZE = 1000
#: metrics fetched by one /v1/aggregates call
METRICS_PER_CALL = 200
#: seconds after which metrics Gnocchi refused (no such granularity or aggregation)
#: are asked for again
RECHECK = 3600.0
#: refusals naming metrics one /v1/aggregates call takes before its metrics are read
#: one by one
MAX_REFUSALS = 4
#: longest query text accepted
MAX_QUERY_TEXT = 64 * 1024
#: the fields every Gnocchi resource has: never a sample's metadata
GENERIC_FIELDS = frozenset((
    "id", "original_resource_id", "type", "project_id", "user_id", "creator",
    "created_by_user_id", "created_by_project_id", "started_at", "ended_at",
    "revision_start", "revision_end", "metrics"))
#: of those, the ones a sample keeps as metadata (when set: an ended_at of null is left
#: out, which an alarm's ``{"=": {"ended_at": null}}`` matches)
KEPT_FIELDS = ("type", "ended_at", "original_resource_id")
_AGGREGATION = re.compile(r"^(rate:)?(mean|min|max|sum|std|count|median|first|last|"
                          r"[1-9][0-9]?pct)$")
_RESOURCE_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_SCALARS = (str, int, float, bool, type(None))
_EPOCH64 = np.datetime64(0, "us")


class GnocchiCollector(Collector):
    """Polls a Gnocchi for the aggregates of the metrics of matching resources.

    Parameters (the source's ``parameters`` in the pipeline file):

    ``url``
        Gnocchi's endpoint, ``http(s)://host:8041`` (required with basic auth; with
        Keystone, the catalog's ``metric`` endpoint when omitted).
    ``auth``
        ``{"type": "basic", "user": "admin"}`` (the default; Gnocchi's
        ``auth_mode = basic``), or ``{"type": "keystone", ...}`` with either
        keystoneauth1 plugin options (``auth_type``, ``auth_url``, ``username``,
        ``password``, ``project_name``, ``user_domain_name``,
        ``project_domain_name``..., plus ``interface`` and ``region_name`` for the
        catalog) or ``section``: the name of an oslo.config group holding them, as
        ``[gnocchi]`` or ``[service_credentials]`` in Ceilometer's configuration.
    ``resource_type``
        The Gnocchi resource type searched (``generic`` by default).
    ``query``
        Gnocchi's search filter, a mapping or its JSON text; all resources of the
        type when omitted.
    ``metrics``
        The metric names (a list, or one name) fetched for each resource.
    ``aggregation``
        The archive policy aggregation fetched (``mean`` by default).
    ``granularity``
        The seconds between points, one of the metrics' archive policy (required).
    ``timeout``, ``lookback``, ``max_resources``, ``page_size``, ``max_bytes``, ``verify``
        Seconds per HTTP request; how far back a series' first poll reaches;
        the most resources a poll may match; resources per search page (at most
        the server's ``[api] max_limit``); the largest answer read; TLS
        verification (a bool or a CA bundle path).
    ``api``
        ``auto`` (aggregates where the server has them), ``aggregates`` or
        ``measures`` (one call per metric).
    ``source``
        The samples' source (``gnocchi``).

    The source's ``resources``, when the pipeline file lists them, are Gnocchi
    resource ids: the search is narrowed to them (and to ``query``).
    """

    PARAMETERS = ("url", "auth", "resource_type", "query", "metrics", "aggregation",
                  "granularity", "timeout", "lookback", "max_resources", "max_bytes",
                  "verify", "api", "source", "page_size")

    def __init__(self, parameters: Mapping[str, Any], *, resources: Iterable[str] = (),
                 clock: Clock = system_clock) -> None:
        super().__init__(parameters, resources=resources, clock=clock)
        p = self.parameters
        self.auth = _auth(p.get("auth"))
        self.url = _url(p.get("url"), required=self.auth["type"] == "basic")
        resource_type = p.get("resource_type", "generic")
        if not isinstance(resource_type, str) or not _RESOURCE_TYPE.match(resource_type):
            raise PipelineError("resource_type", "must be a Gnocchi resource type name")
        self.resource_type = resource_type
        self.query = _query(p.get("query"))
        if self.resources:  # the pipeline file's resources: these Gnocchi resource ids
            if not all(isinstance(r, str) and 0 < len(r) <= 255 for r in self.resources):
                raise PipelineError("resources", "must be Gnocchi resource ids")
            only = {"in": {"id": list(dict.fromkeys(self.resources))}}
            self.query = only if self.query is None else {"and": [self.query, only]}
        self.metrics = _metrics(p.get("metrics"))
        aggregation = p.get("aggregation", DEFAULT_AGGREGATION)
        if not isinstance(aggregation, str) or not _AGGREGATION.match(aggregation):
            raise PipelineError("aggregation", "must be an archive policy aggregation "
                                               "(mean, min, max, sum, std, count, median, "
                                               "first, last, Npct, rate:...)")
        self.aggregation = aggregation
        if "granularity" not in p:
            raise PipelineError("granularity", "is required: the seconds between points "
                                               "of the metrics' archive policy")
        self.granularity = _positive(p, "granularity", None, maximum=366 * 86400.0)
        self.timeout = _positive(p, "timeout", DEFAULT_TIMEOUT, maximum=3600.0)
        self.lookback = _positive(p, "lookback", DEFAULT_LOOKBACK, maximum=366 * 86400.0)
        self.max_resources = int(_positive(p, "max_resources", DEFAULT_MAX_RESOURCES,
                                           integer=True, maximum=10**6))
        self.max_bytes = int(_positive(p, "max_bytes", DEFAULT_MAX_BYTES, integer=True,
                                       maximum=2**31))
        self.page_size = int(_positive(p, "page_size", DEFAULT_PAGE_SIZE, integer=True,
                                       maximum=10**5))
        verify = p.get("verify", True)
        if not isinstance(verify, (bool, str)) or verify == "":
            raise PipelineError("verify", "must be true, false or a CA bundle path")
        self.verify = verify
        api = p.get("api", "auto")
        if api not in ("auto", "aggregates", "measures"):
            raise PipelineError("api", "must be auto, aggregates or measures")
        self._use_aggregates: bool | None = None if api == "auto" else api == "aggregates"
        source = p.get("source", DEFAULT_SOURCE)
        if not isinstance(source, str) or not source or len(source) > 255:
            raise PipelineError("source", "must be a non-empty text")
        self.source = source
        self._session: Any = None
        self._lock = threading.Lock()
        # per metric id: the newest point sent (epoch), and its unit once known
        self._sent: dict[str, float] = {}
        self._units: dict[str, str] = {}
        # metrics Gnocchi refused (no such granularity or aggregation), left out
        self._unusable: set[str] = set()
        self._recheck_at = -math.inf
        # per (resource id, metric name): (the resource's revision, unit, descriptor)
        self._series: dict[tuple[str, str], tuple[Any, str, SeriesDescriptor]] = {}

    # -- one poll ---------------------------------------------------------------------
    def collect(self, now: float) -> SampleBatch:
        resources = self._search()
        wanted: dict[str, tuple[dict, str]] = {}  # metric id -> (resource, metric name)
        for resource in resources:
            for name in self.metrics:
                metric_id = resource["metrics"].get(name)
                if metric_id is not None:
                    wanted[metric_id] = (resource, name)
        # forget the series of resources (or metrics) no longer matched; try again
        # the metrics found unusable once RECHECK seconds have passed
        for state in (self._sent, self._units):
            for metric_id in [m for m in state if m not in wanted]:
                del state[metric_id]
        if now >= self._recheck_at:
            self._unusable.clear()
            self._recheck_at = now + RECHECK
        self._unusable.intersection_update(wanted)
        for metric_id in self._unusable:
            del wanted[metric_id]
        live = {(r["id"], n) for r, n in wanted.values()}
        for key in [k for k in self._series if k not in live]:
            del self._series[key]
        if not wanted:
            return SampleBatch.empty()
        points = self._fetch(list(wanted), now)
        return self._batch(points, wanted, now)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- resources -------------------------------------------------------------------
    def _search(self) -> list[dict]:
        found: list[dict] = []
        limit = int(min(self.page_size, self.max_resources + 1))
        marker: str | None = None
        body = json.dumps(self.query if self.query is not None else {})
        while True:
            query = {"limit": str(limit), "sort": "id:asc"}
            if marker is not None:
                query["marker"] = marker
            page = self._call("POST", f"search/resource/"
                                      f"{urllib.parse.quote(self.resource_type)}",
                              query, body, what="resource search")
            if not isinstance(page, list):
                raise CollectError("gnocchi resource search: the answer is not a list")
            found.extend(_resource(r) for r in page)
            if len(found) > self.max_resources:
                raise CollectError(f"gnocchi resource search: more than {self.max_resources} "
                                   f"{self.resource_type} resources match the query "
                                   f"(max_resources)")
            if len(page) < limit:
                return found
            marker = found[-1]["id"]

    # -- measures --------------------------------------------------------------------
    def _fetch(self, metric_ids: list[str], now: float) -> dict[str, list]:
        """{metric id: [[timestamp, granularity, value]...]} since each one's start."""
        first = now - self.lookback
        by_start: dict[float, list[str]] = {}
        for metric_id in metric_ids:
            by_start.setdefault(self._sent.get(metric_id, first), []).append(metric_id)
        points: dict[str, list] = {}
        for start, ids in by_start.items():
            if self._use_aggregates is not False:
                for i in range(0, len(ids), METRICS_PER_CALL):
                    got = self._aggregates(ids[i:i + METRICS_PER_CALL], start)
                    if got is None:  # the server has no /v1/aggregates
                        break
                    points.update(got)
                else:
                    continue
            for metric_id in ids:
                if metric_id not in points:
                    got_one = self._measures(metric_id, start)
                    if got_one is not None:
                        points[metric_id] = got_one
        return points

    def _aggregates(self, metric_ids: list[str], start: float) -> dict[str, list] | None:
        query = {"details": "true", "granularity": _seconds(self.granularity),
                 "start": _iso(start)}
        ids = list(metric_ids)
        refusals = 0
        while ids:  # each refusal that names metrics leaves them out: ids shrink
            if refusals == MAX_REFUSALS:
                # Gnocchi names one metric of unknown aggregation a refusal: read
                # the others one by one, which finds the refused ones in one pass
                return {m: rows for m in ids
                        if (rows := self._measures(m, start)) is not None}
            body = json.dumps({"operations": ["metric", *([m, self.aggregation]
                                                          for m in ids)]})
            try:
                answer = self._call("POST", "aggregates", query, body,
                                    what="aggregates", refusal=True)
            except _Refused as refused:
                # metrics gone since the search, or without the granularity or the
                # aggregation: named in the refusal, left out (until RECHECK passes)
                unusable = _named_metrics(refused.description) & set(ids)
                if unusable:
                    LOG.warning("gnocchi aggregates: %d metrics left out for %g s: %s",
                                len(unusable), RECHECK, refused)
                    refusals += 1
                    self._unusable.update(unusable)
                    ids = [m for m in ids if m not in unusable]
                    continue
                if refused.status == 404 and self._use_aggregates is None \
                        and not self._has_aggregates():
                    self._use_aggregates = False
                    return None
                raise CollectError(f"gnocchi aggregates: {refused}") from None
            self._use_aggregates = True
            return self._read_aggregates(answer, ids)
        return {}

    def _read_aggregates(self, answer: Any, ids: list[str]) -> dict[str, list]:
        if not isinstance(answer, dict) or not isinstance(answer.get("measures"), dict):
            raise CollectError("gnocchi aggregates: the answer has no measures mapping")
        for ref in answer.get("references") or ():
            if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                unit = ref.get("unit")
                self._units[ref["id"]] = unit if isinstance(unit, str) else ""
        wanted = set(ids)
        points: dict[str, list] = {}
        for metric_id, by_aggregation in answer["measures"].items():
            if metric_id not in wanted:
                continue  # not asked for: ignored
            if not isinstance(by_aggregation, dict):
                raise CollectError(f"gnocchi aggregates: the measures of {metric_id} "
                                   f"are not a mapping")
            rows = by_aggregation.get(self.aggregation, [])
            if not isinstance(rows, list):
                raise CollectError(f"gnocchi aggregates: the {self.aggregation} of "
                                   f"{metric_id} is not a list")
            points[metric_id] = rows
        return points

    def _measures(self, metric_id: str, start: float) -> list | None:
        query = {"aggregation": self.aggregation, "granularity": _seconds(self.granularity),
                 "start": _iso(start), "refresh": "false"}
        try:
            rows = self._call("GET", f"metric/{urllib.parse.quote(metric_id)}/measures",
                              query, None, what="measures", refusal=True)
        except _Refused as refused:
            if refused.status == 404:  # gone since the search, or no such aggregation
                LOG.warning("gnocchi measures of %s: left out for %g s: %s", metric_id,
                            RECHECK, refused)
                self._unusable.add(metric_id)
                return None
            raise CollectError(f"gnocchi measures of {metric_id}: {refused}") from None
        if not isinstance(rows, list):
            raise CollectError(f"gnocchi measures of {metric_id}: not a list")
        if rows and metric_id not in self._units:  # its unit, once
            try:
                metric = self._call("GET", f"metric/{urllib.parse.quote(metric_id)}",
                                    None, None, what="metric", refusal=True)
            except _Refused as refused:
                if refused.status == 404:  # gone since
                    return None
                raise CollectError(f"gnocchi metric {metric_id}: {refused}") from None
            unit = metric.get("unit") if isinstance(metric, dict) else None
            self._units[metric_id] = unit if isinstance(unit, str) else ""
        return rows

    def _has_aggregates(self) -> bool:
        """Whether the server routes /v1/aggregates (405 to a GET) at all."""
        try:
            self._call("GET", "aggregates", None, None, what="aggregates probe",
                       refusal=True)
        except _Refused as refused:
            return refused.status != 404
        return True

    # -- the batch -------------------------------------------------------------------
    def _batch(self, points: dict[str, list], wanted: dict[str, tuple[dict, str]],
               now: float) -> SampleBatch:
        """The points not sent yet of periods that have ended, whole-array over
        every metric's points at once (a loop per series only for the descriptors)."""
        metric_ids = [m for m, rows in points.items() if rows]
        if not metric_ids:
            return SampleBatch.empty()
        rows = [row for m in metric_ids for row in points[m]]
        try:
            times, values = _columns(rows, self.granularity)
        except _IllFormed as ill:  # name the first metric whose points are wrong
            for m in metric_ids:
                try:
                    _columns(points[m], self.granularity)
                except _IllFormed as its:
                    raise CollectError(f"gnocchi measures of {m}: {its}") from None
            raise CollectError(f"gnocchi measures: {ill}") from None
        owner = np.repeat(np.arange(len(metric_ids)),
                          np.fromiter((len(points[m]) for m in metric_ids), np.intp,
                                      len(metric_ids)))
        sent = np.fromiter((self._sent.get(m, -math.inf) for m in metric_ids), np.float64,
                           len(metric_ids))
        keep = (times + self.granularity <= now) & np.isfinite(values) & (times > sent[owner])
        if not keep.any():
            return SampleBatch.empty()
        owner, times, values = owner[keep], times[keep], values[keep]
        newest = np.full(len(metric_ids), -math.inf)
        np.maximum.at(newest, owner, times)
        present = np.flatnonzero(np.isfinite(newest))
        code_of = np.zeros(len(metric_ids), np.uint32)
        code_of[present] = np.arange(present.size, dtype=np.uint32)
        series = []
        for i in present.tolist():
            metric_id = metric_ids[i]
            self._sent[metric_id] = float(newest[i])
            resource, name = wanted[metric_id]
            series.append(self._descriptor(resource, name, self._units.get(metric_id, "")))
        return SampleBatch(tuple(series), code_of[owner], values, times)

    def _descriptor(self, resource: dict, name: str, unit: str) -> SeriesDescriptor:
        key = (resource["id"], name)
        revision = resource.get("revision_start")
        known = self._series.get(key)
        if known is not None and known[0] == revision and revision is not None \
                and known[1] == unit:
            return known[2]
        metadata = {k: v for k, v in resource.items()
                    if k not in GENERIC_FIELDS and isinstance(v, _SCALARS)}
        # what an alarm's Gnocchi search may test (heat_alarming.metering.gnocchi_search):
        # the resource type, whether the resource ended, the id it was created with
        for field in KEPT_FIELDS:
            value = resource.get(field)
            if isinstance(value, str) and value:
                metadata[field] = value
        if metadata.get("original_resource_id") == resource["id"]:
            del metadata["original_resource_id"]
        descriptor = SeriesDescriptor(name, resource["id"], resource.get("project_id"),
                                      GAUGE, unit, resource.get("user_id"), self.source,
                                      metadata)
        if known is not None and known[2] == descriptor:
            descriptor = known[2]
        self._series[key] = (revision, unit, descriptor)
        return descriptor

    # -- HTTP ------------------------------------------------------------------------
    def _http(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = _session(self.auth, self.verify)
            return self._session

    def _call(self, method: str, path: str, query: Mapping[str, str] | None,
              body: str | None, *, what: str, refusal: bool = False) -> Any:
        import requests

        session = self._http()
        url = self._endpoint(session) + "/v1/" + path
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        kwargs: dict[str, Any] = {"params": query, "data": body, "headers": headers,
                                  "timeout": self.timeout, "stream": True}
        # requests' timeout bounds each read of the socket; the deadline bounds the
        # whole exchange (a Gnocchi trickling its answer meets it too)
        deadline = time.monotonic() + self.timeout
        try:
            if self.auth["type"] == "keystone":  # keystoneauth's Session: (url, method)
                answer = session.request(url, method, raise_exc=False, **kwargs)
            else:
                answer = session.request(method, url, **kwargs)
            try:
                text = _read(answer, self.max_bytes, what, deadline,
                             f"no complete answer from {self.url or 'gnocchi'} "
                             f"within {self.timeout:g} s")
            finally:
                answer.close()
        except CollectError:
            raise
        except requests.Timeout:
            raise CollectError(f"gnocchi {what}: no answer from {self.url or 'gnocchi'} "
                               f"within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise CollectError(f"gnocchi {what}: cannot reach "
                               f"{self.url or 'gnocchi'} ({_reason(exc)})") from None
        except Exception as exc:  # keystoneauth's errors (catalog, token)
            raise CollectError(f"gnocchi {what}: {type(exc).__name__}: {exc}") from None
        status = answer.status_code
        if status >= 400:
            description = _description(text, what)
            if refusal and status in (400, 404, 405):
                raise _Refused(status, description)
            raise CollectError(f"gnocchi {what}: HTTP {status}: "
                               f"{_show(description) or answer.reason}")
        return _json(text, what)

    def _endpoint(self, session: Any) -> str:
        if self.url:
            return self.url
        try:
            url = session.get_endpoint(service_type="metric",
                                       interface=self.auth.get("interface", "public"),
                                       region_name=self.auth.get("region_name"))
        except Exception as exc:
            raise CollectError(f"gnocchi: no metric endpoint in the catalog "
                               f"({type(exc).__name__}: {exc})") from None
        if not url:
            raise CollectError("gnocchi: no metric endpoint in the catalog")
        self.url = url.rstrip("/")
        return self.url


class _Refused(Exception):
    """A 4xx answer the caller may handle (Gnocchi's description kept)."""

    def __init__(self, status: int, description: Any) -> None:
        self.status = status
        self.description = description
        super().__init__(f"HTTP {status}: {_show(description)}")


# -- parameters ------------------------------------------------------------------------
def _url(value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise PipelineError("url", "must be Gnocchi's http(s) URL")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PipelineError("url", f"must be an http(s) URL with a host (got {value!r:.80})")
    if parts.query or parts.fragment:
        raise PipelineError("url", "must have no query or fragment")
    return value.rstrip("/")


def _auth(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "basic", "user": DEFAULT_USER, "password": ""}
    if isinstance(value, str):
        value = {"type": "basic", "user": value}
    if not isinstance(value, Mapping):
        raise PipelineError("auth", "must be a basic user name or a mapping with a type")
    auth = dict(value)
    kind = auth.get("type", "basic")
    if kind == "basic":
        user = auth.get("user", DEFAULT_USER)
        password = auth.get("password", "")
        if not isinstance(user, str) or not user or ":" in user:
            raise PipelineError("auth.user", "must be a user name (no colon)")
        if not isinstance(password, str):
            raise PipelineError("auth.password", "must be a text")
        extra = set(auth) - {"type", "user", "password"}
        if extra:
            raise PipelineError("auth", f"unknown basic auth keys: {', '.join(sorted(extra))}")
        return {"type": "basic", "user": user, "password": password}
    if kind == "keystone":
        if "section" in auth:
            if not isinstance(auth["section"], str) or not auth["section"]:
                raise PipelineError("auth.section", "must name an oslo.config group")
        elif not isinstance(auth.get("auth_type", "password"), str):
            raise PipelineError("auth.auth_type", "must name a keystoneauth1 plugin")
        return auth
    raise PipelineError("auth.type", "must be basic or keystone")


def _query(value: Any) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_QUERY_TEXT:
            raise PipelineError("query", f"longer than {MAX_QUERY_TEXT} characters")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PipelineError("query", f"is not JSON ({exc})") from None
    if not isinstance(value, Mapping) or len(value) != 1:
        raise PipelineError("query", 'must be one Gnocchi filter, as {"=": {"server_group": '
                                     '"web"}} (a mapping of one operator)')
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise PipelineError("query", f"cannot be sent as JSON ({exc})") from None
    if len(text) > MAX_QUERY_TEXT:
        raise PipelineError("query", f"longer than {MAX_QUERY_TEXT} characters")
    return json.loads(text)


def _metrics(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise PipelineError("metrics", "must list one or more metric names")
    names = []
    for name in value:
        if not isinstance(name, str) or not name or len(name) > 255:
            raise PipelineError("metrics", f"{name!r:.80} is not a metric name")
        if name not in names:
            names.append(name)
    return tuple(names)


def _positive(p: Mapping[str, Any], name: str, default: float | None, *,
              integer: bool = False, maximum: float) -> float:
    value = p.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and not float(value).is_integer()) or not 0 < value <= maximum \
            or not math.isfinite(value):
        kind = "a whole number" if integer else "a number"
        raise PipelineError(name, f"must be {kind} above 0 and at most {maximum:g}")
    return float(value)


# -- answers ---------------------------------------------------------------------------
def _resource(value: Any) -> dict:
    """A searched resource, its fields checked."""
    if not isinstance(value, dict):
        raise CollectError("gnocchi resource search: a resource is not a mapping")
    rid = value.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > 255:
        raise CollectError("gnocchi resource search: a resource has no id")
    for field in ("project_id", "user_id"):
        v = value.get(field)
        if v is not None and (not isinstance(v, str) or len(v) > 255):
            raise CollectError(f"gnocchi resource search: {rid}'s {field} is not a text")
    metrics = value.get("metrics")
    if not isinstance(metrics, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metrics.items()):
        raise CollectError(f"gnocchi resource search: {rid}'s metrics are not "
                           f"a mapping of names to ids")
    if value.get("project_id") == "":
        value["project_id"] = None
    if value.get("user_id") == "":
        value["user_id"] = None
    return value


class _IllFormed(ValueError):
    """Points that are not [timestamp, granularity, value] as they must be."""


def _columns(rows: list, granularity: float) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds, values) of [[timestamp, granularity, value]...] rows, checked
    whole-array (a null value is NaN, dropped by the caller); :class:`_IllFormed`
    says what is wrong."""
    try:
        stamps, grains, values = zip(*rows, strict=True)
    except (TypeError, ValueError):
        raise _IllFormed("a point is not [timestamp, granularity, value]") from None
    grains_array = np.array(grains)
    if grains_array.ndim != 1 or grains_array.dtype.kind not in "fi" or not (
            grains_array == granularity).all():
        raise _IllFormed(f"a point's granularity is not {granularity:g}")
    volumes = np.array(values)
    if volumes.dtype.kind == "O":  # nulls among the numbers
        volumes = np.array([math.nan if v is None else v for v in values])
    if volumes.ndim != 1 or volumes.dtype.kind not in "fi":
        raise _IllFormed("a value is not a number")
    return _epochs(stamps), volumes.astype(np.float64)


def _epochs(stamps: tuple) -> np.ndarray:
    """ISO 8601 texts as epoch seconds: whole-array for UTC ones (Gnocchi writes
    ``+00:00``), one by one for others."""
    texts = np.array(stamps)
    if texts.ndim != 1 or texts.dtype.kind != "U" or texts.dtype.itemsize > 4 * 40:
        raise _IllFormed("a timestamp is not a short text")
    try:
        if np.strings.endswith(texts, "+00:00").all():
            naive = np.strings.replace(texts, "+00:00", "").astype("datetime64[us]")
            return (naive - _EPOCH64) / np.timedelta64(1, "s")
        return np.array([_aware(dt.datetime.fromisoformat(t)).timestamp()
                         for t in stamps], dtype=np.float64)
    except ValueError:
        raise _IllFormed("a timestamp is not ISO 8601") from None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _read(answer: Any, limit: int, what: str, deadline: float, late: str) -> bytes:
    """The body of ``answer``, at most ``limit`` bytes, all of it by ``deadline`` (a
    monotonic time; ``late`` says so otherwise)."""
    try:
        return answers.read_body(answer, limit, deadline)
    except answers.AnswerTooLarge as exc:
        size = "" if exc.declared is None else f" ({exc.declared} bytes)"
        raise CollectError(f"gnocchi {what}: the answer{size} is larger than max_bytes "
                           f"({limit})") from None
    except answers.AnswerLate:
        raise CollectError(f"gnocchi {what}: {late}") from None
    except answers.AnswerBroken as exc:
        raise CollectError(f"gnocchi {what}: the answer broke off "
                           f"({_reason(exc.cause)})") from None


def _json(text: bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise CollectError(f"gnocchi {what}: the answer is not JSON") from None
    except (RecursionError, OverflowError):
        raise CollectError(f"gnocchi {what}: the answer is nested too deeply or holds a "
                           f"number too large to read") from None


def _description(text: bytes, what: str) -> Any:
    """Gnocchi's reason in an error body ({"description": ...}), else the text."""
    try:
        body = _json(text, what)
    except CollectError:
        return text[:300].decode("utf-8", "replace").strip()
    if isinstance(body, dict) and "description" in body:
        return body["description"]
    return body


def _show(description: Any) -> str:
    """A readable line of Gnocchi's description (text, or cause/reason/detail)."""
    if isinstance(description, dict):
        parts = [str(description.get(k)) for k in ("cause", "reason") if description.get(k)]
        detail = description.get("detail")
        text = ": ".join(parts) or json.dumps(description)[:300]
        if detail:
            text += f" ({json.dumps(detail)[:300]})"
        return text
    return str(description)[:500]


def _named_metrics(description: Any) -> set[str]:
    """The metric ids a refusal names in its detail (unknown, missing granularity or
    aggregation), empty when it names none."""
    if not isinstance(description, dict) or not isinstance(description.get("detail"), list):
        return set()
    names = set()
    for item in description["detail"]:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, list) and item and isinstance(item[0], str):
            names.add(item[0])
    return names


def _reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"\] ([^'\")]+)", text)
    return match.group(1) if match else f"{type(exc).__name__}"


def _seconds(value: float) -> str:
    """Seconds as Gnocchi reads them: plain decimal, never an exponent."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


# -- sessions --------------------------------------------------------------------------
def _session(auth: Mapping[str, Any], verify: Any) -> Any:
    if auth["type"] == "basic":
        import requests

        session = requests.Session()
        session.auth = (auth["user"], auth["password"])
        session.verify = verify
        return session
    from keystoneauth1 import loading
    from keystoneauth1 import session as ks_session

    if "section" in auth:
        from oslo_config import cfg

        group = auth["section"]
        loading.register_auth_conf_options(cfg.CONF, group)
        loading.register_session_conf_options(cfg.CONF, group)
        plugin = loading.load_auth_from_conf_options(cfg.CONF, group)
        return loading.load_session_from_conf_options(cfg.CONF, group, auth=plugin)
    options = {k: v for k, v in auth.items()
               if k not in ("type", "auth_type", "interface", "region_name")}
    loader = loading.get_plugin_loader(auth.get("auth_type", "password"))
    plugin = loader.load_from_options(**options)
    return ks_session.Session(auth=plugin, verify=verify)
