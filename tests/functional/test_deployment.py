"""A real multi-process Heat with heat-alarming, driven by the real OpenStack client.

Nothing here is faked or in-process. ``tools/devstack-lite.sh`` sets up, in this module's
temporary directory, keystone (its own PostgreSQL database, fernet tokens, served by
gunicorn), heat-api (Heat's WSGI application under gunicorn, keystonemiddleware
auth_token) and ``heat-engine`` with two workers and the plugin loaded from
``plugin_dirs``, on Debian's RabbitMQ (a vhost of its own) and PostgreSQL (Heat's database
and the alarm database). Free ports are chosen for keystone and heat-api.

The test talks to heat-api only through the ``openstack`` CLI (python-openstackclient with
python-heatclient's plugin) as keystone user ``demo``, a ``member`` of project ``demo``:
it creates a stack from ``templates/hot-autoscaling.yaml`` (Heat's own
``OS::Heat::ScalingPolicy``, whose ``alarm_url`` and ``signal_url`` need the keystone
stack-user domain), pushes samples with ``stack resource signal``, reads the alarms'
``state`` attribute with ``stack resource show``, and watches the group's size output and
the policies' SIGNAL events while the engine's evaluator scales the group out and back in.
``templates/hot-target-tracking.yaml`` does the same with our ``OS::Metering::ScalingPolicy``
(target tracking). ``templates/hot-push-url.yaml`` (its server an ``OS::Heat::None``) hands
an alarm's ``push_url`` to a server, and ``curl`` PUTs samples to it with no token at all:
heat-api-cfn (also under gunicorn) checks the URL's EC2 signature with keystone. Deleting a
stack removes its alarms from the alarm database, which is checked with SQL. Samples also
come the way Ceilometer sends them: heat.conf turns on the engine's messaging listener on
the deployment's vhost with a ``telemetry_secret``; Ceilometer's own ``notifier://``
publisher (tests/support/ceilometer.py), and then the real ceilometer-polling and
ceilometer-agent-notification (tests/support/ceilometer_agents.py), publish cpu_util
carrying the group in ``user_metadata.server_group``, and the group scales, while samples
signed with another secret count for nothing. ``openstack metering alarm`` (the CLI plugin
of heat_alarming/osc) lists the alarms, shows their state and pages through a whole history
over heat-api, and a user of another project (made in keystone by admin) reads none of it.
Authentication
is real keystone rather than heat-api's ``noauth`` flavor because Heat's stock scaling
policy creates keystone stack-domain users and EC2 keys, and heat-engine creates a trust for
every stack (docs/devstack-lite.md).
``tools/devstack-lite-teardown.sh`` stops every process and drops what setup created, also
when a test fails.

Without root (apt-get, rabbitmqctl), or without PostgreSQL or RabbitMQ and no apt-get
to install them, the module is skipped.
"""
from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa

from heat_alarming.shipped import template_path
from tests.support.databases import ROOT

pytestmark = pytest.mark.timeout(900)

SETUP = ROOT / "tools" / "devstack-lite.sh"
TEARDOWN = ROOT / "tools" / "devstack-lite-teardown.sh"
TEMPLATE = template_path("hot-autoscaling.yaml")
TARGET_TRACKING = template_path("hot-target-tracking.yaml")
PUSH_URL = template_path("hot-push-url.yaml")
PERIOD = 10  # seconds; a multiple of the store resolution (1 s) set below
HIGH, LOW = 90.0, 5.0  # the template scales out above 50 and in below 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _missing_requirement() -> str | None:
    if os.geteuid() != 0:
        return "devstack-lite needs root (apt-get, rabbitmqctl)"
    if shutil.which("setsid") is None:
        return "devstack-lite needs setsid (util-linux)"
    for tool, package in (("psql", "postgresql"), ("rabbitmqctl", "rabbitmq-server")):
        if shutil.which(tool) is None and shutil.which("apt-get") is None:
            return f"devstack-lite needs {package}, and there is no apt-get to install it"
    return None


