"""Real Ceilometer agents for tests: ceilometer-polling against libvirt's test driver.

What runs, all as plain processes on loopback (no systemd, no libvirtd):

* ``ceilometer-polling --polling-namespaces compute`` (ceilometer 27.0.0 from
  PyPI, in a venv of its own, see :func:`ensure_installed`), its compute
  pollsters reading libvirt's *test* driver (``test:///<dir>/node.xml``, an
  in-process fake hypervisor that ships with libvirt0) whose domains carry Nova's
  libvirt metadata, discovered with ``instance_discovery_method =
  libvirt_metadata``;
* ``ceilometer-agent-notification`` turning the polling agent's
  ``telemetry.polling`` notifications into meter messages published with
  ``notifier://?topic=<topic>`` (event_type ``metering``, priority ``sample``,
  exchange ``ceilometer``), signed with ``telemetry_secret``;
* a Nova API stand-in (:class:`NovaStandIn`, a fake: Nova cannot run here) that
  answers ``GET /v2.1/servers/<uuid>`` with each instance's user metadata, so
  that ``[compute] fetch_extra_metadata = True`` puts ``metering.*`` keys into
  ``resource_metadata.user_metadata`` as Nova would; libvirt's metadata holds
  no user metadata.  Ceilometer caches a server's answer for the life of the
  polling process, so metadata written after the first poll is not seen.

The hop between the two agents uses a topic of its own per directory and only
the ``ceilometer`` exchange, so these agents never take Heat's or Nova's
notifications from anything else on the same RabbitMQ.

    agents = CeilometerAgents(tmp_dir, [Instance("srv-1", metadata={...})])
    probe = MeteringProbe(agents.transport_url, agents.topic)
    agents.start()
    probe.wait_for(lambda s: s["counter_name"] == "memory.usage", timeout=60)
    agents.stop(); probe.stop()

What libvirt 9.0's test driver yields (docs/ceilometer-polling-lite.md has the
list): ``cpu`` is always 0 (the driver's ``domainListGetStats`` gives only
``state.*``), ``vcpus`` never comes, memory meters are constant,
``disk.device.read/write.*`` never come (no ``virDomainBlockStatsFlags``), network
counters grow with the wall clock.  A meter that a test must move is a
:class:`FileMeter`: a dynamic pollster of the same agent reading a file that
:meth:`CeilometerAgents.set_file_meter` writes.

Command line (tools/ceilometer-polling-lite.sh wraps it)::

    python -m tests.support.ceilometer_agents install
    python -m tests.support.ceilometer_agents start DIR [--interval S] [--topic T]
                                                        [--file-meter NAME]
    python -m tests.support.ceilometer_agents set DIR NAME VALUE
    python -m tests.support.ceilometer_agents stop DIR
    python -m tests.support.ceilometer_agents probe [--topic T] [--seconds S]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

CEILOMETER_VERSION = "27.0.0"
DEFAULT_VENV = Path(os.environ.get(
    "HEAT_ALARMING_CEILOMETER_VENV",
    Path.home() / ".cache" / "heat-alarming" / f"ceilometer-{CEILOMETER_VERSION}-venv"))
DEFAULT_TRANSPORT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
DEFAULT_TOPIC = "metering"
DEFAULT_SECRET = "polling-lite-secret"
DEFAULT_INTERVAL = 10
#: Debian packages: libvirt0 carries the test driver, libvirt-dev and pkg-config
#: let pip build libvirt-python against it
DEBIAN_PACKAGES = ("libvirt0", "libvirt-dev", "libvirt-clients", "pkg-config", "gcc")
#: the compute meters asked for; see the module docstring for which ones come
COMPUTE_METERS = (
    "cpu", "vcpus", "memory", "memory.usage", "memory.available", "memory.resident",
    "memory.swap.in", "memory.swap.out", "power.state",
    "disk.device.read.bytes", "disk.device.read.requests",
    "disk.device.write.bytes", "disk.device.write.requests",
    "disk.device.capacity", "disk.device.allocation", "disk.device.usage",
    "network.incoming.bytes", "network.outgoing.bytes",
    "network.incoming.packets", "network.outgoing.packets",
    "network.incoming.bytes.delta", "network.outgoing.bytes.delta",
    "network.incoming.packets.drop", "network.incoming.packets.error",
)
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
_PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


def _log(message: str) -> None:
    print(f"ceilometer_agents: {message}", file=sys.stderr, flush=True)


def ensure_installed(venv: Path = DEFAULT_VENV) -> Path:
    """Install what is missing (Debian's libvirt, a venv with ceilometer); return the venv.

    Ceilometer gets a venv of its own: in Heat's venv it would pull boto3, whose
    botocore pins python-dateutil<3 and so downgrades it.
    """
    venv = Path(venv)
    have_libvirt = subprocess.run(["pkg-config", "--exists", "libvirt"],
                                  capture_output=True).returncode == 0 \
        if shutil.which("pkg-config") else False
    if not have_libvirt or not shutil.which("virsh"):
        _log("installing Debian packages " + " ".join(DEBIAN_PACKAGES))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                        *DEBIAN_PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import ceilometer.version, libvirt; "
         "print(ceilometer.version.version_info.version_string())"],
        capture_output=True, text=True) if python.exists() else None
    if probe is None or probe.returncode != 0 or probe.stdout.strip() != CEILOMETER_VERSION:
        _log(f"installing ceilometer=={CEILOMETER_VERSION} and libvirt-python into {venv}")
        if not python.exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        f"ceilometer=={CEILOMETER_VERSION}", "libvirt-python"],
                       check=True)
    return venv


@dataclasses.dataclass
class Instance:
    """One Nova server as the compute node's libvirt sees it.

    ``metadata`` is the server's user metadata (what Heat sets, for example
    ``{"metering.server_group": "<stack id>"}``); only the Nova stand-in serves it.
    """

    name: str
    uuid: str = dataclasses.field(default_factory=lambda: str(uuidlib.uuid4()))
    project_id: str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    user_id: str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    flavor_name: str = "m1.tiny"
    flavor_id: str = "1"
    vcpus: int = 1
    memory_mb: int = 512
    disk_gb: int = 1
    image_id: str = "cccccccc-dddd-eeee-ffff-000000000000"
    metadata: dict = dataclasses.field(default_factory=dict)

    def domain_xml(self, index: int) -> str:
        """The instance as a domain of libvirt's test driver, with Nova's metadata."""
        kib = self.memory_mb * 1024
        return f"""\
  <domain type="test">
    <name>instance-{index:08x}</name>
    <uuid>{escape(self.uuid)}</uuid>
    <metadata>
      <nova:instance xmlns:nova="{NOVA_NS}">
        <nova:package version="32.0.0"/>
        <nova:name>{escape(self.name)}</nova:name>
        <nova:flavor name={quoteattr(self.flavor_name)} id={quoteattr(self.flavor_id)}>
          <nova:memory>{int(self.memory_mb)}</nova:memory>
          <nova:disk>{int(self.disk_gb)}</nova:disk>
          <nova:swap>0</nova:swap>
          <nova:ephemeral>0</nova:ephemeral>
          <nova:vcpus>{int(self.vcpus)}</nova:vcpus>
        </nova:flavor>
        <nova:owner>
          <nova:user uuid={quoteattr(self.user_id)}>user</nova:user>
          <nova:project uuid={quoteattr(self.project_id)}>project</nova:project>
        </nova:owner>
        <nova:root type="image" uuid={quoteattr(self.image_id)}/>
      </nova:instance>
    </metadata>
    <memory unit="KiB">{kib}</memory>
    <currentMemory unit="KiB">{kib}</currentMemory>
    <vcpu>{int(self.vcpus)}</vcpu>
    <os><type arch="x86_64">hvm</type></os>
    <devices>
      <disk type="file" device="disk">
        <source file="/var/lib/nova/instances/{escape(self.uuid)}/disk"/>
        <target dev="vda" bus="virtio"/>
      </disk>
      <interface type="bridge">
        <mac address="fa:16:3e:00:{index >> 8 & 0xff:02x}:{index & 0xff:02x}"/>
        <source bridge="br-int"/>
        <target dev="tap{index:08x}"/>
      </interface>
      <memballoon model="virtio"/>
    </devices>
  </domain>
