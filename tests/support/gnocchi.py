"""The real Gnocchi on 127.0.0.1:8041 for the tests, and what tests do to it.

``server()`` makes Gnocchi answer (``tools/ensure-gnocchi.sh`` installs it in a
venv of its own and starts its API and metricd) and returns a
:class:`GnocchiAdmin` talking to it as the basic-auth user ``admin``; when the
script cannot start Gnocchi, the test is skipped with the script's reason.
``HEAT_ALARMING_TEST_GNOCCHI_URL`` points the tests at another Gnocchi (basic
auth) that is already running.

:class:`GnocchiAdmin` makes what a test needs: an archive policy of 60-second
points, a resource type shaped like Ceilometer's ``instance`` (``server_group``,
``flavor_id``, ``display_name``...), resources with metrics, measures; and
:meth:`GnocchiAdmin.wait_for_points` polls the API until metricd has committed
the aggregates a test expects (never a sleep).  :class:`KeystoneGnocchi` starts a
second API in ``auth_mode = keystone`` on the same data, against the real keystone
of tests/support/keystone.py; :class:`CraftedGnocchi` is a stand-in for the broken
and hostile answers the real Gnocchi never sends.
"""
from __future__ import annotations

import datetime as dt
import os
import pathlib
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
GNOCCHI_URL = os.environ.get("HEAT_ALARMING_TEST_GNOCCHI_URL", "http://127.0.0.1:8041")
#: the basic-auth user name (Gnocchi's basic mode takes it as given; admin reads all)
GNOCCHI_USER = "admin"
#: the archive policy the tests' metrics use: 60-second points for a day
ARCHIVE_POLICY = "ha-test-60s"
GRANULARITY = 60.0
AGGREGATIONS = ("mean", "max", "min", "sum", "count", "last")
#: the shared resource type of the tests, shaped like Ceilometer's ``instance``
INSTANCE_TYPE = "ha_test_instance"
#: Ceilometer's gnocchi_resources.yaml ``instance`` attributes (a subset), as the
#: resource types the tests create have them
INSTANCE_ATTRIBUTES = {
    "server_group": {"type": "string", "required": False},
    "flavor_id": {"type": "string", "required": False},
    "display_name": {"type": "string", "required": False},
    "host": {"type": "string", "required": False},
}


def answers(url: str = GNOCCHI_URL) -> bool:
    try:
        return requests.get(f"{url}/v1/status", auth=(GNOCCHI_USER, ""),
                            timeout=5).status_code == 200
    except requests.RequestException:
        return False


def ensure_server() -> str | None:
    """None once Gnocchi answers at :data:`GNOCCHI_URL`, else why it cannot."""
    if answers():
        return None
    if "HEAT_ALARMING_TEST_GNOCCHI_URL" in os.environ:
        return f"no Gnocchi answers at {GNOCCHI_URL} (HEAT_ALARMING_TEST_GNOCCHI_URL)"
    run = subprocess.run(["bash", str(ROOT / "tools" / "ensure-gnocchi.sh")],
                         capture_output=True, text=True, timeout=900)
    if run.returncode != 0 or not answers():
        lines = (run.stderr or run.stdout).strip().splitlines()
        return "tools/ensure-gnocchi.sh could not start Gnocchi: " + (
            lines[-1] if lines else f"exit {run.returncode}")
    return None


def server() -> GnocchiAdmin:
    """A client of the running Gnocchi (started if needed); skips the test WITH the
    reason when Gnocchi cannot run here."""
    reason = ensure_server()
    if reason:
        pytest.skip(reason)
    admin = GnocchiAdmin(GNOCCHI_URL, GNOCCHI_USER)
    admin.ensure_archive_policy()
    return admin


def gnocchi_home() -> pathlib.Path:
    """Where tools/ensure-gnocchi.sh keeps Gnocchi (its venv, configuration, data)."""
    if "HEAT_ALARMING_GNOCCHI_HOME" in os.environ:
        return pathlib.Path(os.environ["HEAT_ALARMING_GNOCCHI_HOME"])
    if os.getuid() == 0:
        return pathlib.Path("/var/lib/heat-alarming/gnocchi")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(cache) / "heat-alarming" / "gnocchi"


