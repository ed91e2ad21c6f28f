"""The real RabbitMQ on 127.0.0.1:5672 for the tests: a vhost of their own and queue facts.

``ensure_server`` starts an installed RabbitMQ that does not answer;
``temporary_vhost`` makes a new vhost (``rabbitmqctl``, as root) for guest and
deletes it afterwards, so tests see no other test's queues; without
``rabbitmqctl`` it gives the default vhost ("/"), where unique topics and pools
keep tests apart.  ``HEAT_ALARMING_TEST_RABBIT_URL`` points the tests at another
broker.  ``queue_facts`` reads a queue's consumers and ready messages from the
broker itself.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import urllib.parse
import uuid

import kombu

from tests.support.waiting import wait_for  # noqa: F401 (callers use rabbit.wait_for)

RABBIT_URL = os.environ.get("HEAT_ALARMING_TEST_RABBIT_URL",
                            "rabbit://guest:guest@127.0.0.1:5672/")


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True,
                   timeout=120)


def answers(url: str = RABBIT_URL) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


def ensure_server() -> None:
    """Make the broker answer: start an installed RabbitMQ when it does not."""
    if answers() or shutil.which("rabbitmq-server") is None:
        return
    if subprocess.run(["service", "rabbitmq-server", "start"], capture_output=True,
                      timeout=120).returncode != 0:
        subprocess.run(["rabbitmq-server", "-detached"], capture_output=True, timeout=120)
    wait_for(answers, deadline=90, interval=1, what="RabbitMQ answering")


@contextlib.contextmanager
def temporary_vhost(prefix: str = "ha-test"):
    """The transport URL of a new vhost on the test broker, deleted when the block ends."""
    ensure_server()
    if shutil.which("rabbitmqctl") is None or "HEAT_ALARMING_TEST_RABBIT_URL" in os.environ:
        yield RABBIT_URL
        return
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    user = urllib.parse.urlsplit(RABBIT_URL).username or "guest"
    _ctl("add_vhost", name)
    try:
        _ctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield RABBIT_URL.rstrip("/") + "/" + name
    finally:
        _ctl("delete_vhost", name)


def kombu_url(transport_url: str) -> str:
    """The amqp:// URL kombu takes for an oslo.messaging rabbit:// URL."""
    return "amqp" + transport_url[len("rabbit"):]


def queue_facts(transport_url: str, queue: str) -> tuple[int, int] | None:
    """(consumers, ready messages) of ``queue``, or None when it does not exist."""
    with kombu.Connection(kombu_url(transport_url)) as connection:
        channel = connection.channel()
        try:
            _, messages, consumers = channel.queue_declare(queue=queue, passive=True)
        except Exception:  # NOT_FOUND closes the channel
            return None
        finally:
            with contextlib.suppress(Exception):
                channel.close()
        return consumers, messages


def messaging_conf(transport_url: str, control_exchange: str = "heat", **rabbit):
    """A fresh oslo.config for oslo.messaging on ``transport_url`` (heat's control
    exchange unless told) with ``[oslo_messaging_rabbit]`` overrides (e.g.
    rabbit_qos_prefetch_count)."""
    import oslo_messaging.opts
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    for group, options in oslo_messaging.opts.list_opts():
        if group in (None, "oslo_messaging_notifications", "oslo_messaging_rabbit"):
            conf.register_opts(list(options), group=group)
    conf([], project="heat-alarming-test", default_config_files=[])
    conf.set_override("transport_url", transport_url)
    conf.set_override("control_exchange", control_exchange)
    for name, value in rabbit.items():
        conf.set_override(name, value, group="oslo_messaging_rabbit")
    return conf


def notification_transport(transport_url: str, control_exchange: str = "heat", **rabbit):
    """An oslo.messaging notification transport on ``transport_url`` (the caller
    cleans it up)."""
    import oslo_messaging

    conf = messaging_conf(transport_url, control_exchange, **rabbit)
    return oslo_messaging.get_notification_transport(conf)


def raw_notifier(transport, topic: str, publisher_id: str = "telemetry.publisher.raw"):
    """An oslo.messaging notifier sending whatever payload it is given to ``topic`` of
    the transport's control exchange (for notifications Ceilometer never sends)."""
    import oslo_messaging

    return oslo_messaging.Notifier(transport, driver="messagingv2",
                                   publisher_id=publisher_id, topics=[topic])