"""

    def nova_server(self) -> dict:
        """The instance as Nova's API shows it (the fields ceilometer reads)."""
        return {"id": self.uuid, "name": self.name, "metadata": dict(self.metadata),
                "tenant_id": self.project_id, "user_id": self.user_id,
                "flavor": {"id": self.flavor_id}, "status": "ACTIVE"}


def node_xml(instances) -> str:
    """A node file for libvirt's test driver (``test:///path``) holding ``instances``."""
    domains = "".join(inst.domain_xml(i + 1) for i, inst in enumerate(instances))
    return f"""<?xml version="1.0"?>
<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>
       <sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
{domains}</node>
"""


@dataclasses.dataclass(frozen=True)
class FileMeter:
    """A meter whose values a test sets: a ceilometer dynamic pollster reading a file.

    libvirt's test driver cannot be driven (its ``cpu`` stays 0), so a test that
    needs a meter to rise and fall declares one here; ceilometer-polling runs
    it as a ``host_command`` dynamic pollster (``cat`` of the file written by
    :meth:`CeilometerAgents.set_file_meter`) in the compute namespace, and its
    samples take the same path to the topic as the libvirt ones.
    """

    name: str
    unit: str = "%"
    type: str = "gauge"

    def definition(self, path: Path) -> str:
        return (f"- name: {json.dumps(self.name)}\n"
                f"  sample_type: {json.dumps(self.type)}\n"
                f"  unit: {json.dumps(self.unit)}\n"
                f"  value_attribute: \"value\"\n"
                f"  host_command: {json.dumps('cat ' + shlex.quote(str(path)))}\n"
                f"  namespaces: [\"compute\"]\n"
                f"  response_entries_key: \"samples\"\n"
                f"  metadata_fields: [\"display_name\", \"user_metadata\"]\n")


