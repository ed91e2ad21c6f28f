"""``inproc://<name>``: call a Python callable registered under ``name``.

This is how a host process (heat-engine, a test, an embedding program)
receives notifications without any network: register the callable with
``NotifierManager.register_target`` (or ``Evaluator.register_target``).
A target that is not registered yet is retried, so notifications queued
before a restart reach it once it is registered again.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from heat_alarming.engine.notifiers import DeliveryError, Notifier


class InprocNotifier(Notifier):
    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        name = urlsplit(action).netloc
        target = self.settings.targets.get(name)
        if target is None:
            raise DeliveryError(f"no in-process target registered as {name!r}")
        try:
            target(dict(payload, idempotency_key=idempotency_key, action=action))
        except DeliveryError:
            raise
        except Exception as exc:
            raise DeliveryError(f"in-process target {name!r} failed: {exc}") from exc
