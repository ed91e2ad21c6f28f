"""Alarm actions inside heat-engine: which actions name a stack resource, and signalling it.

An action may name a policy resource of the alarm's stack, or carry an
``alarm_url`` (CFN signed ARN URL, also ``AlarmUrl``) or ``signal_url``
(orchestration API URL) of a scaling policy.  Such actions are rewritten to
``inproc://heat-signal/<tenant>/<stack_name>/<stack_id>/<resource>`` and
delivered by :class:`HeatSignaller` through the engine's own RPC, never over
HTTP.  Any other action URL is left to the engine library's notifiers.
"""
from __future__ import annotations

import re
import threading
import time
from urllib.parse import quote, unquote, urlsplit

from heat.common import context as heat_context
from heat.common import identifier
from heat.rpc import client as rpc_client
from oslo_log import log as logging

from heat_alarming.engine.notifiers import DeliveryError

LOG = logging.getLogger(__name__)
TARGET = "heat-signal"
_SIGNAL_PATH = re.compile(r"/(?P<tenant>[^/]+)/stacks/(?P<name>[^/]+)/(?P<id>[^/]+)"
                          r"/resources/(?P<res>[^/]+)/signal/?$")


def signal_action(tenant: str, stack_name: str, stack_id: str, resource: str) -> str:
    parts = "/".join(quote(p, safe="") for p in (tenant, stack_name, stack_id, resource))
    return f"inproc://{TARGET}/{parts}"


def parse_signal_action(action: str) -> tuple[str, str, str, str]:
    path = urlsplit(action).path.strip("/").split("/")
    if len(path) != 4:
        raise DeliveryError(f"{action}: not a heat-signal action", retryable=False)
    return tuple(unquote(p) for p in path)  # type: ignore[return-value]


def to_engine_action(action: str, stack) -> str:
    """The engine action for a template action: a signal for policies, else unchanged."""
    if "://" not in action:
        if action in stack:  # a resource name of this stack
            owner = stack.identifier()
            return signal_action(owner.tenant, owner.stack_name, owner.stack_id, action)
        return action
    if "/signal/arn" in action or "arn%3Aopenstack%3Aheat" in action:
        try:
            rid = identifier.ResourceIdentifier.from_arn_url(action)
            owner = rid.stack()
            return signal_action(owner.tenant, owner.stack_name, owner.stack_id,
                                 rid.resource_name)
        except ValueError:
            return action
    match = _SIGNAL_PATH.search(urlsplit(action).path)
    if match and urlsplit(action).scheme in ("http", "https"):
        return signal_action(unquote(match["tenant"]), unquote(match["name"]),
                             unquote(match["id"]), unquote(match["res"]))
    return action


class HeatSignaller:
    """Delivers ``heat-signal`` actions with ``EngineClient.resource_signal``.

    The RPC runs with an admin context (the engine then acts with the stack's
    stored credentials), so the target stack's project is checked against
    the alarm's first: an alarm can never act on another project's stack.
    """

    def __init__(self, project_of_alarm, threshold_of_alarm=None, record=None) -> None:
        self._project_of_alarm = project_of_alarm
        self._threshold_of_alarm = threshold_of_alarm or (lambda alarm_id: None)
        self._record = record or (lambda payload, text, data: None)
        self._client = None
        # one signal at a time per policy: the outcome is read from Heat's event
        # count, which two signals in flight to the same policy would both see grow
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, stack_id: str, resource: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((stack_id, resource), threading.Lock())

    def __call__(self, payload: dict) -> None:
        tenant, stack_name, stack_id, resource = parse_signal_action(payload["action"])
        project = self._project_of_alarm(payload["alarm_id"])
        if project != tenant:
            raise DeliveryError(f"alarm {payload['alarm_id']} of project {project} may not "
                                f"signal {resource} in project {tenant}'s stack "
                                f"{stack_name}", retryable=False)
        if self._client is None:
            self._client = rpc_client.EngineClient()
        details = {k: payload[k] for k in ("alarm_id", "alarm_name", "severity", "previous",
                                           "current", "reason", "reason_data")}
        # beyond Aodh's keys: what OS::Metering::ScalingPolicy's steps and targets need
        details["value"] = (payload.get("reason_data") or {}).get("most_recent")
        details["threshold"] = self._threshold_of_alarm(payload["alarm_id"])
        ident = dict(identifier.HeatIdentifier(tenant, stack_name, stack_id))
        admin = heat_context.get_admin_context()
        with self._lock_for(stack_id, resource):
            before = self._newest_signal_event(admin, ident, resource)
            sent = time.time()
            # synchronous, so that what Heat did is known when the call returns
            self._client.resource_signal(admin, ident, resource, details, sync_call=True)
            after = self._newest_signal_event(admin, ident, resource)
        if after != before:
            LOG.info("Signalled %s of stack %s: alarm %s %s -> %s", resource, stack_name,
                     payload["alarm_name"], payload["previous"], payload["current"])
            self._record(payload, f"signalled {resource} of stack {stack_name}",
                         {"action": payload["action"], "outcome": "signalled",
                          "sent": sent, "done": time.time()})
        else:
            # Heat drops a signal without an event during a cooldown, while the group is
            # scaling, or when the adjustment changes nothing: say so in the history.
            LOG.info("Heat ignored the signal to %s of stack %s (cooldown, scaling in "
                     "progress or no change)", resource, stack_name)
            self._record(payload, f"Heat ignored the signal to {resource} of stack "
                                  f"{stack_name}: cooldown, scaling in progress or no change",
                         {"action": payload["action"], "outcome": "ignored", "sent": sent})

    def _newest_signal_event(self, ctx, ident: dict, resource: str):
        """The identity of the resource's newest SIGNAL event (None: none yet). A count
        would not do: Heat purges a stack's oldest events past max_events_per_stack."""
        events = self._client.list_events(ctx, ident, filters={
            "resource_name": resource, "resource_action": "SIGNAL"}, limit=1,
            sort_dir="desc")
        return events[0].get("event_identity") if events else None