class NovaStandIn:
    """A fake of Nova's API on 127.0.0.1: ``GET /v2.1/servers/<uuid>`` from a JSON file.

    The file maps server ids to :meth:`Instance.nova_server` bodies and is read
    at each request; an unknown id gets Nova's 404.  Only what ceilometer's
    ``fetch_extra_metadata`` asks for is answered.
    """

    def __init__(self, servers_file: Path, port: int = 0) -> None:
        servers_file = Path(servers_file)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                parts = self.path.split("?")[0].strip("/").split("/")
                try:
                    servers = json.loads(servers_file.read_text())
                except (OSError, ValueError):
                    servers = {}
                if len(parts) == 3 and parts[:2] == ["v2.1", "servers"] \
                        and parts[2] in servers:
                    self._reply(200, {"server": servers[parts[2]]})
                else:
                    self._reply(404, {"itemNotFound": {"code": 404,
                                                       "message": "not found"}})

            def _reply(self, status, body):
                # this module also runs as a script (the stand-in's own process, which
                # has no tests package on its path), so it imports no other test helper
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v2.1"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_CONF = """\
[DEFAULT]
transport_url = {transport_url}
host = {host}
libvirt_uri = test://{node}
pipeline_cfg_file = {dir}/pipeline.yaml
pollsters_definitions_dirs = {dir}/pollsters.d
log_dir = {dir}/log
debug = {debug}

[compute]
instance_discovery_method = libvirt_metadata
fetch_extra_metadata = {fetch}

[polling]
cfg_file = {dir}/polling.yaml

[notification]
pipelines = meter
notification_control_exchanges = ceilometer
workers = 1

[oslo_messaging_notifications]
topics = {hop_topic}

[publisher]
telemetry_secret = {secret}

[service_credentials]
auth_type = none
endpoint = {nova_endpoint}
"""

_PIPELINE = """\
---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
sinks:
    - name: meter_sink
      publishers:
          - notifier://?topic={topic}
