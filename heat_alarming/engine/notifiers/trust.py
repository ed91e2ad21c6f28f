"""``trust+http(s)://<trust_id>[:...]@host/path``: a webhook called with a trust-scoped token.

As Aodh's trust notifier: the trust id rides in the URL's user part; the
notifier authenticates to keystone (keystoneauth1, v3 password plugin) as
the configured service user scoped to that trust, and calls the webhook
with the token in ``X-Auth-Token``.  Tokens are cached per trust until
keystoneauth1 says they are near expiry.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from heat_alarming.engine.notifiers import DeliveryError
from heat_alarming.engine.notifiers.http import HTTPNotifier


def split_trust_url(action: str) -> tuple[str, str]:
    """(trust_id, plain http(s) URL) from a trust+http(s) action URL."""
    parts = urlsplit(action)
    if not parts.username:
        raise DeliveryError(f"{action}: a trust id is required before '@'", retryable=False)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    scheme = parts.scheme.split("+", 1)[1]
    return parts.username, urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


class TrustNotifier(HTTPNotifier):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._sessions: dict[str, ks_session.Session] = {}
        self._lock = threading.Lock()

    def _session_for(self, trust_id: str) -> ks_session.Session:
        settings = self.settings
        if not (settings.trust_auth_url and settings.trust_username):
            raise DeliveryError("trust notifier: trust_auth_url and trust_username are not "
                                "configured", retryable=False)
        with self._lock:
            session = self._sessions.get(trust_id)
            if session is None:
                auth = v3.Password(auth_url=settings.trust_auth_url,
                                   username=settings.trust_username,
                                   password=settings.trust_password,
                                   user_domain_name=settings.trust_user_domain_name,
                                   trust_id=trust_id)
                session = ks_session.Session(auth=auth, verify=settings.verify,
                                             timeout=settings.timeout)
                self._sessions[trust_id] = session
            return session

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        trust_id, url = split_trust_url(action)
        try:
            token = self._session_for(trust_id).get_token()
        except ks_exceptions.Unauthorized as exc:
            raise DeliveryError(f"keystone refused trust {trust_id}: {exc}",
                                retryable=False) from exc
        except ks_exceptions.ClientException as exc:
            raise DeliveryError(f"keystone: {exc}") from exc
        self.post(url, payload, idempotency_key, {"X-Auth-Token": token})