class Deployment:
    """The running deployment: its state directory and the demo user's CLI."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.env = self._openrc(os.path.join(state, "openrc"))
        self.admin_env = self._openrc(os.path.join(state, "admin-openrc"))
        self.openstack_bin = os.path.join(os.path.dirname(sys.executable), "openstack")
        if not os.path.exists(self.openstack_bin):
            self.openstack_bin = shutil.which("openstack") or "openstack"
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(os.path.join(state, "heat.conf"))
        self.alarm_database = conf["heat_alarming"]["alarm_database"]
        # where heat-engine's listener takes Ceilometer's samples, and their secret
        self.metering_transport_url = conf["heat_alarming"]["metering_transport_url"]
        self.telemetry_secret = conf["heat_alarming"]["telemetry_secret"]

    @staticmethod
    def _openrc(path: str) -> dict:
        env = dict(os.environ)
        with open(path) as handle:
            for line in handle:
                if line.startswith("export ") and "=" in line:
                    key, value = line[len("export "):].strip().split("=", 1)
                    if key != "PATH":
                        env[key] = value
        return env

    def openstack(self, *args: str, admin: bool = False):
        """Run the openstack CLI (as demo, or as admin); JSON output is parsed."""
        done = subprocess.run([self.openstack_bin, *args],
                              env=self.admin_env if admin else self.env,
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        if "json" not in args:
            return done.stdout
        # --wait prints the stack's events before the JSON document
        lines = done.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line[:1] in ("{", "["))
        return json.loads("\n".join(lines[start:]))

    # -- what the tests read and do -----------------------------------------------------
    def create_stack(self, name: str) -> str:
        stack = self.openstack("stack", "create", "-t", str(TEMPLATE), "--wait",
                               "--parameter", f"period={PERIOD}", "--parameter", "cooldown=0",
                               "--parameter", "repeat_actions=false", name, "-f", "json")
        assert stack["stack_status"] == "CREATE_COMPLETE", stack
        return stack["id"]

    def create_target_tracking_stack(self, name: str) -> str:
        stack = self.openstack("stack", "create", "-t", str(TARGET_TRACKING), "--wait",
                               "--parameter", f"period={PERIOD}", name, "-f", "json")
        assert stack["stack_status"] == "CREATE_COMPLETE", stack
        return stack["id"]

    def create_push_url_stack(self, name: str, environment: str) -> str:
        stack = self.openstack("stack", "create", "-t", str(PUSH_URL), "-e", environment,
                               "--wait", "--parameter", f"period={PERIOD}", name, "-f", "json")
        assert stack["stack_status"] == "CREATE_COMPLETE", stack
        return stack["id"]

    def push(self, stack: str, alarm: str, value: float, server_group: str) -> None:
        """Samples of one server, one a second over the last two periods, stamped now."""
        self.openstack("stack", "resource", "signal", stack, alarm, "--data",
                       json.dumps({"samples": recent_samples("cpu_util", value, server_group)}))

    def ec2_access_keys(self) -> set[str]:
        """The access keys of every EC2 credential keystone holds (admin's view)."""
        credentials = self.openstack("credential", "list", "--type", "ec2", "-f", "json",
                                     admin=True)
        return {json.loads(c["Data"])["access"] for c in credentials}

    def project_of(self, stack: str) -> str:
        """The id of the project that owns the stack (demo's)."""
        shown = self.openstack("stack", "show", stack, "-f", "json")
        return shown["parameters"]["OS::project_id"]

    def events(self, stack: str, resource: str) -> list[str]:
        """The statuses of the resource's Heat events."""
        events = self.openstack("stack", "event", "list", stack, "--resource", resource,
                                "-f", "json")
        return [e["resource_status"] for e in events]

    def output(self, stack: str, name: str):
        return self.openstack("stack", "output", "show", stack, name,
                              "-f", "json")["output_value"]

    def attributes(self, stack: str, resource: str) -> dict:
        return self.openstack("stack", "resource", "show", stack, resource,
                              "-f", "json")["attributes"]

    def size(self, stack: str) -> int:
        shown = self.openstack("stack", "output", "show", stack, "size", "-f", "json")
        return int(shown["output_value"])

    def signal_reasons(self, stack: str, resource: str) -> list[str]:
        events = self.openstack("stack", "event", "list", stack, "--resource", resource,
                                "-f", "json")
        return [e["resource_status_reason"] for e in events
                if e["resource_status"] == "SIGNAL_COMPLETE"]

    def alarm_rows(self, alarm_ids: list[str]) -> dict[str, int]:
        """Rows of these alarms in each of heat-alarming's tables that hold alarms."""
        engine = sa.create_engine(self.alarm_database)
        try:
            with engine.connect() as connection:
                return {table: connection.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE alarm_id = ANY(:ids)"),
                    {"ids": alarm_ids}).scalar()
                    for table in ("ha_alarms", "ha_alarm_history", "ha_notifications")}
        finally:
            engine.dispose()