"""


class CeilometerAgents:
    """ceilometer-polling, ceilometer-agent-notification and the Nova stand-in in ``directory``.

    :meth:`write` lays out node.xml, servers.json, ceilometer.conf, polling.yaml
    and pipeline.yaml; :meth:`start` writes them and starts the three processes
    (each in a session of its own, pids in ``directory/pids.json``);
    :meth:`stop` ends exactly those.  Logs go to ``directory/log``.
    """

    def __init__(self, directory, instances, *, transport_url: str = DEFAULT_TRANSPORT_URL,
                 topic: str = DEFAULT_TOPIC, secret: str = DEFAULT_SECRET,
                 interval: int = DEFAULT_INTERVAL, meters=COMPUTE_METERS,
                 venv: Path = DEFAULT_VENV, host: str = "polling-lite",
                 debug: bool = False, file_meters=()) -> None:
        self.directory = Path(directory).resolve()
        self.instances = list(instances)
        self.transport_url = transport_url
        self.topic = topic
        self.secret = secret
        self.interval = int(interval)
        self.meters = tuple(meters)
        self.venv = Path(venv)
        self.host = host
        self.debug = debug
        self.file_meters = tuple(FileMeter(*m) if isinstance(m, tuple) else m
                                 for m in file_meters)
        self.hop_topic = "ceilometer-lite-" + uuidlib.uuid5(
            uuidlib.NAMESPACE_URL, str(self.directory)).hex[:12]
        self._procs: list[subprocess.Popen] = []

    @property
    def pids_file(self) -> Path:
        return self.directory / "pids.json"

    def write_servers(self) -> None:
        """(Re)write what the Nova stand-in serves from :attr:`instances`."""
        servers = {inst.uuid: inst.nova_server() for inst in self.instances}
        tmp = self.directory / "servers.json.tmp"
        tmp.write_text(json.dumps(servers, indent=1))
        tmp.replace(self.directory / "servers.json")

    def file_meter_path(self, name: str) -> Path:
        return self.directory / "file-meters" / f"{name}.json"

    def set_file_meter(self, name: str, rows) -> None:
        """What the next polls of file meter ``name`` report: one sample per row.

        A row names ``id`` (the resource, e.g. an instance's uuid), ``value``
        and optionally ``project_id``, ``user_id``, ``display_name`` and
        ``user_metadata`` (what Nova's ``metering.*`` keys become, e.g.
        ``{"server_group": "<stack id>"}``).  The file is replaced atomically.
        """
        full = [{"id": str(row["id"]), "value": row["value"],
                 "project_id": row.get("project_id"), "user_id": row.get("user_id"),
                 "display_name": row.get("display_name", ""),
                 "user_metadata": dict(row.get("user_metadata") or {})} for row in rows]
        path = self.file_meter_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"samples": full}))
        tmp.replace(path)

    def write(self, nova_endpoint: str = "http://127.0.0.1:9/v2.1") -> None:
        d = self.directory
        (d / "log").mkdir(parents=True, exist_ok=True)
        (d / "pollsters.d").mkdir(exist_ok=True)
        (d / "node.xml").write_text(node_xml(self.instances))
        self.write_servers()
        for meter in self.file_meters:
            if not self.file_meter_path(meter.name).exists():
                self.set_file_meter(meter.name, [])
        definitions = d / "pollsters.d" / "file-meters.yaml"
        if self.file_meters:
            definitions.write_text("---\n" + "".join(
                m.definition(self.file_meter_path(m.name)) for m in self.file_meters))
        else:
            definitions.unlink(missing_ok=True)
        meters = self.meters + tuple(m.name for m in self.file_meters)
        (d / "polling.yaml").write_text(
            "---\nsources:\n    - name: compute_pollsters\n"
            f"      interval: {self.interval}\n      meters:\n"
            + "".join(f"        - {m}\n" for m in meters))
        (d / "pipeline.yaml").write_text(_PIPELINE.format(topic=self.topic))
        (d / "ceilometer.conf").write_text(_CONF.format(
            transport_url=self.transport_url, host=self.host, node=d / "node.xml",
            dir=d, debug=str(self.debug).lower(), hop_topic=self.hop_topic,
            secret=self.secret, nova_endpoint=nova_endpoint,
            fetch=str(any(i.metadata for i in self.instances)).lower()))

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.directory / "log" / f"{name}.out", "ab")
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.directory,
                                    start_new_session=True)
        finally:
            out.close()
        self._procs.append(proc)
        return proc

    def start(self, ready_timeout: float = 30.0) -> None:
        """Start the stand-in, then agent-notification, then polling (first poll at once)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        port_file = self.directory / "nova.port"
        port_file.unlink(missing_ok=True)
        (self.directory / "log").mkdir(exist_ok=True)
        self.write_servers()
        self._spawn("nova-standin", [sys.executable, os.path.abspath(__file__),
                                     "nova-standin", str(self.directory)])
        deadline = time.monotonic() + ready_timeout
        while not port_file.exists():
            if time.monotonic() > deadline or self._procs[-1].poll() is not None:
                self.stop()
                raise RuntimeError("the Nova stand-in did not start; see "
                                   f"{self.directory}/log/nova-standin.out")
            time.sleep(0.05)
        try:
            self.write(f"http://127.0.0.1:{int(port_file.read_text())}/v2.1")
            conf = str(self.directory / "ceilometer.conf")
            bin_dir = self.venv / "bin"
            self._spawn("ceilometer-agent-notification",
                        [str(bin_dir / "ceilometer-agent-notification"), "--config-file", conf])
            self._spawn("ceilometer-polling",
                        [str(bin_dir / "ceilometer-polling"), "--config-file", conf,
                         "--polling-namespaces", "compute"])
        except BaseException:
            self.stop()
            raise
        self.pids_file.write_text(json.dumps({
            "pids": [p.pid for p in self._procs], "transport_url": self.transport_url,
            "topic": self.topic}))

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each process started here (pids.json if started elsewhere), then SIGKILL."""
        pids = [p.pid for p in self._procs]
        if not pids and self.pids_file.exists():  # started by another process
            started = json.loads(self.pids_file.read_text())
            pids = started["pids"]
            self.transport_url, self.topic = started["transport_url"], started["topic"]
        for pid in pids:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                _signal_group(pid, signal.SIGKILL)
        for proc in self._procs:
            proc.wait(timeout=5)
        self._procs = []
        self.pids_file.unlink(missing_ok=True)
        queues = [f"{self.hop_topic}.{p}" for p in _PRIORITIES]
        if self.topic != DEFAULT_TOPIC:
            queues.append(f"{self.topic}.sample")
        delete_queues(self.transport_url, queues)


def _signal_group(pid: int, sig: int) -> None:
    """Signal the session this module started with ``pid`` as its leader (workers included)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class MeteringProbe:
    """An oslo.messaging notification listener on ``topic`` (exchange ``ceilometer``).

    Keeps every sample that arrives in :attr:`samples` (dicts as published, plus
    ``_received`` epoch seconds, ``_event_type`` and ``_publisher_id``).  Its pool
    (``probe-<random>`` unless given) is a queue of its own, bound from the
    moment of construction, so it takes nothing from other consumers and sees
    no backlog; :meth:`stop` deletes that queue.
    """

    def __init__(self, transport_url: str = DEFAULT_TRANSPORT_URL,
                 topic: str = DEFAULT_TOPIC, pool: str | None = None) -> None:
        import oslo_messaging
        from oslo_config import cfg

        self.transport_url = transport_url
        self.pool = pool or "probe-" + uuidlib.uuid4().hex[:12]
        self.samples: list[dict] = []
        self._cond = threading.Condition()
        probe = self

        class Endpoint:
            def sample(self, ctxt, publisher_id, event_type, payload, metadata):
                now = time.time()
                rows = payload if isinstance(payload, list) else [payload]
                with probe._cond:
                    for row in rows:
                        if isinstance(row, dict):
                            probe.samples.append(dict(row, _received=now,
                                                      _event_type=event_type,
                                                      _publisher_id=publisher_id))
                    probe._cond.notify_all()

        conf = cfg.ConfigOpts()
        conf([], project="polling-lite-probe", default_config_files=[],
             default_config_dirs=[])
        self._transport = oslo_messaging.get_notification_transport(conf, url=transport_url)
        self._listener = oslo_messaging.get_notification_listener(
            self._transport, [oslo_messaging.Target(topic=topic, exchange="ceilometer")],
            [Endpoint()], executor="threading", pool=self.pool)
        self._listener.start()

    def wait_for(self, predicate, timeout: float) -> dict:
        """The first sample for which ``predicate`` holds, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for row in self.samples[seen:]:
                    if predicate(row):
                        return row
                seen = len(self.samples)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching sample in {timeout} s "
                                       f"({seen} samples seen)")
                self._cond.wait(left)

    def stop(self) -> None:
        self._listener.stop()
        self._listener.wait()
        self._transport.cleanup()
        delete_queues(self.transport_url, [self.pool])


def delete_queues(transport_url: str, names) -> None:
    """Delete RabbitMQ queues by name (missing ones are fine).

    oslo.messaging leaves notification queues behind: a listener's pool queue,
    and the ``<topic>.<priority>`` queue every notifier declares, which keeps
    filling while nothing consumes it.
    """
    import kombu

    with kombu.Connection(transport_url.replace("rabbit://", "amqp://", 1)) as conn:
        for name in names:
            channel = conn.channel()
            try:
                channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - a queue that is not there
                pass
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - closed by the broker's error
                    pass


def _summary(row: dict) -> str:
    meta = row.get("resource_metadata") or {}
    return json.dumps({
        "event_type": row.get("_event_type"), "publisher_id": row.get("_publisher_id"),
        "counter_name": row.get("counter_name"), "counter_type": row.get("counter_type"),
        "counter_unit": row.get("counter_unit"), "counter_volume": row.get("counter_volume"),
        "resource_id": row.get("resource_id"), "timestamp": row.get("timestamp"),
        "user_metadata": meta.get("user_metadata"),
        "lag_s": round(row["_received"] - _epoch(row.get("timestamp")), 3),
    })


def _epoch(text) -> float:
    import datetime as dt
    try:
        return dt.datetime.fromisoformat(str(text)).replace(
            tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.ceilometer_agents")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install")
    start = sub.add_parser("start")
    start.add_argument("directory")
    start.add_argument("--interval", type=int, default=DEFAULT_INTERVAL)
    start.add_argument("--topic", default=DEFAULT_TOPIC)
    start.add_argument("--transport-url", default=DEFAULT_TRANSPORT_URL)
    start.add_argument("--server-group", default="polling-lite-group",
                       help="metering.server_group of the two instances")
    start.add_argument("--file-meter", action="append", default=[],
                       help="a meter set with 'set' (a dynamic pollster), e.g. cpu_util")
    setter = sub.add_parser("set", help="the value a file meter reports for every server")
    setter.add_argument("directory")
    setter.add_argument("meter")
    setter.add_argument("value", type=float)
    stop = sub.add_parser("stop")
    stop.add_argument("directory")
    probe = sub.add_parser("probe")
    probe.add_argument("--topic", default=DEFAULT_TOPIC)
    probe.add_argument("--transport-url", default=DEFAULT_TRANSPORT_URL)
    probe.add_argument("--seconds", type=float, default=30.0)
    probe.add_argument("--raw", action="store_true", help="print whole samples")
    standin = sub.add_parser("nova-standin")
    standin.add_argument("directory")
    args = parser.parse_args(argv)

    if args.command == "install":
        print(ensure_installed())
    elif args.command == "start":
        ensure_installed()
        group = {"metering.server_group": args.server_group}
        agents = CeilometerAgents(args.directory, [
            Instance("polling-lite-1", metadata=dict(group, **{"metering.role": "web"})),
            Instance("polling-lite-2", metadata=group)],
            transport_url=args.transport_url, topic=args.topic, interval=args.interval,
            file_meters=[FileMeter(name) for name in args.file_meter])
        agents.start()
        print(f"started in {agents.directory}: {agents.pids_file.read_text()}")
    elif args.command == "set":
        directory = Path(args.directory).resolve()
        servers = json.loads((directory / "servers.json").read_text())
        agents = CeilometerAgents(directory, [])
        if not agents.file_meter_path(args.meter).exists():
            parser.error(f"{args.meter} is not a file meter of {directory}")
        agents.set_file_meter(args.meter, [{
            "id": sid, "value": args.value, "project_id": srv["tenant_id"],
            "user_id": srv["user_id"], "display_name": srv["name"],
            "user_metadata": {k[len("metering."):].replace(".", "_"): v
                              for k, v in srv["metadata"].items()
                              if k.startswith("metering.")}}
            for sid, srv in servers.items()])
    elif args.command == "stop":
        CeilometerAgents(args.directory, []).stop()
    elif args.command == "probe":
        listener = MeteringProbe(args.transport_url, args.topic)
        shown, deadline = 0, time.monotonic() + args.seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2)
                for row in listener.samples[shown:]:
                    print(json.dumps(row, default=str) if args.raw else _summary(row),
                          flush=True)
                shown = len(listener.samples)
        finally:
            listener.stop()
    elif args.command == "nova-standin":
        directory = Path(args.directory)
        server = NovaStandIn(directory / "servers.json")
        tmp = directory / "nova.port.tmp"
        tmp.write_text(str(server.port))
        tmp.replace(directory / "nova.port")
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.close).start())
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