class KeystoneGnocchi:
    """A second Gnocchi API, ``auth_mode = keystone`` against ``keystone_url`` (a
    ``.../v3`` of tests/support/keystone.py), on the same indexer and storage as the
    running one (so it serves the same resources and measures), on a free loopback
    port. Needs the script's Gnocchi (with keystonemiddleware) to be installed."""

    def __init__(self, keystone_url: str, admin_password: str, directory: str,
                 timeout: float = 60.0) -> None:
        import configparser

        from tests.support.http_servers import free_port

        home = gnocchi_home()
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(home / "gnocchi.conf")
        conf["api"]["auth_mode"] = "keystone"
        conf["keystone_authtoken"] = {
            "www_authenticate_uri": keystone_url, "auth_url": keystone_url,
            "auth_type": "password", "username": "admin", "password": admin_password,
            "project_name": "admin", "user_domain_id": "default",
            "project_domain_id": "default", "interface": "public"}
        path = os.path.join(directory, "gnocchi-keystone.conf")
        # keystonemiddleware reads its options from the files of an oslo.config of
        # its own: Gnocchi's paste file, told which file that is
        paste = next((home / "venv" / "lib").glob(
            "python3*/site-packages/gnocchi/rest/api-paste.ini")).read_text()
        paste = paste.replace("oslo_config_project = gnocchi\n",
                              f"oslo_config_project = gnocchi\noslo_config_file = {path}\n")
        paste_path = os.path.join(directory, "gnocchi-keystone-paste.ini")
        with open(paste_path, "w") as handle:
            handle.write(paste)
        conf["api"]["paste_config"] = paste_path
        with open(path, "w") as handle:
            conf.write(handle)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(os.path.join(directory, "gnocchi-keystone-api.log"), "ab")
        self.process = subprocess.Popen(
            [str(home / "venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "2", "--chdir", str(home),
             "gnocchi_wsgi:application"],
            env={**os.environ, "GNOCCHI_CONFIG_FILE": path},
            stdout=self._log, stderr=self._log)
        end = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/", timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > end:
                self.close()
                raise RuntimeError(f"the keystone-mode Gnocchi API did not answer; see "
                                   f"{directory}/gnocchi-keystone-api.log")
            time.sleep(0.2)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class GnocchiError(AssertionError):
    """Gnocchi refused what a test asked of it."""


class GnocchiAdmin:
    """What the tests do to Gnocchi, over its v1 API, as one basic-auth user."""

    def __init__(self, url: str = GNOCCHI_URL, user: str = GNOCCHI_USER) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self.http = requests.Session()
        self.http.auth = (user, "")
        self.http.headers["Accept"] = "application/json"

    def request(self, method: str, path: str, body: Any = None,
                expect: Iterable[int] = (200, 201, 202, 204)) -> Any:
        answer = self.http.request(method, f"{self.url}/v1/{path.lstrip('/')}",
                                   json=body, timeout=30)
        if answer.status_code not in tuple(expect):
            raise GnocchiError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    # -- what the tests' metrics and resources are made of -----------------------------
    def ensure_archive_policy(self, name: str = ARCHIVE_POLICY,
                              granularity: float = GRANULARITY,
                              aggregations: Iterable[str] = AGGREGATIONS) -> str:
        """An archive policy of ``granularity``-second points for a day (made once)."""
        body = {"name": name, "back_window": 0, "aggregation_methods": list(aggregations),
                "definition": [{"granularity": f"{granularity:g}s",
                                "timespan": "1 day"}]}
        self.request("POST", "archive_policy", body, expect=(201, 409))
        return name

    def ensure_resource_type(self, name: str = INSTANCE_TYPE,
                             attributes: Mapping[str, Any] | None = None) -> str:
        """The resource type ``name`` with ``attributes`` (by default
        :data:`INSTANCE_ATTRIBUTES`), made if missing. Tests share it and keep apart
        by their own attribute values (a unique ``server_group``)."""
        self.request("POST", "resource_type",
                     {"name": name, "attributes": dict(attributes or INSTANCE_ATTRIBUTES)},
                     expect=(201, 409))
        return name

    def create_resource_type(self, attributes: Mapping[str, Any] | None = None,
                             prefix: str = "ha_test_type") -> str:
        """A new resource type of a unique name (for a test that needs a type of its
        own). Gnocchi keeps a type that ever had resources, so use it sparingly."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.request("POST", "resource_type",
                     {"name": name, "attributes": dict(attributes or INSTANCE_ATTRIBUTES)})
        return name

    def delete_resources(self, resource_type: str, query: Mapping[str, Any]) -> int:
        """Delete the resources of ``resource_type`` that ``query`` matches; how many."""
        return self.request("DELETE", f"resource/{resource_type}", dict(query))["deleted"]

    def create_resource(self, resource_type: str, *, metrics: Mapping[str, str | None],
                        resource_id: str | None = None, project_id: str | None = None,
                        user_id: str | None = None, archive_policy: str = ARCHIVE_POLICY,
                        **attributes: Any) -> dict:
        """A new resource of ``resource_type`` with ``attributes`` and one metric per
        ``metrics`` name (value: its unit or None); Gnocchi's answer (``metrics`` maps
        each name to the metric's id)."""
        body: dict[str, Any] = {
            "id": resource_id or str(uuid.uuid4()),
            "metrics": {name: {"archive_policy_name": archive_policy,
                               **({"unit": unit} if unit is not None else {})}
                        for name, unit in metrics.items()},
            **attributes}
        if project_id is not None:
            body["project_id"] = project_id
        if user_id is not None:
            body["user_id"] = user_id
        return self.request("POST", f"resource/{resource_type}", body)

    def update_resource(self, resource_type: str, resource_id: str, **attributes: Any) -> dict:
        return self.request("PATCH", f"resource/{resource_type}/{resource_id}", attributes)

    def post_measures(self, metric_id: str, points: Iterable[tuple[float, float]]) -> None:
        """Raw measures (epoch seconds, value) of one metric."""
        self.request("POST", f"metric/{metric_id}/measures",
                     [{"timestamp": _iso(ts), "value": value} for ts, value in points])

    def post_batch(self, measures: Mapping[str, Iterable[tuple[float, float]]]) -> None:
        """Raw measures of many metrics at once: {metric id: [(epoch, value)...]}."""
        self.request("POST", "batch/metrics/measures",
                     {metric: [{"timestamp": _iso(ts), "value": value} for ts, value in pts]
                      for metric, pts in measures.items()})

    # -- the committed fact ----------------------------------------------------------
    def points(self, metric_id: str, aggregation: str = "mean",
               granularity: float = GRANULARITY) -> dict[float, float]:
        """The aggregates metricd has committed: {period start (epoch): value}."""
        rows = self.request("GET", f"metric/{metric_id}/measures?aggregation={aggregation}"
                                   f"&granularity={granularity:g}&refresh=false")
        return {_epoch(ts): value for ts, _, value in rows}

    def wait_for_points(self, metric_id: str, expected: Mapping[float, float],
                        aggregation: str = "mean", granularity: float = GRANULARITY,
                        deadline: float = 60.0) -> dict[float, float]:
        """Poll until metricd has committed ``expected`` ({period start: value}) for the
        metric; its committed points then. Raises AssertionError at ``deadline``."""
        end = time.monotonic() + deadline
        while True:
            got = self.points(metric_id, aggregation, granularity)
            if all(ts in got and abs(got[ts] - value) <= 1e-9 * max(1.0, abs(value))
                   for ts, value in expected.items()):
                return got
            if time.monotonic() > end:
                raise AssertionError(f"metricd did not commit {dict(expected)} for "
                                     f"{metric_id} in {deadline:g} s (last: {got})")
            time.sleep(0.1)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


class CraftedGnocchi:
    """A loopback HTTP server answering as a broken or hostile Gnocchi would.

    The real Gnocchi never sends a huge, ill-formed or slow answer, so the tests of
    what the collector does with one need this stand-in. ``answers`` maps a path
    prefix (``/v1/search/resource/``, ``/v1/aggregates``) to (status, body bytes), or
    to a callable of the request body giving them; every answer waits ``delay``
    seconds first, and with ``trickle`` its body is sent one byte every ``trickle``
    seconds. ``paths`` records what was asked.
    """

    def __init__(self, answers: Mapping[str, Any], delay: float = 0.0,
                 trickle: float = 0.0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.paths: list[str] = []
        self._closed = threading.Event()
        crafted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = self.rfile.read(length) if length else b""
                crafted.paths.append(self.path)
                time.sleep(delay)
                status, body = next(
                    ((answer, None) if callable(answer) else answer
                     for prefix, answer in answers.items()
                     if self.path.startswith(prefix)),
                    (404, b'{"code": 404, "description": "no such path"}'))
                if callable(status):
                    status, body = status(request)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if not trickle:
                        self.wfile.write(body)
                    for i in range(len(body) if trickle else 0):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        if crafted._closed.wait(trickle):
                            return
                except OSError:  # the collector gave up first
                    pass

            do_GET = do_POST = _answer  # noqa: N815 - the http.server API

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
