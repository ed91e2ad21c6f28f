"""Real HTTP servers on 127.0.0.1 for tests: a recording webhook and a stub keystone."""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from heat_alarming.engine.notifiers import NotifierManager, NotifierSettings
from heat_alarming.engine.notifiers.destinations import DestinationPolicy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(n: int) -> int:
    """A port p with p .. p + n - 1 all free on 127.0.0.1 now (for servers numbered
    from a base port, as heat-engine's workers are)."""
    for _ in range(50):
        base = free_port()
        if base + n - 1 > 65535:
            continue
        try:
            for port in range(base, base + n):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError(f"no {n} consecutive free ports on 127.0.0.1")


def loopback_notifiers(**settings) -> NotifierManager:
    """Notifiers whose destination policy lets webhooks reach this host, where every
    server of this module listens (the default policy refuses loopback)."""
    return NotifierManager(NotifierSettings(policy=DestinationPolicy(allow_loopback=True),
                                            **settings))


def send_json(handler: BaseHTTPRequestHandler, status: int, body, headers=None) -> None:
    """Answer ``handler``'s request with ``body`` as JSON (and ``headers``)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Webhook:
    """Records every POST (with ``at``, the time.time() it arrived); answers with the
    next status of ``statuses`` (then 200).

    ``delay`` seconds pass before each answer; ``gate`` (an Event), when
    set, holds every answer until it is set.  ``headers`` are sent with every
    answer (e.g. a ``Location``); ``host`` is the loopback address listened on.
    """

    def __init__(self, port: int | None = None, statuses=(), delay: float = 0.0,
                 tls_context: ssl.SSLContext | None = None, expect_token: str | None = None,
                 headers: dict | None = None, host: str = "127.0.0.1"):
        self.requests: list[dict] = []
        self.headers = dict(headers or {})
        self.statuses = list(statuses)
        self.delay = delay
        self.gate: threading.Event | None = None
        self.expect_token = expect_token
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                hook.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "at": time.time(),
                                      "body": json.loads(body or b"null")})
                if hook.gate is not None:
                    hook.gate.wait(30)
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.statuses.pop(0) if hook.statuses else 200
                if hook.expect_token and self.headers.get("X-Auth-Token") != hook.expect_token:
                    status = 401
                self.send_response(status)
                for key, value in hook.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _Server((host, port or 0), Handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if tls_context else "http"
        self.url = f"{scheme}://{host}:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


class TricklingWebhook:
    """A receiver that reads the POST, then answers ``200`` one byte every ``interval``
    seconds (about 50 bytes): each read of the caller gets a byte well within any
    per-read timeout.  ``arrived_at`` records time.time() when each request arrived,
    ``gone_at`` when the caller hung up before the end of the answer."""

    def __init__(self, interval: float = 0.5, host: str = "127.0.0.1"):
        self.arrived_at: list[float] = []
        self.gone_at: list[float] = []
        self.interval = interval
        self._closed = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.arrived_at.append(time.time())
                answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                          b"X-Slow: trickle\r\n\r\n")
                try:
                    for i in range(len(answer)):
                        if hook._closed.wait(hook.interval):
                            return
                        self.wfile.write(answer[i:i + 1])
                        self.wfile.flush()
                except OSError:
                    hook.gone_at.append(time.time())

            def log_message(self, *args):
                pass

        self.server = _Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()


class _StubKeystone:
    """A keystone stand-in on 127.0.0.1 serving ``Handler`` at ``url`` (``.../v3``)."""

    def _serve(self, handler) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SlowStubKeystone(_StubKeystone):
    """A keystone that answers what a trust action asks (a service token, the trust
    look-up, a trust-scoped token) correctly, each answer ``delay`` seconds late."""

    def __init__(self, delay: float, trust: dict):
        self.calls: list[tuple[str, str, float]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict, headers: dict | None = None):
                time.sleep(delay)
                send_json(self, status, body, headers)

            def do_GET(self):  # noqa: N802
                stub.calls.append(("GET", self.path, time.time()))
                if self.path.startswith("/v3/OS-TRUST/trusts/"):
                    self._answer(200, {"trust": trust})
                else:
                    self._answer(404, {})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.calls.append(("POST", self.path, time.time()))
                scope = (body.get("auth") or {}).get("scope") or {}
                trust_id = (scope.get("OS-TRUST:trust") or {}).get("id")
                token = {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                         "issued_at": "2026-01-01T00:00:00.000000Z",
                         "user": {"id": trust["trustee_user_id"], "name": "svc",
                                  "domain": {"id": "default", "name": "Default"}},
                         "catalog": []}
                if trust_id:
                    token["OS-TRUST:trust"] = {
                        "id": trust_id, "impersonation": False,
                        "trustee_user": {"id": trust["trustee_user_id"]},
                        "trustor_user": {"id": trust["trustor_user_id"]}}
                self._answer(201, {"token": token},
                             {"X-Subject-Token": f"token-{len(stub.calls)}"})

            def log_message(self, *args):
                pass

        self._serve(Handler)


class StubKeystone(_StubKeystone):
    """Answers keystone v3 password authentication scoped to a trust, and checks it."""

    def __init__(self, username: str, password: str, domain: str = "Default"):
        self.seen: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.seen.append(body)
                auth = body.get("auth", {})
                user = auth.get("identity", {}).get("password", {}).get("user", {})
                trust = auth.get("scope", {}).get("OS-TRUST:trust", {}).get("id")
                ok = (self.path == "/v3/auth/tokens"
                      and auth.get("identity", {}).get("methods") == ["password"]
                      and user.get("name") == username and user.get("password") == password
                      and user.get("domain", {}).get("name") == domain and trust)
                if not ok:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = {"token": {
                    "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                    "issued_at": "2026-01-01T00:00:00.000000Z",
                    "user": {"id": "svc-id", "name": username,
                             "domain": {"id": "default", "name": domain}},
                    "OS-TRUST:trust": {"id": trust, "impersonation": False,
                                       "trustee_user": {"id": "svc-id"},
                                       "trustor_user": {"id": "owner"}},
                    "catalog": []}}
                send_json(self, 201, token, {"X-Subject-Token": f"token-for-{trust}"})

            def log_message(self, *args):
                pass

        self._serve(Handler)
