"""``http://`` and ``https://`` webhooks, posted with requests.

The body is Aodh's (alarm_id, alarm_name, severity, previous, current,
reason, reason_data); ``X-Idempotency-Key`` carries one key per transition
so a receiver can drop the duplicates that at-least-once delivery allows.
Connection errors, timeouts, 408, 429 and 5xx answers are retried by the
dispatcher; other 4xx answers are not.

Every call goes where the destination policy allows
(:mod:`heat_alarming.engine.notifiers.destinations`): the host is resolved
once, each address checked, and the connection made to the checked address
(:class:`PinnedAdapter`) while the Host header, the TLS server name and the
certificate check keep the URL's host name.  Redirects are not followed
(a 3xx answer is a failure that is not retried) and proxies from the
environment (``HTTP_PROXY``...) are ignored: a proxy would resolve the name
again, out of the policy's sight.
"""
from __future__ import annotations

import json

import requests
from requests.adapters import HTTPAdapter

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.notifiers import DeliveryError, Notifier, redact
from heat_alarming.engine.notifiers.destinations import Destination

RETRYABLE_STATUS = {408, 425, 429}


class PinnedAdapter(HTTPAdapter):
    """Connects to one checked address whatever the URL's host resolves to now."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        host_params["host"] = self.destination.address
        host_params["port"] = self.destination.port
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.destination.host  # SNI
            pool_kwargs["assert_hostname"] = self.destination.host  # the certificate's name
        return host_params, pool_kwargs


class HTTPNotifier(Notifier):
    def check(self, action: str, alarm: Alarm) -> None:
        self.settings.policy.check_url(action, must_resolve=False)

    def post(self, url: str, payload: dict, idempotency_key: str,
             extra_headers: dict | None = None,
             destination: Destination | None = None) -> None:
        """POST ``payload`` to ``url`` at ``destination`` (checked here when not given)."""
        shown = redact(url)
        settings = self.settings
        if destination is None:
            destination = settings.policy.check_url(url)
        headers = {"Content-Type": "application/json",
                   "X-Idempotency-Key": idempotency_key,
                   "User-Agent": "heat-alarming",
                   "Host": destination.host_header}
        headers.update(extra_headers or {})
        cert = None
        if settings.client_cert:
            cert = (settings.client_cert, settings.client_key) if settings.client_key \
                else settings.client_cert
        adapter = PinnedAdapter(destination)
        try:
            with requests.Session() as session:
                session.trust_env = False  # no proxies, .netrc or CA bundle from the env
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                response = session.post(url, data=json.dumps(payload), headers=headers,
                                        timeout=settings.timeout, verify=settings.verify,
                                        cert=cert, allow_redirects=False)
        except requests.Timeout as exc:
            raise DeliveryError(f"{shown}: timed out after {settings.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"{shown}: {exc.__class__.__name__}: {exc}") from exc
        if 300 <= response.status_code < 400:
            raise DeliveryError(f"{shown}: HTTP {response.status_code}, a redirect, which is "
                                "not followed", retryable=False)
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
            raise DeliveryError(f"{shown}: HTTP {response.status_code}", retryable=retryable)

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        self.post(action, payload, idempotency_key)
