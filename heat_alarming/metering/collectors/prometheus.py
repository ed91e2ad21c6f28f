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
"""
from __future__ import annotations

import json
import math
import time
from typing import Any, NamedTuple

import numpy as np
import requests
import urllib3

from heat_alarming.metering.pipeline.base import CollectError

#: largest answer body read, in bytes (decompressed)
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: most series one answer may hold
DEFAULT_MAX_SERIES = 10_000
#: seconds one exchange (connect, evaluate, read) may last
DEFAULT_TIMEOUT = 10.0
_CHUNK = 64 * 1024
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
        data = self._ask("query", form)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            self._check_count(result)
            return [_instant(item, i) for i, item in enumerate(result)]
        if kind == "scalar":
            ts, value = _point(result, "result")
            return [PromSeries({}, value, ts)]
        if kind == "matrix":
            raise CollectError("Prometheus answered a range vector to an instant query "
                               "(query_range asks for ranges; a range selector needs a "
                               "function such as rate() here)")
        raise CollectError(f"Prometheus answered a {kind} to an instant query, not a number")

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
        data = self._ask("query_range", form)
        if data["resultType"] != "matrix":
            raise CollectError(f"Prometheus answered a {data['resultType']} to a range "
                               "query, not a matrix")
        result = data["result"]
        self._check_count(result)
        return [_ranged(item, i) for i, item in enumerate(result)]

    # -- the exchange -------------------------------------------------------------------
    def _ask(self, endpoint: str, form: dict[str, str]) -> dict[str, Any]:
        """The checked ``data`` of one answer (its ``resultType`` and ``result``)."""
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
        return self._checked(response.status_code, body)

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise CollectError(f"Prometheus's answer is {int(declared)} bytes, more than "
                               f"max_bytes ({self.max_bytes}); refused")
        chunks, size = [], 0
        raw = response.raw
        try:
            while True:
                # read1: what one read of the socket brings (decompressed, at most
                # _CHUNK bytes), so that a server trickling its answer meets the deadline
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise CollectError(f"Prometheus's answer is larger than max_bytes "
                                       f"({self.max_bytes}); refused")
                if time.monotonic() > deadline:
                    raise CollectError(f"Prometheus at {self.url} did not finish its answer "
                                       f"within {self.timeout:g} s")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
                raise CollectError(f"Prometheus at {self.url} did not finish its answer "
                                   f"within {self.timeout:g} s") from None
            raise CollectError(f"Prometheus's answer broke off ({_root_cause(exc)})") from None
        return b"".join(chunks)

    def _checked(self, status: int, body: bytes) -> dict[str, Any]:
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
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
            raise CollectError(f"Prometheus's answer has status {answer.get('status')!r}, "
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
        return data

    def _check_count(self, result: list) -> None:
        if len(result) > self.max_series:
            raise CollectError(f"Prometheus answered {len(result)} series, more than "
                               f"max_series ({self.max_series}); refused (narrow the query "
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
    if type(ts) not in (int, float) or not math.isfinite(ts):
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
    timestamps = np.array(stamps, dtype=np.float64)
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


__all__ = ["PromRange", "PromSeries", "PrometheusClient"]
