"""The polling share of the Prometheus collector: how fast an answer of N series
becomes a SampleBatch, the HTTP round trip timed apart from the parse.

    python benchmarks/bench_prometheus.py --series 10000 [--range-points 60]

An answer of ``--series`` series (an instant vector as Prometheus writes it: labels
``__name__``, ``instance``, ``job``, ``zone``, a value text) is made once, and
timed (median of ``--repeat`` runs) through

* ``parse``: :func:`~heat_alarming.metering.collectors.prometheus.read_instant`
  (JSON and the field-by-field checks) of the body bytes;
* ``map``: :meth:`PrometheusCollector.batch_of` of the parsed answer, with the
  descriptors cached by the previous poll (the steady state), and once cold;
* ``poll``: a whole :meth:`PrometheusCollector.collect` against a loopback HTTP
  server (another process) that answers the same bytes;
* ``http``: the bare exchange with that server (a requests POST, the body read);

and with ``--range-points P`` the same for a range answer of P points per series
(``read_range`` and ``batch_of`` of the ranges).  Result lines are samples per
second; ``measure()`` returns them as a mapping for bench_pipeline.py.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_seconds, progress, result  # noqa: E402

from heat_alarming.metering.collectors.prometheus import (  # noqa: E402
    PrometheusCollector,
    read_instant,
    read_range,
)

T0 = 1_796_000_000.0


def instant_body(n: int) -> bytes:
    """An instant-vector answer of ``n`` series, as Prometheus writes it."""
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "node_load1", "instance": f"10.0.{i // 250}.{i % 250}:9100",
                    "job": "node", "zone": f"z{i % 3}"},
         "value": [T0, repr(i * 0.01)]} for i in range(n)]}},
        separators=(",", ":")).encode()


def range_body(n: int, points: int) -> bytes:
    """A matrix answer of ``n`` series of ``points`` steps of 15 s."""
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "node_load1", "instance": f"10.0.{i // 250}.{i % 250}:9100",
                    "job": "node", "zone": f"z{i % 3}"},
         "values": [[T0 + 15 * k, repr(i + k * 0.5)] for k in range(points)]}
        for i in range(n)]}}, separators=(",", ":")).encode()


def _serve(body: bytes, port) -> None:
    """Answer every POST with ``body`` on a free loopback port (told through ``port``)."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    server.serve_forever()


class _Answering:
    """A loopback server answering every POST with one fixed body, in a process of
    its own (as Prometheus is: its writing does not share this process's GIL)."""

    def __init__(self, body: bytes) -> None:
        self._port = multiprocessing.Value("i", 0)
        self._process = multiprocessing.Process(target=_serve, args=(body, self._port),
                                                daemon=True)
        self._process.start()
        deadline = time.monotonic() + 30
        while not self._port.value and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child says which port it listens on
        self.url = f"http://127.0.0.1:{self._port.value}"

    def close(self) -> None:
        self._process.terminate()
        self._process.join(5)


def measure(series: int = 10_000, repeat: int = 5, range_points: int = 0) -> dict[str, float]:
    """Samples per second of each stage (see the module docstring), and the body size."""
    out: dict[str, float] = {}
    body = instant_body(series)
    out["instant_body_mb"] = len(body) / 1e6
    server = _Answering(body)
    parameters = {"url": server.url, "max_series": max(series, 1),
                  "queries": {"load": {"query": "node_load1", "unit": "1"}}}
    collector = PrometheusCollector(parameters)
    try:
        answer = read_instant(200, body, max_series=series)
        parse = median_seconds(lambda: read_instant(200, body, max_series=series), repeat)
        cold = median_seconds(lambda: PrometheusCollector(parameters).batch_of(
            {"load": answer}), repeat)
        collector.batch_of({"load": answer})
        warm = median_seconds(lambda: collector.batch_of({"load": answer}), repeat)
        batch = collector.batch_of({"load": answer})
        assert len(batch) == series, batch
        poll = median_seconds(lambda: collector.collect(T0), repeat)
        session = requests.Session()
        exchange = median_seconds(lambda: session.post(
            f"{server.url}/api/v1/query", data={"query": "node_load1"}).content, repeat)
        session.close()
    finally:
        collector.close()
        server.close()
    out.update({"instant_parse_samples_per_s": series / parse,
                "instant_map_cold_samples_per_s": series / cold,
                "instant_map_samples_per_s": series / warm,
                "instant_poll_samples_per_s": series / poll,
                "instant_poll_ms": poll * 1e3,
                "instant_parse_ms": parse * 1e3,
                "instant_map_ms": warm * 1e3,
                "instant_http_ms": exchange * 1e3})
    if range_points:
        body = range_body(series, range_points)
        out["range_body_mb"] = len(body) / 1e6
        collector = PrometheusCollector({
            "url": "http://127.0.0.1:9", "max_series": max(series, 1),
            "queries": {"load": {"query": "node_load1", "unit": "1",
                                 "range": {"window": 15 * range_points, "step": 15}}}})
        answer = read_range(200, body, max_series=series)
        n = series * range_points
        parse = median_seconds(lambda: read_range(200, body, max_series=series), repeat)
        collector.batch_of({"load": answer})
        warm = median_seconds(lambda: collector.batch_of({"load": answer}), repeat)
        assert len(collector.batch_of({"load": answer})) == n
        collector.close()
        out.update({"range_parse_samples_per_s": n / parse,
                    "range_map_samples_per_s": n / warm})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--range-points", type=int, default=0)
    args = parser.parse_args()
    progress(f"prometheus collector: {args.series} series"
             + (f", ranges of {args.range_points} points" if args.range_points else ""))
    for name, value in measure(args.series, args.repeat, args.range_points).items():
        result(f"prometheus_{name}", value, "{:.1f}" if "per_s" in name else "{:.3f}")


if __name__ == "__main__":
    main()
