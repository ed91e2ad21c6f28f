"""A real HTTP server on 127.0.0.1 that answers every POST with a chosen status and body.

:class:`AnsweringServer` reads each request whole (``requests`` keeps the bodies),
then answers ``status`` ``reason`` with ``body_size`` bytes of ``body`` repeated
(a huge body is written in chunks, as long as the caller reads); ``body_sent``
counts the answer bytes the caller took before it hung up, so a test can see that a
client read a bounded part of a huge answer.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class AnsweringServer:
    def __init__(self, status: int = 500, reason: str = "Internal Server Error",
                 body: bytes = b"the sink is down", body_size: int | None = None) -> None:
        self.requests: list[bytes] = []
        self.body_sent = 0
        self.hung_up = threading.Event()
        size = len(body) if body_size is None else body_size
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                server.requests.append(self.rfile.read(int(self.headers.get(
                    "Content-Length") or 0)))
                self.send_response(status, reason)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(size))
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = (body * (CHUNK // max(len(body), 1) + 1))[:CHUNK]
                left = size
                try:
                    while left > 0:
                        piece = chunk[:min(left, CHUNK)]
                        self.wfile.write(piece)
                        left -= len(piece)
                        server.body_sent += len(piece)
                    self.wfile.flush()
                except OSError:
                    server.hung_up.set()

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/samples"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
