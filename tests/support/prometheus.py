"""A real Prometheus and node exporter for the tests, and exporters a test runs itself.

``ensure_prometheus()`` runs ``tools/ensure-prometheus.sh`` (which starts Debian's
prometheus and prometheus-node-exporter on loopback, installing them if missing)
and returns a :class:`PrometheusServer`; when they cannot be installed or started
the test is skipped with the script's reason.  The server scrapes every second,
and the files of its ``targets/`` directory are its ``file_sd_configs``: a test
starts an :class:`Exporter` (prometheus-client, in this process, on a free
loopback port), registers it with :meth:`PrometheusServer.add_target`, sets a
gauge and waits with :meth:`PrometheusServer.wait_for` until Prometheus answers
the series with the value set: the committed fact, polled through the API.

``HEAT_ALARMING_PROMETHEUS_PORT``, ``HEAT_ALARMING_NODE_EXPORTER_PORT`` and
``HEAT_ALARMING_PROMETHEUS_DIR`` move the servers, as they move the script's.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from heat_alarming.metering.collectors.prometheus import PrometheusClient, PromSeries
from heat_alarming.metering.pipeline.base import CollectError

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "ensure-prometheus.sh"
PORT = int(os.environ.get("HEAT_ALARMING_PROMETHEUS_PORT", "9090"))
NODE_EXPORTER_PORT = int(os.environ.get("HEAT_ALARMING_NODE_EXPORTER_PORT", "9100"))
DIRECTORY = pathlib.Path(os.environ.get("HEAT_ALARMING_PROMETHEUS_DIR",
                                        "/tmp/heat-alarming-prometheus"))
#: how long a test waits for a scrape to show (the server scrapes every second)
SCRAPE_WAIT = 30.0


class PrometheusServer:
    """The running server: its URL, the node exporter's instance, its targets."""

    def __init__(self, url: str, node_instance: str, targets: pathlib.Path) -> None:
        self.url = url
        self.node_instance = node_instance
        self.targets = targets

    def client(self, **options) -> PrometheusClient:
        return PrometheusClient(self.url, **options)

    def add_target(self, address: str, labels: dict[str, str]) -> Target:
        """Have the server scrape ``address`` (``host:port``) with ``labels`` added
        to its series, from its next read of the targets directory."""
        path = self.targets / f"{uuid.uuid4().hex}.json"
        temporary = path.with_suffix(".tmp")  # the server reads *.json only
        temporary.write_text(json.dumps([{"targets": [address], "labels": labels}]))
        temporary.replace(path)
        return Target(path)

    def wait_for(self, promql: str, expected: float | Callable[[list[PromSeries]], bool],
                 *, timeout: float = SCRAPE_WAIT) -> list[PromSeries]:
        """The answer to ``promql`` once it holds a series whose value is ``expected``
        (or once ``expected(answer)`` is true); AssertionError with the last answer
        when ``timeout`` seconds pass first."""
        if callable(expected):
            done = expected
        else:
            def done(answer: list[PromSeries]) -> bool:
                return any(s.value == expected or (math.isnan(expected) and
                                                   math.isnan(s.value)) for s in answer)
        client = self.client(timeout=5.0)
        deadline = time.monotonic() + timeout
        answer: list[PromSeries] | str = []
        try:
            while True:
                try:
                    answer = client.query(promql)
                    if done(answer):
                        return answer
                except CollectError as exc:
                    answer = str(exc)
                if time.monotonic() > deadline:
                    raise AssertionError(f"Prometheus did not answer {promql!r} with "
                                         f"{expected!r} within {timeout:g} s; last answer: "
                                         f"{answer!r}")
                time.sleep(0.2)  # between polls of the fact, never instead of it
        finally:
            client.close()


class Target:
    """A scrape target file; :meth:`remove` stops the scraping."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Exporter:
    """A prometheus-client exporter of this process on a free 127.0.0.1 port, with
    its own registry; ``id`` is a label that tells its series from any other's."""

    def __init__(self) -> None:
        prometheus_client = pytest.importorskip(
            "prometheus_client", reason="the test extra's prometheus-client is not installed")
        self._client = prometheus_client
        self.registry = prometheus_client.CollectorRegistry()
        self._server, self._thread = prometheus_client.start_http_server(
            0, addr="127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{self._server.server_port}"
        self.id = uuid.uuid4().hex[:12]

    def gauge(self, name: str, documentation: str = "a test gauge",
              labels: Iterable[str] = ()):
        """A prometheus-client Gauge in this exporter's registry."""
        return self._client.Gauge(name, documentation, list(labels), registry=self.registry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def ensure_prometheus() -> PrometheusServer:
    """The running server (started or installed by the project's script), or a skip
    that says why it cannot run here."""
    try:
        done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Prometheus cannot be started here: {exc}")
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()[-60:]) or f"exit status {done.returncode}"
        pytest.skip(f"Prometheus cannot be started here ({SCRIPT.name}): {reason}")
    return PrometheusServer(f"http://127.0.0.1:{PORT}", f"127.0.0.1:{NODE_EXPORTER_PORT}",
                            DIRECTORY / "targets")


def scraped_exporter(server: PrometheusServer) -> tuple[Exporter, Target]:
    """A new exporter that the server scrapes (its ``up`` is 1), and its target."""
    exporter = Exporter()
    target = server.add_target(exporter.address, {"exporter": exporter.id})
    try:
        server.wait_for(f'up{{exporter="{exporter.id}"}}', 1.0)
    except BaseException:
        target.remove()
        exporter.close()
        raise
    return exporter, target


class StandIn:
    """A stand-in for answers no real Prometheus gives (ill-formed, huge, slow): a
    loopback HTTP server answering every request with ``status`` and ``body`` (bytes,
    or an object sent as JSON), sent in ``pieces`` with ``pause`` seconds between
    them (the first after ``delay`` seconds), with its Content-Length unless
    ``declare_length`` is false.  The real
    server is used for everything it can answer."""

    def __init__(self, body, status: int = 200, *, pieces: int = 1, pause: float = 0.0,
                 headers: dict[str, str] | None = None, declare_length: bool = True,
                 delay: float = 0.0) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = dict(headers or {})
        self.requests: list[dict[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                stand_in.requests.append(dict(parse_qsl(self.rfile.read(length).decode())))
                if delay:
                    time.sleep(delay)  # a server slow to evaluate
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in extra.items():
                    self.send_header(key, value)
                if declare_length:  # (else the body ends when the connection closes)
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                size = -(-len(data) // pieces)
                try:
                    for start in range(0, len(data), size):
                        self.wfile.write(data[start:start + size])
                        self.wfile.flush()
                        if pause:
                            time.sleep(pause)
                except OSError:
                    pass  # the client hung up, as it should on a hostile answer

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