def recent_samples(meter: str, value: float, server_group: str) -> list[dict]:
    """Samples of one server, one a second over the last two periods, stamped now."""
    now = time.time()
    return [{"meter": meter, "value": value, "resource_id": "vm-1",
             "timestamp": dt.datetime.fromtimestamp(now - 2 * PERIOD + s + 0.5,
                                                    dt.timezone.utc).isoformat(),
             "metadata": {"metering.server_group": server_group}}
            for s in range(2 * PERIOD)]


def curl(method: str, url: str, body) -> tuple[int, str]:
    """``curl -X METHOD`` with a JSON body and nothing else: no token, no OS_* variables."""
    done = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method,
         "-H", "Content-Type: application/json", "--data-binary", "@-", url],
        input=json.dumps(body), capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stderr
    text, _, status = done.stdout.rpartition("\n")
    return int(status), text


def until(predicate, timeout: float, what: str, every: float = 0.5):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    missing = _missing_requirement()
    if missing:
        pytest.skip(missing)
    state = str(tmp_path_factory.mktemp("devstack-lite") / "state")
    env = dict(os.environ,
               HA_DEVSTACK_DIR=state,
               HA_DEVSTACK_PREFIX=f"ha_func_{uuid.uuid4().hex[:10]}",
               HA_DEVSTACK_PYTHON=sys.executable,
               HA_DEVSTACK_API_PORT=str(_free_port()),
               HA_DEVSTACK_CFN_PORT=str(_free_port()),
               HA_DEVSTACK_KEYSTONE_PORT=str(_free_port()),
               HA_DEVSTACK_ENGINE_WORKERS="2",
               HA_DEVSTACK_STORE_RESOLUTION="1",
               HA_DEVSTACK_EVALUATION_INTERVAL="1",
               HA_DEVSTACK_HEARTBEAT_INTERVAL="1",
               HA_DEVSTACK_JOURNAL_POLL_INTERVAL="0.2",
               HA_DEVSTACK_PERIOD_CLOSE_DELAY="0.2")
    try:
        setup = subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True,
                               timeout=600)
        assert setup.returncode == 0, (f"tools/devstack-lite.sh failed:\n{setup.stdout}\n"
                                       f"{setup.stderr[-6000:]}")
        yield Deployment(state)
    finally:
        # the logs outlive the teardown, beside the state directory
        if os.path.isdir(os.path.join(state, "logs")):
            shutil.copytree(os.path.join(state, "logs"), state + "-logs", dirs_exist_ok=True)
        subprocess.run(["bash", str(TEARDOWN), state], env=env, capture_output=True,
                       timeout=300, check=False)


def test_heat_api_serves_the_heat_alarming_resource_types(deployment):
    types = deployment.openstack("orchestration", "resource", "type", "list",
                                 "--filter", "name=OS::Metering", "-f", "json")
    names = {t["Resource Type"] for t in types}
    assert {"OS::Metering::Alarm", "OS::Metering::CompositeAlarm",
            "OS::Metering::ScalingPolicy"} <= names, names


