"""``trust+http(s)://<trust_id>[:...]@host/path``: a webhook called with a trust-scoped token.

As Aodh's trust notifier: the trust id rides in the URL's user part; the
notifier authenticates to keystone as the service user scoped to that trust,
and calls the webhook with the token in ``X-Auth-Token``.  Tokens are cached
per trust until keystoneauth1 says they are near expiry.

The service user is Heat's trustee: the ``[trustee]`` section of heat.conf,
loaded with keystoneauth1's loading as heat-engine loads it for its own trusts
(:func:`trustee_from_conf`).  When ``[trustee]`` has no ``auth_type``, the
deprecated ``trust_*`` options of ``[heat_alarming]`` name a keystone v3
password user instead, and a warning says so when the settings are read.

The action is the tenant's to write, the token is the cloud's: before any
token is requested (when the alarm is defined, and at every delivery) the
trust is read from keystone as the service user, and it must delegate from
the alarm's own user in the alarm's own project to the service user.  A
trust that does not, and one keystone does not know, are refused with the
same words (:data:`TRUST_REFUSED`), so that trust ids cannot be probed.  The
destination is checked against the policy first, and the token goes only to
the checked address.  Trust ids are never logged nor recorded: messages
name the action through :func:`~heat_alarming.engine.notifiers.redact`.
The destination's resolution, the keystone calls and the webhook's call
share one ``notification_timeout`` (:mod:`.deadline`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import plugin as ks_plugin
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from oslo_config import cfg

from heat_alarming import GROUP
from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.notifiers import TRUST_USER_DOMAIN_NAME, DeliveryError
from heat_alarming.engine.notifiers.deadline import Deadline, DeadlineAdapter
from heat_alarming.engine.notifiers.http import HTTPNotifier

LOG = logging.getLogger(__name__)
#: Heat's section of its trustee, the service user that trusts delegate to
TRUSTEE_GROUP = "trustee"
TRUST_REFUSED = ("the trust is not one from the alarm's user in the alarm's project to the "
                 "service user, or it does not exist")
_TRUST_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
# where libraries below us write trust ids at DEBUG: urllib3 the path of a trust look-up,
# keystoneauth1 the body of a trust-scoped token
_TRUST_ID_IN_TEXT = re.compile(r"(/OS-TRUST/trusts/|\"OS-TRUST:trust\": \{[^{}]*?\"id\": \")"
                               r"[A-Za-z0-9_-]+")
_IDENTITY_V3 = {"service_type": "identity", "interface": ks_plugin.AUTH_INTERFACE,
                "version": (3, 0)}
_LOGGERS_THAT_SHOW_TRUST_IDS = ("urllib3.connectionpool", "keystoneauth.identity.v3.base",
                                "keystoneauth.session")


class _HideTrustIds(logging.Filter):
    """Masks trust ids in the DEBUG lines of the libraries that trust actions use."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # not ours to fix; let the handler report it
            return True
        if "OS-TRUST" in text:
            record.msg, record.args = _TRUST_ID_IN_TEXT.sub(r"\1***", text), ()
        return True


for _name in _LOGGERS_THAT_SHOW_TRUST_IDS:
    logging.getLogger(_name).addFilter(_HideTrustIds())


def split_trust_url(action: str) -> tuple[str, str]:
    """(trust_id, plain http(s) URL) from a trust+http(s) action URL."""
    parts = urlsplit(action)
    if not parts.username:
        raise DeliveryError("a trust id is required before '@'", retryable=False)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        raise DeliveryError("the port is not a number from 0 to 65535",
                            retryable=False) from None
    scheme = parts.scheme.split("+", 1)[1]
    return parts.username, urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


_DEPRECATED = "use Heat's [trustee] section, the service user heat-engine's trusts go to"

