"""Ceilometer 27's own notifier:// publisher, for the listener tests and benchmark.

``CeilometerPublisher`` is ceilometer.publisher.messaging.SampleNotifierPublisher
configured the way ``ceilometer.service.prepare_service`` configures it (every
option of ``ceilometer.opts.list_opts``, the ``ceilometer`` control exchange), on a
ConfigOpts of its own and without prepare_service's process-wide steps (logging
set-up, oslo.messaging's global transport defaults), so nothing leaks into the
other tests of the process.  ``meter`` builds a ceilometer.sample.Sample.
"""
from __future__ import annotations

import datetime as dt
import urllib.parse

from oslo_config import cfg


def ceilometer_conf(secret: str, host: str = "ceilometer-test") -> cfg.ConfigOpts:
    import oslo_messaging.opts
    from ceilometer import opts

    conf = cfg.ConfigOpts()
    for group, options in opts.list_opts():
        conf.register_opts(list(options), group=None if group == "DEFAULT" else group)
    for group, options in oslo_messaging.opts.list_opts():
        if group is None:
            conf.register_opts(list(options))
    conf([], project="ceilometer", validate_default_values=True, default_config_files=[])
    # what ceilometer.messaging.setup() makes the default for the whole process
    conf.set_override("control_exchange", "ceilometer")
    conf.set_override("telemetry_secret", secret, group="publisher")
    conf.set_override("host", host)
    return conf


class CeilometerPublisher:
    """Ceilometer's notifier:// publisher sending to ``topic`` on ``transport_url``
    (the URL's host in the publisher URL, as a pipeline.yaml may give it), signing
    with ``secret`` ('' signs nothing)."""

    def __init__(self, transport_url: str, topic: str, secret: str,
                 host: str = "ceilometer-test") -> None:
        from ceilometer.publisher import messaging
        from oslo_utils import netutils

        parts = urllib.parse.urlsplit(transport_url)
        self.url = f"notifier://{parts.netloc}{parts.path}?topic={topic}"
        self.conf = ceilometer_conf(secret, host)
        self.publisher = messaging.SampleNotifierPublisher(self.conf,
                                                           netutils.urlsplit(self.url))

    def close(self) -> None:
        """Close the publisher's transport (Ceilometer caches it per URL, process-wide)."""
        from ceilometer import messaging

        transport = self.publisher.notifier.transport
        for url in [u for u, t in messaging.TRANSPORTS.items() if t is transport]:
            del messaging.TRANSPORTS[url]
        transport.cleanup()

    def publish(self, samples) -> None:
        """One notification carrying ``samples`` (ceilometer.sample.Sample)."""
        self.publisher.publish_samples(list(samples))


def meter(project_id: str | None = "project-a", volume=1.0, name: str = "cpu_util",
          resource_id: str = "server-1", timestamp: float | None = None,
          message_id: str | None = None, metadata: dict | None = None, **fields):
    """A ceilometer.sample.Sample as Ceilometer's pollsters make them."""
    from ceilometer import sample

    when = dt.datetime.now(dt.timezone.utc) if timestamp is None else \
        dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return sample.Sample(name=name, type=fields.pop("type", sample.TYPE_GAUGE),
                         unit=fields.pop("unit", "%"), volume=volume,
                         user_id=fields.pop("user_id", "user-1"), project_id=project_id,
                         resource_id=resource_id,
                         timestamp=when.replace(tzinfo=None).isoformat(),
                         resource_metadata={"display_name": "web-1",
                                            "metering.server_group": "group-1"}
                         if metadata is None else metadata,
                         source=fields.pop("source", "openstack"), id=message_id, **fields)