class Reporter:
    """A server of the group that reports its CPU all along, as a real one would, from a
    thread: the alarms' windows never go without samples, however slow the CLI is."""

    def __init__(self, deployment, stack: str, alarm: str, server_group: str,
                 level: float) -> None:
        self.level = level
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, args=(
            deployment, stack, alarm, server_group))

    def _run(self, deployment, stack, alarm, server_group) -> None:
        while not self._stop.is_set():
            deployment.push(stack, alarm, self.level, server_group)
            self._stop.wait(1.0)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_pushed_samples_scale_the_group_out_and_back_in(deployment):
    d = deployment
    stack_id = d.create_stack("scaling")
    assert d.size("scaling") == 1
    assert d.attributes("scaling", "cpu_alarm_high")["state"] == "insufficient data"

    with Reporter(d, "scaling", "cpu_alarm_high", stack_id, HIGH) as server:
        # High CPU: cpu_alarm_high goes to alarm and signals scale_up in-process.
        until(lambda: d.attributes("scaling", "cpu_alarm_high")["state"] == "alarm", 120,
              "cpu_alarm_high to go to alarm", every=0)
        until(lambda: d.size("scaling") == 2, 120, "the group to grow to 2")
        reasons = d.signal_reasons("scaling", "scale_up")
        assert len(reasons) == 1, "repeat_actions is false: one transition, one signal"
        assert reasons[0].startswith("alarm state changed from insufficient data to alarm"), \
            reasons
        history = d.attributes("scaling", "cpu_alarm_high")["history"]
        assert any(h["type"] == "action" and h["reason"].startswith("signalled scale_up")
                   for h in history), history

        # Low CPU: once the window holds only low samples, cpu_alarm_low signals
        # scale_down; it was ok all along, since the server never stopped reporting.
        server.level = LOW
        until(lambda: d.attributes("scaling", "cpu_alarm_low")["state"] == "alarm", 180,
              "cpu_alarm_low to go to alarm", every=0)
        until(lambda: d.size("scaling") == 1, 120, "the group to shrink back to 1")
        reasons = d.signal_reasons("scaling", "scale_down")
        assert len(reasons) == 1, reasons
        assert reasons[0].startswith("alarm state changed from ok to alarm"), reasons
    history = d.attributes("scaling", "cpu_alarm_high")["history"]
    assert "ok" in [h["current"] for h in history if h["type"] != "action"], history
    assert len(d.signal_reasons("scaling", "scale_up")) == 1, \
        "cpu_alarm_high's return to ok signals nothing: it has no ok_actions"


def test_our_target_tracking_policy_resizes_the_group_to_its_bounds(deployment):
    """OS::Metering::ScalingPolicy (with its keystone stack user) in the real engine: the
    alarm repeats its action every round while the group reports CPU, and the policy
    resizes the group to ceil(size * cpu / 50) until it reaches a bound."""
    d = deployment
    stack_id = d.create_target_tracking_stack("tracking")
    assert d.size("tracking") == 2

    def load_brings_size_to(cpu, size):
        d.push("tracking", "cpu_off_target", cpu, stack_id)
        return d.size("tracking") == size

    until(lambda: load_brings_size_to(100.0, 10), 180,
          "twice the target to grow the group to its max_size, 10", every=0)
    until(lambda: load_brings_size_to(10.0, 1), 180,
          "a fifth of the target to shrink the group to its min_size, 1", every=0)
    # unlike Heat's own policy, ours says in the event what it did
    # (and which notification caused it, for a redelivery after a crash to find)
    reasons = d.signal_reasons("tracking", "track_cpu")
    assert reasons and all(re.fullmatch(r"Signal: adjusted by \d+ \(exact_capacity\) "
                                        r"\[notification [0-9a-f-]{36}\]", r)
                           for r in reasons), reasons


def test_deleting_the_stack_deletes_its_alarms(deployment):
    d = deployment
    d.create_stack("doomed")
    alarm_ids = [d.openstack("stack", "resource", "show", "doomed", name,
                             "-f", "json")["physical_resource_id"]
                 for name in ("cpu_alarm_high", "cpu_alarm_low")]
    assert d.alarm_rows(alarm_ids)["ha_alarms"] == 2
    d.openstack("stack", "delete", "--yes", "--wait", "doomed")
    assert d.alarm_rows(alarm_ids) == {"ha_alarms": 0, "ha_alarm_history": 0,
                                       "ha_notifications": 0}


