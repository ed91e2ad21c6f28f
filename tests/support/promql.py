"""Helpers for PromQL alarms: a hostile proxy in front of the real Prometheus, and rounds.

``HostileProxy`` is a loopback HTTP server that forwards every request to the
real test Prometheus, except those whose PromQL query contains a text it was
told to hold (it answers them only when its gate opens, or never) or to fail
(it answers them with an HTTP 500). It stands in for what cannot be made of a
real Prometheus on demand: one project's queries hanging or failing while the
others' are answered.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.http_servers import free_port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostileProxy:
    """Forwards to ``upstream``; holds queries containing any of ``hold``, fails those
    containing any of ``fail``. ``queries`` records every query that arrived."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold: set[str] = set()
        self.fail: set[str] = set()
        self.gate = threading.Event()
        self.queries: list[str] = []
        self.held = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _query(self, body: bytes) -> str:
                url = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(url.query)
                params.update(urllib.parse.parse_qs(body.decode()))
                return (params.get("query") or [""])[0]

            def _handle(self, body: bytes) -> None:
                query = self._query(body)
                proxy.queries.append(query)
                if any(text in query for text in proxy.hold):
                    proxy.held += 1
                    proxy.gate.wait(60)
                if any(text in query for text in proxy.fail):
                    data = b'{"status":"error","errorType":"internal","error":"proxy fails"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                request = urllib.request.Request(proxy.upstream + self.path,
                                                 data=body or None, method=self.command)
                if body:
                    request.add_header("Content-Type", self.headers.get("Content-Type"))
                with urllib.request.urlopen(request, timeout=30) as answer:
                    data = answer.read()
                    status = answer.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - the http.server API
                self._handle(b"")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(length))

        self.port = free_port()
        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def decide(evaluator, source, now: float | None = None, timeout: float = 10.0):
    """A full round (which queues the PromQL queries), the answers, and a round deciding
    them; returns the second round's transitions."""
    evaluator.evaluate(now)
    source.wait_idle(timeout)
    return evaluator.evaluate(now, periods=())


class Exporter:
    """A prometheus-client exporter on loopback with one gauge, scraped by the test
    Prometheus once :meth:`register` has listed it in Prometheus's file_sd targets."""

    def __init__(self, metric: str, labels=("project", "server_group", "member")) -> None:
        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.metric = metric
        self.registry = CollectorRegistry()
        self.gauge = Gauge(metric, "a test load", list(labels), registry=self.registry)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1",
                                                     registry=self.registry)
        self.target = f"127.0.0.1:{self.port}"

    def set(self, value: float, **labels) -> None:
        self.gauge.labels(**labels).set(value)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- until the prometheus branch's tests/support/prometheus.py is merged -----------------
PROMETHEUS_DIR = os.environ.get("HEAT_ALARMING_PROMETHEUS_DIR", "/tmp/heat-alarming-prometheus")
PROMETHEUS_URL = f"http://127.0.0.1:{os.environ.get('HEAT_ALARMING_PROMETHEUS_PORT', '9090')}"


def register(exporter: Exporter) -> None:
    """List ``exporter`` in the test Prometheus's file_sd targets (job "test")."""
    path = os.path.join(PROMETHEUS_DIR, "targets", f"promql-{exporter.port}.json")
    with open(path + ".tmp", "w") as handle:
        json.dump([{"targets": [exporter.target]}], handle)
    os.replace(path + ".tmp", path)


def unregister(exporter: Exporter) -> None:
    path = os.path.join(PROMETHEUS_DIR, "targets", f"promql-{exporter.port}.json")
    if os.path.exists(path):
        os.unlink(path)


def wait_scraped(client, query: str, expected: float, timeout: float = 30.0) -> None:
    """Wait until the test Prometheus answers ``query`` with ``expected`` (it scrapes
    every second): the fact the test goes on from."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = [s.value for s in client.query(query)]
        if seen and all(v == expected for v in seen):
            return
        time.sleep(0.2)
    raise TimeoutError(f"Prometheus answered {query} with {seen}, not {expected}, "
                       f"for {timeout} s")
