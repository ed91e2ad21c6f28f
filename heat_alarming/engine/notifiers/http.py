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

One attempt, from the name's resolution to the answer's status line, takes
at most ``notification_timeout`` in all (:mod:`.deadline`); the answer's
body is not read.
"""
from __future__ import annotations

import json

import requests

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.notifiers import DeliveryError, Notifier, redact
from heat_alarming.engine.notifiers.deadline import Deadline, DeadlineAdapter
from heat_alarming.engine.notifiers.destinations import Destination

RETRYABLE_STATUS = {408, 425, 429}


class PinnedAdapter(DeadlineAdapter):
    """Connects to one checked address whatever the URL's host resolves to now."""

    def __init__(self, destination: Destination, deadline: Deadline) -> None:
        self.destination = destination
        super().__init__(deadline)

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
        self.settings.policy.check_url(action, must_resolve=False,
                                       timeout=self.settings.timeout)

    def post(self, url: str, payload: dict, idempotency_key: str,
             extra_headers: dict | None = None,
             destination: Destination | None = None,
             deadline: Deadline | None = None) -> None:
        """POST ``payload`` to ``url`` at ``destination`` (checked here when not given),
        all before ``deadline`` (one ``notification_timeout`` from now when not given)."""
        if deadline is None:
            with Deadline(self.settings.timeout) as deadline:
                return self.post(url, payload, idempotency_key, extra_headers,
                                 destination, deadline)
        shown = redact(url)
        settings = self.settings
        if destination is None:
            destination = settings.policy.check_url(url, timeout=deadline.remaining())
        headers = {"Content-Type": "application/json",
                   "X-Idempotency-Key": idempotency_key,
                   "User-Agent": "heat-alarming",
                   "Host": destination.host_header}
        headers.update(extra_headers or {})
        cert = None
        if settings.client_cert:
            cert = (settings.client_cert, settings.client_key) if settings.client_key \
                else settings.client_cert
        adapter = PinnedAdapter(destination, deadline)
        try:
            left = deadline.remaining(f"{shown}: ")
            with requests.Session() as session:
                session.trust_env = False  # no proxies, .netrc or CA bundle from the env
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                # stream: the status line and headers are read, the body never is
                with session.post(url, data=json.dumps(payload), headers=headers,
                                  timeout=left, verify=settings.verify, cert=cert,
                                  allow_redirects=False, stream=True) as response:
                    status = response.status_code
        except requests.Timeout as exc:
            raise deadline.error(f"{shown}: ") from exc
        except requests.RequestException as exc:
            if deadline.expired:  # the deadline's timer shut the connection
                raise deadline.error(f"{shown}: ") from exc
            raise DeliveryError(f"{shown}: {exc.__class__.__name__}: {exc}") from exc
        if 300 <= status < 400:
            raise DeliveryError(f"{shown}: HTTP {status}, a redirect, which is "
                                "not followed", retryable=False)
        if status >= 400:
            retryable = status >= 500 or status in RETRYABLE_STATUS
            raise DeliveryError(f"{shown}: HTTP {status}", retryable=retryable)

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        self.post(action, payload, idempotency_key)