def test_a_server_pushes_samples_to_push_url_with_no_token(deployment, tmp_path):
    """The server's side of templates/hot-push-url.yaml: what its cron job does, by curl."""
    if shutil.which("curl") is None:
        pytest.skip("the server's side is curl, which is not installed")
    d = deployment
    environment = tmp_path / "no-nova.yaml"
    environment.write_text(json.dumps({"resource_registry": {
        "OS::Nova::Server": "OS::Heat::None"}}))
    stack_id = d.create_push_url_stack("pushing", str(environment))
    url = d.output("pushing", "push_url")
    assert "/v1/waitcondition/" in url and "Signature=" in url, url
    access_key = dict(parse_qsl(urlsplit(url).query))["AWSAccessKeyId"]
    assert access_key in d.ec2_access_keys(), "a keystone EC2 key of the alarm's stack user"

    # a refused push is refused whole, and the pusher hears of it (the PUT is synchronous)
    bad = recent_samples("load", 9.0, stack_id) + [{"meter": "load", "value": "NaN",
                                                   "resource_id": "vm-1"}]
    status, text = curl("PUT", url, {"samples": bad})
    assert status == 400 and "samples[20].value" in text, (status, text)
    # the URL is good for this alarm and this method only
    other = url.replace("/resources/high_load", "/resources/server")
    assert curl("PUT", other, {"samples": recent_samples("load", 9.0, stack_id)})[0] in (401, 403)
    assert curl("POST", url, {"samples": recent_samples("load", 9.0, stack_id)})[0] >= 400
    unsigned = re.sub(r"&?Signature=[^&]*", "", url)
    assert curl("PUT", unsigned, {"samples": recent_samples("load", 9.0, stack_id)})[0] >= 400
    assert d.attributes("pushing", "high_load")["state"] == "insufficient data", \
        "nothing of the refused pushes was stored"

    def pushed_load_fires_the_alarm():
        status, text = curl("PUT", url, {"samples": recent_samples("load", 9.0, stack_id)})
        assert status == 200, (status, text)
        return d.attributes("pushing", "high_load")["state"] == "alarm"

    until(pushed_load_fires_the_alarm, 120, "pushed load to fire high_load", every=0)
    assert d.signal_reasons("pushing", "high_load") == [], "pushes write no Heat events"

    # the stack's delete deletes the key, and the URL no longer authenticates (keystone
    # answers 404 for the unknown key, which heat-api-cfn 27 turns into a 500)
    d.openstack("stack", "delete", "--yes", "--wait", "pushing")
    assert access_key not in d.ec2_access_keys()
    assert curl("PUT", url, {"samples": recent_samples("load", 9.0, stack_id)})[0] != 200


def ceilometer_samples(project_id: str, server_group: str, value: float,
                       resource_id: str) -> list:
    """What Ceilometer's compute pollsters send for one Nova server of the group, one
    sample a second over the last two periods: cpu_util with the server's
    ``metering.server_group`` as ``resource_metadata.user_metadata.server_group``."""
    from tests.support.ceilometer import meter

    now = time.time()
    return [meter(project_id, value, "cpu_util", resource_id,
                  timestamp=now - 2 * PERIOD + s + 0.5,
                  message_id=str(uuid.uuid4()),
                  metadata={"display_name": resource_id,
                            "user_metadata": {"server_group": server_group}})
            for s in range(2 * PERIOD)]


