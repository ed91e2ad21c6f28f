"""Notifiers: deliver an alarm's action, chosen by the action URL's scheme.

Drivers are loaded through stevedore from the ``heat_alarming.notifiers``
entry-point namespace, one name per scheme (``log``, ``http``, ``https``,
``trust+http``, ``trust+https``, ``inproc``), so another package can add a
scheme by declaring an entry point.  A driver raises :class:`DeliveryError`
to ask for a retry (``retryable=True``) or to give up.

When an alarm is defined, :meth:`NotifierManager.check_alarm` asks each
action's driver whether it could ever deliver it (scheme, destination
policy, trust ownership), so that a bad action is refused then, naming the
field; the drivers check again at delivery.  Action URLs may carry secrets
in their user part (trust ids, basic-auth passwords): whatever logs or
records an action uses :func:`redact`.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from oslo_config import cfg
from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exception

from heat_alarming import GROUP

if TYPE_CHECKING:
    from heat_alarming.engine.alarm import Alarm

NAMESPACE = "heat_alarming.notifiers"
#: seconds one delivery attempt may take in all
TIMEOUT = 10.0
#: domain of the deprecated trust_username
TRUST_USER_DOMAIN_NAME = "Default"
ACTION_FIELDS = ("alarm_actions", "ok_actions", "insufficient_data_actions")


def redact(action: str) -> str:
    """``action`` without its user part (a trust id, a password): for logs and history."""
    try:
        parts = urlsplit(action)
    except ValueError:
        return "<an unparsable action URL>"
    if "@" not in parts.netloc:
        return action
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclasses.dataclass
class NotifierSettings:
    """What drivers need to know; :func:`notifier_settings_from_conf` fills it from
    heat.conf."""

    timeout: float = TIMEOUT
    verify: bool | str = True           # False, True or a CA bundle path
    client_cert: str | None = None
    client_key: str | None = None
    #: ``trustee(trust_id) -> keystoneauth1 auth plugin`` of the service user that
    #: trust+http(s) actions authenticate as, scoped to ``trust_id`` (unscoped for None);
    #: from Heat's ``[trustee]`` (:func:`.trust.trustee_from_conf`)
    trustee: Callable[[str | None], Any] | None = None
    #: without ``trustee``: a keystone v3 password user for trust+http(s)
    trust_auth_url: str | None = None
    trust_username: str | None = None
    trust_password: str | None = None
    trust_user_domain_name: str = TRUST_USER_DOMAIN_NAME
    targets: dict[str, Callable[[dict], object]] = dataclasses.field(default_factory=dict)
    #: where webhooks may go (a :class:`~.destinations.DestinationPolicy`; default: the
    #: default policy, which refuses loopback, private and link-local addresses)
    policy: Any = None
    #: ``alarms(alarm_id) -> Alarm | None``: who owns an alarm, for the checks made at
    #: delivery (trust actions); the evaluator gives its alarm store's lookup
    alarms: Callable[[str], Alarm | None] | None = None

    def __post_init__(self) -> None:
        if self.policy is None:
            from heat_alarming.engine.notifiers.destinations import DestinationPolicy
            self.policy = DestinationPolicy()


class Notifier:
    """Base class of drivers."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    def check(self, action: str, alarm: Alarm) -> None:
        """Raise :class:`DeliveryError` if ``action`` of ``alarm`` can never be delivered."""

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        raise NotImplementedError


class NotifierManager:
    """Finds and caches the driver for each action URL scheme."""

    def __init__(self, settings: NotifierSettings | None = None) -> None:
        self.settings = settings or NotifierSettings()
        self._drivers: dict[str, Notifier] = {}
        self._lock = threading.Lock()

    def register_target(self, name: str, target: Callable[[dict], object]) -> None:
        """Make ``inproc://<name>`` call ``target(payload)``."""
        self.settings.targets[name] = target

    def use_alarms(self, alarms: Callable[[str], Alarm | None]) -> None:
        """Look alarms up with ``alarms(alarm_id)`` at delivery (unless already told)."""
        if self.settings.alarms is None:
            self.settings.alarms = alarms

    def check_alarm(self, alarm: Alarm) -> None:
        """Raise :class:`AlarmError` naming the first action of ``alarm`` that is refused."""
        from heat_alarming.engine.alarm import AlarmError
        for field in ACTION_FIELDS:
            for i, action in enumerate(getattr(alarm, field)):
                try:
                    self.driver_for(action).check(action, alarm)
                except DeliveryError as exc:
                    raise AlarmError(f"{field}[{i}]", f"{redact(action)}: {exc}") from None

    def driver_for(self, action: str) -> Notifier:
        try:
            scheme = urlsplit(action).scheme
        except ValueError as exc:  # urlsplit refuses some hosts, e.g. a stray '['
            raise DeliveryError(f"not a valid URL: {exc}", retryable=False) from None
        with self._lock:
            driver = self._drivers.get(scheme)
            if driver is None:
                try:
                    manager = stevedore_driver.DriverManager(
                        NAMESPACE, scheme, invoke_on_load=True,
                        invoke_args=(self.settings,))
                except stevedore_exception.NoMatches:
                    raise DeliveryError(f"no notifier for scheme {scheme!r}",
                                        retryable=False) from None
                driver = self._drivers[scheme] = manager.driver
            return driver

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        self.driver_for(action).notify(action, payload, idempotency_key)


# -- options: read by notifier_settings_from_conf, gathered in heat_alarming.opts --------
notifier_opts = [
    cfg.FloatOpt("notification_timeout", default=TIMEOUT, min=0.1,
                 help="Seconds one delivery attempt of a webhook may take in all (name "
                      "resolution, a trust action's keystone calls, connect, send, "
                      "reading the answer's status line) before it is abandoned and "
                      "retried."),
    cfg.BoolOpt("ssl_verify", default=True,
                help="Verify the TLS certificate of https webhooks."),
    cfg.StrOpt("ssl_ca_file",
               help="CA bundle to verify https webhooks with (instead of the system's)."),
    cfg.StrOpt("ssl_cert_file", help="Client certificate for https webhooks."),
    cfg.StrOpt("ssl_key_file", help="Private key of ssl_cert_file."),
]


def notifier_settings_from_conf(conf: cfg.ConfigOpts) -> NotifierSettings:
    """:class:`NotifierSettings` from ``[heat_alarming]``, the webhook destination policy
    and, for trust actions, Heat's ``[trustee]``."""
    from heat_alarming.engine.notifiers.destinations import destination_policy_from_conf
    from heat_alarming.engine.notifiers.trust import trustee_from_conf

    conf.register_opts(notifier_opts, group=GROUP)
    group = conf[GROUP]
    verify = group.ssl_ca_file if (group.ssl_verify and group.ssl_ca_file) else group.ssl_verify
    return NotifierSettings(timeout=group.notification_timeout, verify=verify,
                            client_cert=group.ssl_cert_file, client_key=group.ssl_key_file,
                            trustee=trustee_from_conf(conf),
                            policy=destination_policy_from_conf(conf))