# deprecated: [trustee] names the service user; these are read only when it has no auth_type
trust_opts = [
    cfg.StrOpt("trust_auth_url", deprecated_for_removal=True, deprecated_reason=_DEPRECATED,
               help="Keystone v3 URL for trust+http(s) actions."),
    cfg.StrOpt("trust_username", deprecated_for_removal=True, deprecated_reason=_DEPRECATED,
               help="Service user that trust+http(s) actions authenticate as, scoped "
                    "to the trust named in the action URL."),
    cfg.StrOpt("trust_password", secret=True, deprecated_for_removal=True,
               deprecated_reason=_DEPRECATED, help="Password of trust_username."),
    cfg.StrOpt("trust_user_domain_name", default=TRUST_USER_DOMAIN_NAME,
               deprecated_for_removal=True, deprecated_reason=_DEPRECATED,
               help="Domain of trust_username."),
]


def password_auth(auth_url: str, username: str, password: str | None,
                  user_domain_name: str = TRUST_USER_DOMAIN_NAME,
                  trust_id: str | None = None) -> v3.Password:
    """A keystone v3 password plugin of ``username``, scoped to ``trust_id`` if given."""
    return v3.Password(auth_url=auth_url, username=username, password=password,
                       user_domain_name=user_domain_name, trust_id=trust_id)


def _trustee_auth(conf: cfg.ConfigOpts, trust_id: str | None):
    return ks_loading.load_auth_from_conf_options(conf, TRUSTEE_GROUP, trust_id=trust_id)


def trustee_from_conf(conf: cfg.ConfigOpts):
    """``trustee(trust_id) -> auth plugin`` of the service user trust actions
    authenticate as (see :attr:`NotifierSettings.trustee`), or None when none is
    configured.

    Heat's ``[trustee]`` when it has an ``auth_type`` (loaded now, so that a wrong
    section fails at start rather than at the first delivery); else the deprecated
    ``trust_*`` options, with a warning.
    """
    ks_loading.register_auth_conf_options(conf, TRUSTEE_GROUP)
    conf.register_opts(trust_opts, group=GROUP)
    group = conf[GROUP]
    if conf[TRUSTEE_GROUP].auth_type:
        ks_loading.load_auth_from_conf_options(conf, TRUSTEE_GROUP)
        if group.trust_auth_url or group.trust_username:
            LOG.warning("[%s] trust_auth_url and trust_username are ignored: [%s] names "
                        "the service user of trust actions, and their trusts must "
                        "delegate to it", GROUP, TRUSTEE_GROUP)
        return functools.partial(_trustee_auth, conf)
    if not (group.trust_auth_url or group.trust_username):
        return None
    LOG.warning("[%s] trust_auth_url, trust_username, trust_password and "
                "trust_user_domain_name are deprecated: trust actions use them because "
                "[%s] has no auth_type; configure [%s] (auth_type = password, auth_url, "
                "username, password, user_domain_name) as heat-engine reads it",
                GROUP, TRUSTEE_GROUP, TRUSTEE_GROUP)
    if not (group.trust_auth_url and group.trust_username):
        return None
    return functools.partial(password_auth, group.trust_auth_url, group.trust_username,
                             group.trust_password, group.trust_user_domain_name)