class Ceilometer:
    """Ceilometer's agent-notification as far as the bus sees it: its own notifier://
    publisher (tests/support/ceilometer.py) sending signed samples to the deployment's
    vhost, exchange ``ceilometer``, topic ``metering``, once a second from a thread, and
    a second publisher whose secret is wrong (a forger on the same bus)."""

    def __init__(self, deployment) -> None:
        from tests.support.ceilometer import CeilometerPublisher

        url, secret = deployment.metering_transport_url, deployment.telemetry_secret
        self.genuine = CeilometerPublisher(url, "metering", secret)
        self.forger = CeilometerPublisher(url, "metering", "not-" + secret, host="forger")
        self.rounds: list[tuple[CeilometerPublisher, tuple]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def report(self, publisher, *sample_args) -> None:
        """Publish ``ceilometer_samples(*sample_args)`` with ``publisher`` every round
        (told before the block starts)."""
        self.rounds.append((publisher, sample_args))

    def _run(self) -> None:
        while not self._stop.is_set():
            for publisher, sample_args in self.rounds:
                publisher.publish(ceilometer_samples(*sample_args))
            self._stop.wait(1.0)

    def __enter__(self) -> Ceilometer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.genuine.close()
        self.forger.close()


def test_ceilometer_samples_on_the_bus_scale_the_group_out(deployment):
    """Ceilometer's notifier:// samples, signed with the deployment's telemetry_secret,
    reach heat-engine's listeners (its two workers share one pool) and scale the group; the
    same samples signed with another secret count for nothing."""
    d = deployment
    stack_id = d.create_stack("metered")
    victim_id = d.create_stack("other")
    project = d.project_of("metered")
    assert d.project_of("other") == project

    ceilometer = Ceilometer(d)
    ceilometer.report(ceilometer.genuine, project, stack_id, HIGH, "vm-1")
    # the other group: its own server reports 30 % (between the thresholds), and a
    # forger sends 90 % for a server of it that would lift the average to 60 %
    ceilometer.report(ceilometer.forger, project, victim_id, HIGH, "vm-forged")
    ceilometer.report(ceilometer.genuine, project, victim_id, 30.0, "vm-2")
    with ceilometer:
        until(lambda: d.size("metered") == 2, 120, "the metered group to grow to 2")

        def judged_on_genuine_samples_only():
            state = d.attributes("other", "cpu_alarm_high")["state"]
            assert state != "alarm", "the forged 90 % counted"
            return state == "ok"

        until(judged_on_genuine_samples_only, 120,
              "the other group's cpu_alarm_high to judge its genuine samples")
    reasons = d.signal_reasons("metered", "scale_up")
    assert len(reasons) == 1 and reasons[0].startswith(
        "alarm state changed from insufficient data to alarm"), reasons
    history = d.attributes("other", "cpu_alarm_high")["history"]
    assert "alarm" not in [h["current"] for h in history], \
        f"the forged 90 % never counted: {history}"
    assert d.size("other") == 1 and d.signal_reasons("other", "scale_up") == []
    # samples are no signals: the alarms have their creation's events only
    for stack in ("metered", "other"):
        for alarm in ("cpu_alarm_high", "cpu_alarm_low"):
            assert sorted(d.events(stack, alarm)) == ["CREATE_COMPLETE",
                                                      "CREATE_IN_PROGRESS"], (stack, alarm)


#: an alarm on a meter of libvirt's (the test driver's memory.usage is half the domain's
#: 512 MiB), selecting the group's servers by the user metadata that ceilometer-polling
#: itself takes from Nova
MEMORY_ALARM = {
    "heat_template_version": "2016-10-14",
    "parameters": {"server_group": {"type": "string"}},
    "resources": {"memory_used": {"type": "OS::Metering::Alarm", "properties": {
        "meter_name": "memory.usage", "statistic": "max", "period": PERIOD,
        "evaluation_periods": 1, "threshold": 100, "comparison_operator": "gt",
        "matching_metadata": {"metering.server_group": {"get_param": "server_group"}}}}},
}


def test_real_ceilometer_agents_scale_the_group_out(deployment, tmp_path):
    """The whole chain with Ceilometer's own agents: ceilometer-polling polls a server
    of the group (a domain of libvirt's test driver owned by the stack's project, its
    Nova user metadata ``metering.server_group`` = the stack id) and
    ceilometer-agent-notification publishes with ``notifier://?topic=metering``, signed
    with the deployment's secret, to the deployment's vhost.

    Fakes, because Nova cannot run here: the Nova API that ceilometer-polling asks for
    the server's user metadata is a stand-in (what Ceilometer makes of the answer is its
    own: ``memory_used`` below watches a libvirt meter by it), and cpu_util (which
    libvirt's test driver cannot produce) comes from a Ceilometer dynamic pollster of
    the same agent reading a file, its rows carrying the same user metadata
    (tests/support/ceilometer_agents.py, docs/ceilometer-polling-lite.md)."""
    from tests.support import ceilometer_agents as agents_support

    try:
        venv = agents_support.ensure_installed()
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"Ceilometer's agents cannot be installed here: {error}")
    d = deployment
    stack_id = d.create_stack("polled")
    project = d.project_of("polled")
    memory_template = tmp_path / "memory-alarm.yaml"
    memory_template.write_text(json.dumps(MEMORY_ALARM))
    d.openstack("stack", "create", "-t", str(memory_template), "--wait",
                "--parameter", f"server_group={stack_id}", "memory")
    server = agents_support.Instance("polled-1", project_id=project,
                                     metadata={"metering.server_group": stack_id})
    agents = agents_support.CeilometerAgents(
        tmp_path / "ceilometer", [server], transport_url=d.metering_transport_url,
        topic="metering", secret=d.telemetry_secret, interval=2, venv=venv,
        file_meters=[agents_support.FileMeter("cpu_util")])
    agents.set_file_meter("cpu_util", [{
        "id": server.uuid, "value": HIGH, "project_id": project, "user_id": server.user_id,
        "display_name": server.name, "user_metadata": {"server_group": stack_id}}])
    agents.start()
    try:
        until(lambda: d.size("polled") == 2, 180,
              f"the polled group to grow to 2 (agent logs: {agents.directory}/log)")
        until(lambda: d.attributes("memory", "memory_used")["state"] == "alarm", 60,
              "libvirt's memory.usage of the group's server to fire memory_used")
    finally:
        agents.stop()
    reasons = d.signal_reasons("polled", "scale_up")
    assert len(reasons) == 1 and "most recent: 90.0" in reasons[0], reasons


