"""Helpers for PromQL alarms: a hostile proxy in front of the real Prometheus, and rounds.

``HostileProxy`` is a loopback HTTP server that forwards every request to the
real test Prometheus, except those whose PromQL query contains a text it was
told to hold (it answers them only when its gate opens, or never) or to fail
(it answers them with an HTTP 500). It stands in for what cannot be made of a
real Prometheus on demand: one project's queries hanging or failing while the
others' are answered.
"""
from __future__ import annotations

import threading
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

