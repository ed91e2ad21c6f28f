"""A real keystone for tests: the installed ``keystone`` package under gunicorn on 127.0.0.1.

As tools/devstack-lite.sh runs it, but on a SQLite database and fernet keys in
a temporary directory, bootstrapped with ``keystone-manage``.  In front of it
sits :class:`RecordingProxy`, a plain forwarding HTTP proxy that records each
request, so that a test can say which tokens were asked for (keystone keeps
no record of the fernet tokens it issues).

    keystone = Keystone(tmp_dir)          # about 30 s: keystone-manage is slow
    client = keystone.admin()             # a keystoneclient v3 Client as admin
    ...
    keystone.close()
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.http_servers import free_port

ADMIN_PASSWORD = "admin-secret"

_CONF = """\
[DEFAULT]
log_file = {dir}/keystone.log
[database]
connection = sqlite:///{dir}/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
"""

_WSGI = """\
import os
import sys

os.environ["OS_KEYSTONE_CONFIG_FILES"] = {conf!r}
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
"""


class RecordingProxy:
    """Forwards every request to ``target`` (host, port) and records it in ``seen``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.seen: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.seen.append({"method": self.command, "path": self.path,
                                   "body": json.loads(body) if body else None})
                upstream = http.client.HTTPConnection(*target, timeout=60)
                # the Host header goes on, so that the links keystone writes in its
                # version documents (which keystoneauth follows) lead back here
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() != "connection"}
                upstream.request(self.command, self.path, body or None, headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection",
                                           "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token_requests(self) -> list[dict]:
        """The bodies of the token requests (POST /v3/auth/tokens) seen so far."""
        return [r["body"] for r in self.seen
                if r["method"] == "POST" and r["path"].rstrip("/").endswith("/auth/tokens")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Keystone:
    """keystone on 127.0.0.1 with an ``admin`` user; :attr:`url` goes through the proxy."""

    def __init__(self, directory: str, timeout: float = 120.0) -> None:
        self.directory = directory
        bin_dir = os.path.dirname(sys.executable)
        conf = os.path.join(directory, "keystone.conf")
        for sub in ("fernet-keys", "credential-keys"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        with open(conf, "w") as handle:
            handle.write(_CONF.format(dir=directory))
        with open(os.path.join(directory, "keystone_wsgi.py"), "w") as handle:
            handle.write(_WSGI.format(conf=conf))
        self.port = free_port()
        self.direct_url = f"http://127.0.0.1:{self.port}/v3"
        manage = [os.path.join(bin_dir, "keystone-manage"), "--config-file", conf]
        owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        log = open(os.path.join(directory, "keystone-manage.log"), "ab")
        # the key setups do not touch the database: run them beside the schema's creation
        jobs = [subprocess.Popen(manage + args, stdout=log, stderr=log)
                for args in (["db_sync"], ["fernet_setup", *owner],
                             ["credential_setup", *owner])]
        if any(job.wait(timeout) for job in jobs):
            raise RuntimeError(f"keystone-manage failed; see {directory}/keystone-manage.log")
        subprocess.run(manage + [
            "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
            "--bootstrap-region-id", "RegionOne",
            "--bootstrap-public-url", self.direct_url], stdout=log, stderr=log,
            check=True, timeout=timeout)
        log.close()
        self._log = open(os.path.join(directory, "gunicorn.log"), "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "8", "--timeout", "120",
             "--no-control-socket", "--chdir", directory, "keystone_wsgi:application"],
            stdout=self._log, stderr=self._log)
        self._wait(timeout)
        self.proxy = RecordingProxy(("127.0.0.1", self.port))
        self.url = f"http://127.0.0.1:{self.proxy.port}/v3"

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.directory}/gunicorn.log")
            try:
                urllib.request.urlopen(self.direct_url, timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("keystone did not answer")

    def session(self, username: str, password: str, project_id: str | None = None,
                project_name: str | None = None):
        """A keystoneauth1 session of a user of the Default domain (direct, not proxied)."""
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        return session.Session(auth=v3.Password(
            auth_url=self.direct_url, username=username, password=password,
            user_domain_id="default", project_id=project_id, project_name=project_name,
            project_domain_id="default" if project_name else None))

    def admin(self):
        from keystoneclient.v3 import client
        return client.Client(session=self.session("admin", ADMIN_PASSWORD,
                                                  project_name="admin"))

    def close(self) -> None:
        self.proxy.close()
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