# -- openstack metering alarm: the CLI plugin of heat_alarming/osc --------------------------
#: two alarms on the CPU of the stack's servers, judged on each period of PERIOD seconds
WATCHED_ALARMS = {
    "heat_template_version": "2016-10-14",
    "resources": {name: {"type": "OS::Metering::Alarm", "properties": {
        "meter_name": "cpu_util", "statistic": "max", "period": PERIOD,
        "evaluation_periods": 1, "threshold": threshold, "comparison_operator": operator,
        "matching_metadata": {"metering.server_group": {"get_param": "OS::stack_id"}}}}
        for name, threshold, operator in (("cpu_high", 50, "gt"), ("cpu_low", 15, "lt"))},
}


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The openstack CLI (of this Python environment) as the user of ``env``."""
    openstack = os.path.join(os.path.dirname(sys.executable), "openstack")
    return subprocess.run([openstack if os.path.exists(openstack) else "openstack", *args],
                          env=env, capture_output=True, text=True, timeout=180)


def metering(deployment, *args: str):
    """``openstack metering alarm ARGS -f json`` as demo, parsed."""
    return deployment.openstack("metering", "alarm", *args, "-f", "json")


def alarm_state(deployment, alarm_id: str) -> str:
    return metering(deployment, "state", alarm_id)["state"]


def recorded_history(deployment, alarm_id: str) -> list[str]:
    """The alarm's event ids as the alarm database holds them, newest first."""
    engine = sa.create_engine(deployment.alarm_database)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(
                "SELECT event_id FROM ha_alarm_history WHERE alarm_id = :id "
                "ORDER BY timestamp DESC, id DESC"), {"id": alarm_id}).scalars())
    finally:
        engine.dispose()


def another_project_user(deployment, name: str) -> dict:
    """A ``member`` of a project of its own (made by admin), as an openrc environment."""
    password = uuid.uuid4().hex
    deployment.openstack("project", "create", name, admin=True)
    deployment.openstack("user", "create", "--project", name, "--password", password, name,
                         admin=True)
    deployment.openstack("role", "add", "--user", name, "--project", name, "member",
                         admin=True)
    return dict(deployment.env, OS_USERNAME=name, OS_PASSWORD=password, OS_PROJECT_NAME=name)