class TrustNotifier(HTTPNotifier):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._trust_auths: dict[str, object] = {}
        self._service_auth = None
        self._lock = threading.Lock()

    def _configured(self) -> None:
        settings = self.settings
        if settings.trustee is None and not (settings.trust_auth_url
                                             and settings.trust_username):
            raise DeliveryError(f"trust notifier: no service user: heat.conf's "
                                f"[{TRUSTEE_GROUP}] has no auth_type", retryable=False)

    def _new_auth(self, trust_id: str | None):
        settings = self.settings
        if settings.trustee is not None:
            return settings.trustee(trust_id)
        return password_auth(settings.trust_auth_url, settings.trust_username,
                             settings.trust_password, settings.trust_user_domain_name,
                             trust_id)

    def _auth(self, trust_id: str | None = None):
        """The service user's auth plugin, unscoped (it reads the trusts it is given) or
        scoped to ``trust_id``; each caches its token until near expiry."""
        with self._lock:
            auth = self._service_auth if trust_id is None else self._trust_auths.get(trust_id)
            if auth is None:
                auth = self._new_auth(trust_id)
                if trust_id is None:
                    self._service_auth = auth
                else:
                    self._trust_auths[trust_id] = auth
            return auth

    @contextlib.contextmanager
    def _keystone(self, auth, deadline: Deadline):
        """A keystoneauth1 session whose every call ends by ``deadline``."""
        with requests.Session() as http:
            adapter = DeadlineAdapter(deadline)
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            session = ks_session.Session(auth=auth, session=http, verify=self.settings.verify,
                                         timeout=deadline.remaining("keystone: "))
            try:
                yield session
            except ks_exceptions.ClientException as exc:
                if deadline.expired or isinstance(exc, ks_exceptions.RequestTimeout):
                    raise deadline.error("keystone: ") from exc
                raise

    def check_trust(self, trust_id: str, project_id: str | None, user_id: str | None,
                    deadline: Deadline | None = None) -> None:
        """Raise :class:`DeliveryError` unless the trust is the alarm owner's, to us
        (by ``deadline``: one ``notification_timeout`` from now when not given)."""
        self._configured()
        if not (project_id and user_id and _TRUST_ID.fullmatch(trust_id)):
            raise DeliveryError(TRUST_REFUSED, retryable=False)
        if deadline is None:
            with Deadline(self.settings.timeout) as deadline:
                return self.check_trust(trust_id, project_id, user_id, deadline)
        path = f"/OS-TRUST/trusts/{quote(trust_id, safe='')}"
        try:
            with self._keystone(self._auth(), deadline) as service:
                # keystone's v3 API where the service user authenticates
                response = service.get(path, endpoint_filter=_IDENTITY_V3, raise_exc=False,
                                       log=False)  # no trust id in logs
                trustee = service.get_user_id()
        except ks_exceptions.Unauthorized as exc:
            raise DeliveryError(f"keystone refused the service user: {exc}",
                                retryable=False) from exc
        except ks_exceptions.ClientException as exc:
            raise DeliveryError(f"keystone: {exc.__class__.__name__}") from exc
        if response.status_code in (403, 404):
            raise DeliveryError(TRUST_REFUSED, retryable=False)
        if response.status_code != 200:
            raise DeliveryError(f"keystone answered HTTP {response.status_code} to a trust "
                                "look-up")
        try:
            trust = response.json()["trust"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryError("keystone's answer to a trust look-up is not a trust") from None
        if not (isinstance(trust, dict) and trust.get("trustor_user_id") == user_id
                and trust.get("project_id") == project_id
                and trust.get("trustee_user_id") == trustee):
            raise DeliveryError(TRUST_REFUSED, retryable=False)

    def check(self, action: str, alarm: Alarm) -> None:
        trust_id, url = split_trust_url(action)
        with Deadline(self.settings.timeout) as deadline:
            self.settings.policy.check_url(url, must_resolve=False,
                                           timeout=deadline.remaining())
            self.check_trust(trust_id, alarm.project_id, alarm.user_id, deadline)

    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        trust_id, url = split_trust_url(action)
        with Deadline(self.settings.timeout) as deadline:  # one for all the calls below
            # the destination before keystone hears of it
            destination = self.settings.policy.check_url(url, timeout=deadline.remaining())
            lookup = self.settings.alarms
            alarm = lookup(payload.get("alarm_id")) if lookup is not None else None
            if alarm is None:
                raise DeliveryError("the alarm's owner is not known here: a trust action is "
                                    "only delivered for a defined alarm", retryable=False)
            self.check_trust(trust_id, alarm.project_id, alarm.user_id, deadline)
            try:
                with self._keystone(self._auth(trust_id), deadline) as session:
                    token = session.get_token()
            except ks_exceptions.Unauthorized as exc:
                raise DeliveryError(f"keystone refused a token for the trust: "
                                    f"{exc.__class__.__name__}", retryable=False) from exc
            except ks_exceptions.ClientException as exc:
                raise DeliveryError(f"keystone: {exc.__class__.__name__}") from exc
            self.post(url, payload, idempotency_key, {"X-Auth-Token": token}, destination,
                      deadline)
