"""``http://`` and ``https://`` webhooks, posted with requests.

The body is Aodh's (alarm_id, alarm_name, severity, previous, current,
reason, reason_data); ``X-Idempotency-Key`` carries one key per transition
so a receiver can drop the duplicates that at-least-once delivery allows.
Connection errors, timeouts, 408, 429 and 5xx answers are retried by the
dispatcher; other 4xx answers are not.
"""
from __future__ import annotations

import json

import requests

from heat_alarming.engine.notifiers import DeliveryError, Notifier

RETRYABLE_STATUS = {408, 425, 429}


class HTTPNotifier(Notifier):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._session = requests.Session()

    def post(self, url: str, payload: dict, idempotency_key: str,
             extra_headers: dict | None = None) -> None:
        headers = {"Content-Type": "application/json",
                   "X-Idempotency-Key": idempotency_key,
                   "User-Agent": "heat-alarming"}
        headers.update(extra_headers or {})
        settings = self.settings
        cert = None
        if settings.client_cert:
            cert = (settings.client_cert, settings.client_key) if settings.client_key \
                else settings.client_cert
        try:
            response = self._session.post(url, data=json.dumps(payload), headers=headers,
                                          timeout=settings.timeout, verify=settings.verify,
                                          cert=cert)
        except requests.Timeout as exc:
            raise DeliveryError(f"{url}: timed out after {settings.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 300:
            retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
            raise DeliveryError(f"{url}: HTTP {response.status_code}", retryable=retryable)

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        self.post(action, payload, idempotency_key)