def test_openstack_metering_alarm_commands_read_the_alarms_through_heat_api(deployment,
                                                                            tmp_path):
    d = deployment
    template = tmp_path / "watched.yaml"
    template.write_text(json.dumps(WATCHED_ALARMS))
    stack = d.openstack("stack", "create", "-t", str(template), "--wait", "watched",
                        "-f", "json")
    stack_id = stack["id"]
    listed = sorted(metering(d, "list", "--stack", "watched"), key=lambda row: row["Name"])
    alarm_id, other_id = listed[0]["ID"], listed[1]["ID"]
    assert listed == [
        {"Stack": "watched", "Name": name, "ID": ident, "Type": "OS::Metering::Alarm",
         "State": "insufficient data"}
        for name, ident in (("cpu_high", alarm_id), ("cpu_low", other_id))]

    # three transitions at least: to alarm, to ok, and to insufficient data once the
    # server stops reporting
    with Reporter(d, "watched", "cpu_high", stack_id, HIGH) as server:
        until(lambda: alarm_state(d, alarm_id) == "alarm", 120, "cpu_high to fire", every=0)
        server.level = LOW
        until(lambda: alarm_state(d, alarm_id) == "ok", 120, "cpu_high to clear", every=0)
    until(lambda: alarm_state(d, alarm_id) == "insufficient data", 120,
          "cpu_high to lack data once the server is silent", every=0)

    # every alarm of the project's stacks, found by ID or by resource name across them
    everything = metering(d, "list")
    assert {"Stack": "watched", "Name": "cpu_high", "ID": alarm_id,
            "Type": "OS::Metering::Alarm", "State": "insufficient data"} in everything
    stacks = {s["Stack Name"] for s in d.openstack("stack", "list", "-f", "json")}
    assert {row["Stack"] for row in everything} <= stacks, everything
    state = metering(d, "state", "cpu_high", "--stack", "watched")
    assert state["id"] == alarm_id and state["state"] == "insufficient data"
    assert state["state_reason"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                                                 state["state_timestamp"])
    shown = metering(d, "show", alarm_id)
    assert (shown["name"], shown["stack"], shown["type"], shown["status"]) == (
        "cpu_high", f"watched/{stack_id}", "OS::Metering::Alarm", "CREATE_COMPLETE")
    assert shown["state"] == "insufficient data" and "push_url" in shown
    assert [h["current"] for h in shown["history"]][:1] == ["insufficient data"]

    # why it is in its state: the explanation, its sentence first, which the transition's
    # reason starts with too; whichever heat-engine worker answers (the one evaluating the
    # alarm, or the other from the sample journal)
    explained = metering(d, "explain", alarm_id)
    assert (explained["alarm_id"], explained["state"]) == (alarm_id, "insufficient data")
    assert "cpu_high" in explained["name"]  # the resource's physical name
    assert explained["summary"].startswith("insufficient data")
    assert state["state_reason"].startswith("insufficient data")
    assert (explained["rule"]["threshold"], explained["rule"]["comparison_operator"]) == (
        50, "gt")
    assert explained["last_action"] is None  # the alarm has no actions
    refused = cli(intruder_env := another_project_user(d, f"asker-{uuid.uuid4().hex[:8]}"),
                  "metering", "alarm", "explain", alarm_id)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        f"alarm {alarm_id}: no alarm of this ID or name in the project's stacks"), refused
    del intruder_env

    # the whole history, one entry a request: every entry once, newest first, as stored
    recorded = recorded_history(d, alarm_id)
    assert len(recorded) >= 3, recorded
    for page_size in ("1", "2"):
        rows = metering(d, "history", alarm_id, "--page-size", page_size)
        assert [row["Event ID"] for row in rows] == recorded, page_size
    currents = [row["Current"] for row in rows]
    assert currents[0] == "insufficient data" and "ok" in currents and "alarm" in currents
    stamps = [row["Timestamp"] for row in rows]
    assert stamps == sorted(stamps, reverse=True)
    # the pages went through heat-api as with_attr names, each after the one before
    access_log = open(os.path.join(d.state, "logs", "heat-api-access.log")).read()
    for marker in recorded[:-1]:
        assert f"with_attr=history_page%3A1%3A{marker} " in access_log, marker
    # --limit and --marker take part of it
    first = metering(d, "history", alarm_id, "--limit", "2", "--page-size", "1")
    assert [row["Event ID"] for row in first] == recorded[:2]
    rest = metering(d, "history", alarm_id, "--marker", recorded[1])
    assert [row["Event ID"] for row in rest] == recorded[2:]

    # what the commands refuse, in one line
    refused = cli(d.env, "metering", "alarm", "history", alarm_id, "--marker", "x' OR 1=1")
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        "--marker: must be an event ID (at most 64 letters, digits, '-' or '_')"), refused
    (foreign, *_) = recorded_history(d, other_id)  # an event of the stack's other alarm
    refused = cli(d.env, "metering", "alarm", "history", alarm_id, "--marker", foreign)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        f"alarm {alarm_id}: history_page: marker {foreign} is no event of this alarm"), refused

    # another project sees none of it, by the commands or by heat-api itself
    intruder = another_project_user(d, f"intruder-{uuid.uuid4().hex[:8]}")
    assert json.loads(cli(intruder, "metering", "alarm", "list", "-f", "json").stdout) == []
    refused = cli(intruder, "metering", "alarm", "history", alarm_id)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        f"alarm {alarm_id}: no alarm of this ID or name in the project's stacks"), refused
    refused = cli(intruder, "metering", "alarm", "history", alarm_id, "--stack", stack_id)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        f"stack {stack_id}: not found"), refused
    token = cli(intruder, "token", "issue", "-f", "value", "-c", "id").stdout.strip()
    resource_url = shown["signal_url"].removesuffix("/signal")  # of demo's project
    intruder_project = cli(intruder, "token", "issue", "-f", "value",
                           "-c", "project_id").stdout.strip()
    own_project_url = re.sub(r"/v1/[0-9a-f]+/", f"/v1/{intruder_project}/", resource_url)
    for url in (resource_url, own_project_url):
        request = urllib.request.Request(f"{url}?with_attr=history_page%3A500",
                                         headers={"X-Auth-Token": token})
        with pytest.raises(urllib.error.HTTPError) as refusal:
            urllib.request.urlopen(request, timeout=60)
        body = refusal.value.read().decode()
        assert refusal.value.code in (403, 404) and recorded[0] not in body, (url, body)
    d.openstack("stack", "delete", "--yes", "--wait", "watched")
