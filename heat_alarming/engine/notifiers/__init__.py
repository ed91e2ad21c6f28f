"""Notifiers: deliver an alarm's action, chosen by the action URL's scheme.

Drivers are loaded through stevedore from the ``heat_alarming.notifiers``
entry-point namespace, one name per scheme (``log``, ``http``, ``https``,
``trust+http``, ``trust+https``, ``inproc``), so another package can add a
scheme by declaring an entry point.  A driver raises :class:`DeliveryError`
to ask for a retry (``retryable=True``) or to give up.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exception

NAMESPACE = "heat_alarming.notifiers"


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclasses.dataclass
class NotifierSettings:
    """What drivers need to know; :mod:`heat_alarming.opts` fills it from heat.conf."""

    timeout: float = 10.0
    verify: bool | str = True           # False, True or a CA bundle path
    client_cert: str | None = None
    client_key: str | None = None
    trust_auth_url: str | None = None   # keystone v3, for trust+http(s)
    trust_username: str | None = None
    trust_password: str | None = None
    trust_user_domain_name: str = "Default"
    targets: dict[str, Callable[[dict], object]] = dataclasses.field(default_factory=dict)


class Notifier:
    """Base class of drivers."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

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

    def driver_for(self, action: str) -> Notifier:
        scheme = urlsplit(action).scheme
        with self._lock:
            driver = self._drivers.get(scheme)
            if driver is None:
                try:
                    manager = stevedore_driver.DriverManager(
                        NAMESPACE, scheme, invoke_on_load=True,
                        invoke_args=(self.settings,))
                except stevedore_exception.NoMatches:
                    raise DeliveryError(f"action {action!r}: no notifier for scheme "
                                        f"{scheme!r}", retryable=False) from None
                driver = self._drivers[scheme] = manager.driver
            return driver

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        self.driver_for(action).notify(action, payload, idempotency_key)
