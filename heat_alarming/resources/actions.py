"""Alarm actions inside heat-engine: which actions name a stack resource, and signalling it.

An action may name a policy resource of the alarm's stack, or carry an
``alarm_url`` (CFN signed ARN URL, also ``AlarmUrl``) or ``signal_url``
(orchestration API URL, also with Aodh's ``trust+`` prefix) of a scaling
policy.  Such actions are rewritten to
``inproc://heat-signal/<tenant>/<stack_name>/<stack_id>/<resource>`` and
delivered by :class:`HeatSignaller` through the engine's own RPC, never over
HTTP.  Any other action URL is left to the engine library's notifiers.

The tenant written in an action is never trusted: :func:`resolve_target`
finds the stack by its id in Heat's database and compares the project Heat
stores for it with the alarm's project, at template validation and again at
every delivery (the RPC runs with an admin context, which skips Heat's own
tenant check).  A stack that does not exist and a stack of another project
are refused with the same words, so that an action cannot probe for stacks.

Delivery is exactly-once per notification for Heat targets, across engine
crashes (docs/heat.md, "Exactly-once scale actions"): before it signals, the
signaller records what the policy's group looked like; a redelivery first
looks for the policy's SIGNAL event carrying the notification's key, then at
the group, and signals again only if the first attempt never reached it.
"""
from __future__ import annotations

import datetime
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
#: Heat's stack ids and our notification keys (uuid4 text); anything else names neither
_STACK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: the history entry a signaller writes before it signals (see HeatSignaller)
SENDING = "action sending"
#: why Heat dropped a signal (an "ignored" outcome's ``why``)
IGNORED_BECAUSE = (COOLDOWN, SCALING, NO_CHANGE, UNKNOWN_REASON) = (
    "cooldown", "scaling_in_progress", "no_change", "unknown")
#: how many of a policy's newest SIGNAL events a redelivery looks through
EVENTS_LOOKED_AT = 20


def signal_action(tenant: str, stack_name: str, stack_id: str, resource: str) -> str:
    parts = "/".join(quote(p, safe="") for p in (tenant, stack_name, stack_id, resource))
    return f"inproc://{TARGET}/{parts}"


def parse_signal_action(action: str) -> tuple[str, str, str, str]:
    path = urlsplit(action).path.strip("/").split("/")
    if len(path) != 4 or urlsplit(action).netloc != TARGET:
        raise DeliveryError(f"{action}: not a heat-signal action", retryable=False)
    return tuple(unquote(p) for p in path)  # type: ignore[return-value]


def is_signal_action(action: str) -> bool:
    return action.startswith(f"inproc://{TARGET}/")


def to_engine_action(action: str, stack) -> str:
    """The engine action for a template action: a signal for policies, else unchanged."""
    if "://" not in action:
        if action in stack:  # a resource name of this stack
            owner = stack.identifier()
            return signal_action(owner.tenant, owner.stack_name, owner.stack_id, action)
        return action
    if "/signal/arn" in action or "arn%3Aopenstack%3Aheat" in action.lower():
        try:
            rid = identifier.ResourceIdentifier.from_arn_url(action)
            owner = rid.stack()
            return signal_action(owner.tenant, owner.stack_name, owner.stack_id,
                                 rid.resource_name)
        except ValueError:
            return action
    match = _SIGNAL_PATH.search(urlsplit(action).path)
    # Aodh templates write trust+<signal_url>: Aodh, outside Heat, needs the trust to
    # call heat-api; signalled in-process the policy needs none (the checks are the same)
    if match and urlsplit(action).scheme in ("http", "https", "trust+http", "trust+https"):
        return signal_action(unquote(match["tenant"]), unquote(match["name"]),
                             unquote(match["id"]), unquote(match["res"]))
    return action


class TargetRefused(Exception):
    """An action names a stack or resource that the alarm may not signal."""


def resolve_target(project: str | None, stack_name: str, stack_id: str,
                   resource: str) -> identifier.HeatIdentifier:
    """The identity Heat stores for the stack an action names, checked for ``project``.

    The stack is looked up by its id; the action's tenant is ignored. The
    stack must be ``project``'s (Heat's ``stack.tenant``), carry the name the
    action gives, and hold ``resource``. Raises :class:`TargetRefused` with one
    message for a missing stack and for another project's stack.
    """
    refusal = TargetRefused(f"stack {stack_name}/{stack_id} is not a stack of project "
                            f"{project}")
    if not project or not _STACK_ID.match(stack_id):
        raise refusal
    from heat.objects import resource as resource_object
    from heat.objects import stack as stack_object
    admin = heat_context.get_admin_context()
    stored = stack_object.Stack.get_by_id(admin, stack_id)
    if stored is None or stored.tenant != project or stored.name != stack_name:
        raise refusal
    if resource_object.Resource.get_by_name_and_stack(admin, resource, stack_id) is None:
        raise TargetRefused(f"stack {stack_name} has no resource {resource}")
    return identifier.HeatIdentifier(stored.tenant, stored.name, stored.id)


def check_engine_action(action: str, project: str | None) -> str | None:
    """Why an alarm of ``project`` may not have this engine action (None: it may)."""
    if not is_signal_action(action):
        return None
    try:
        _, stack_name, stack_id, resource = parse_signal_action(action)
        resolve_target(project, stack_name, stack_id, resource)
    except DeliveryError as exc:
        return str(exc)
    except TargetRefused as exc:
        return str(exc)
    return None


def marker(idempotency_key: str) -> str:
    """What a signal's reason carries so that Heat's SIGNAL event names its notification."""
    return f"[notification {idempotency_key}]"


def with_marker(text: str, details) -> str:
    """``text`` (a policy's own SIGNAL event reason) ending with the marker of the
    notification that ``details`` came from, when they carry one of our keys (uuids)."""
    key = details.get("idempotency_key")
    if isinstance(key, str) and _STACK_ID.match(key):
        return f"{text} {marker(key)}"
    return text


#: the longest event reason Heat keeps (its column; longer reasons are cut)
EVENT_REASON_LENGTH = 255


def _reason_with_marker(payload: dict, key: str) -> str:
    """The signal's reason ending with the notification's marker, the reason shortened
    so that the whole event text Heat builds from it stays within what Heat keeps."""
    frame = (f"alarm state changed from {payload['previous']} to {payload['current']} "
             f"( {marker(key)})")
    room = EVENT_REASON_LENGTH - len(frame)
    reason = str(payload["reason"])
    if len(reason) > room:
        reason = reason[:max(0, room - 3)] + "..."
    return f"{reason} {marker(key)}"


class _Group:
    """The autoscaling group a policy resource adjusts, read through Heat's objects."""

    def __init__(self, stack, group, nested) -> None:
        self.stack = stack  # a resource holds its stack by a weak reference only
        self.resource = group
        self.nested = nested

    @classmethod
    def of(cls, stack_id: str, policy_name: str) -> _Group | None:
        """The group of the policy (None: the resource is no scaling policy of a group)."""
        from heat.engine import stack as parser
        admin = heat_context.get_admin_context()
        # the stored context: a resize updates the nested stack through the RPC
        stack = parser.Stack.load(admin, stack_id=stack_id, use_stored_context=True)
        policy = stack.resource_get(policy_name)
        prop = getattr(type(policy), "AUTO_SCALING_GROUP_NAME", None)
        if policy is None or prop is None:
            return None
        group = stack.resource_by_refid(policy.properties[prop])
        if group is None or not callable(getattr(group, "resize", None)):
            return None
        nested = group.nested()
        return None if nested is None else cls(stack, group, nested)

    def snapshot(self) -> dict:
        """What changes when a resize begins: the nested stack's template and traversal."""
        return {"nested": self.nested.id, "template": self.nested.t.id,
                "traversal": self.nested.current_traversal}

    def scaling(self) -> bool:
        return bool(self.resource.metadata_get().get("scaling_in_progress"))

    def ignored_because(self) -> tuple[str, str]:
        """Why Heat just dropped a signal, from the group's metadata as it is now:
        (code, words), the code one of :data:`IGNORED_BECAUSE`."""
        metadata = self.resource.metadata_get(refresh=True) or {}
        if metadata.get("scaling_in_progress"):
            return SCALING, "the group is scaling (a resize in progress)"
        ends = metadata.get("cooldown_end") or {}
        now = datetime.datetime.utcnow()
        for stamp in ends if isinstance(ends, dict) else ():
            try:
                end = datetime.datetime.fromisoformat(str(stamp))
            except ValueError:
                continue
            if end > now:
                return COOLDOWN, f"the group's cooldown runs until {stamp} UTC"
        return NO_CHANGE, ("the adjustment changes nothing: the group is at its size "
                           "limit")

    def settled(self) -> bool:
        return self.nested.status == self.nested.COMPLETE

    def finish_resize(self) -> None:
        """Bring the nested stack to the size its current template has (the resize the
        engine died in), as a resize of the group does."""
        size = len(self.nested.t.resource_definitions(self.nested))
        self.resource.resize(size)

    def clear_scaling(self) -> None:
        """Heat's own reset of ``scaling_in_progress`` (what a mark-healthy runs)."""
        self.resource.handle_metadata_reset()

    def forget_attributes(self) -> None:
        """Drop the group's stored attributes (``current_size`` ...), as Heat does after
        every resize, so that outputs read the new size, not the one the dead engine
        left cached."""
        self.resource.clear_stored_attributes()


class HeatSignaller:
    """Delivers ``heat-signal`` actions with ``EngineClient.resource_signal``.

    The RPC runs with an admin context (the engine then acts with the stack's
    stored credentials), so the target stack is resolved by its id and Heat's
    project for it is compared with the alarm's first: an alarm can never act
    on another project's stack.

    A notification is delivered at least once (the dispatcher retries what a
    crash left unconfirmed); this makes the scale action happen once. Before
    signalling it records in the alarm's history (:data:`SENDING`) the state of
    the policy's group. A redelivery of the same notification:

    * finds the policy's SIGNAL event naming the notification: done, not resent;
    * else, if the group's nested stack changed since the record, the first
      attempt's resize began: it is completed if the engine died in it, a stale
      ``scaling_in_progress`` is cleared, and the action counts as signalled;
    * else the first attempt never resized: a ``scaling_in_progress`` that it
      left (the engine died between Heat's cooldown check and the resize) is
      cleared, so that the resend is not taken for a cooldown, and it signals.
    """

    def __init__(self, project_of_alarm, threshold_of_alarm=None, record=None,
                 history_of_alarm=None, clock=time.time) -> None:
        self._project_of_alarm = project_of_alarm
        self._clock = clock  # the evaluator's: what it records sorts among its transitions
        self._threshold_of_alarm = threshold_of_alarm or (lambda alarm_id: None)
        self._record = record or (lambda payload, text, data, kind="action": None)
        self._history_of_alarm = history_of_alarm or (lambda alarm_id: [])
        self._client = None
        # one signal at a time per policy: the outcome is read from Heat's newest
        # event, which two signals in flight to the same policy would both see change
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, stack_id: str, resource: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((stack_id, resource), threading.Lock())

    def _target(self, payload: dict) -> tuple[dict, str, str]:
        _, stack_name, stack_id, resource = parse_signal_action(payload["action"])
        project = self._project_of_alarm(payload["alarm_id"])
        try:
            ident = resolve_target(project, stack_name, stack_id, resource)
        except TargetRefused as exc:
            raise DeliveryError(f"alarm {payload['alarm_id']} of project {project} may not "
                                f"signal {resource}: {exc}", retryable=False) from None
        return dict(ident), resource, ident.stack_name

    def _details(self, payload: dict) -> dict:
        details = {k: payload[k] for k in ("alarm_id", "alarm_name", "severity", "previous",
                                           "current", "reason", "reason_data")}
        # beyond Aodh's keys: what OS::Metering::ScalingPolicy's steps and targets need
        details["value"] = (payload.get("reason_data") or {}).get("most_recent")
        details["threshold"] = self._threshold_of_alarm(payload["alarm_id"])
        key = payload.get("idempotency_key")
        if key:
            # Heat writes "alarm state changed from <previous> to <current> (<reason>)"
            # as the SIGNAL event's reason: the key at the end of the reason names the
            # notification there and keeps the text readable
            details["idempotency_key"] = key
            details["reason"] = _reason_with_marker(payload, key)
        return details

    def __call__(self, payload: dict) -> None:
        ident, resource, stack_name = self._target(payload)
        if self._client is None:
            self._client = rpc_client.EngineClient()
        details = self._details(payload)
        key = payload.get("idempotency_key")
        admin = heat_context.get_admin_context()
        with self._lock_for(ident["stack_id"], resource):
            if key and self._done_before(payload, admin, ident, resource, stack_name, key):
                return
            group = _Group.of(ident["stack_id"], resource)
            before = self._newest_signal_event(admin, ident, resource)
            self._record(payload, f"signalling {resource} of stack {stack_name}",
                         {"action": payload["action"], "idempotency_key": key,
                          "group": group.snapshot() if group else None}, SENDING)
            sent = self._clock()
            # synchronous, so that what Heat did is known when the call returns
            self._client.resource_signal(admin, ident, resource, details, sync_call=True)
            after = self._newest_signal_event(admin, ident, resource)
        if after != before:
            LOG.info("Signalled %s of stack %s: alarm %s %s -> %s", resource, stack_name,
                     payload["alarm_name"], payload["previous"], payload["current"])
            self._signalled(payload, resource, stack_name, sent=sent)
        else:
            # Heat drops a signal without an event during a cooldown, while the group is
            # scaling, or when the adjustment changes nothing: say so in the history.
            why, words = (UNKNOWN_REASON, "cooldown, scaling in progress or no change")
            if group is not None:
                try:
                    why, words = group.ignored_because()
                except Exception:  # the reason is a courtesy; the outcome is recorded
                    LOG.debug("Could not read why Heat ignored a signal", exc_info=True)
            LOG.info("Heat ignored the signal to %s of stack %s: %s", resource, stack_name,
                     words)
            self._record(payload, f"Heat ignored the signal to {resource} of stack "
                                  f"{stack_name}: {words}",
                         {"action": payload["action"], "outcome": "ignored", "sent": sent,
                          "why": why, "idempotency_key": key})

    def _signalled(self, payload: dict, resource: str, stack_name: str, *, sent=None,
                   recovered: str = "") -> None:
        text = f"signalled {resource} of stack {stack_name}"
        data = {"action": payload["action"], "outcome": "signalled", "done": self._clock(),
                "idempotency_key": payload.get("idempotency_key")}
        if sent is not None:
            data["sent"] = sent
        if recovered:
            text, data["recovered"] = f"{text} ({recovered})", recovered
        self._record(payload, text, data)

    # -- redelivery ----------------------------------------------------------------
    def _done_before(self, payload: dict, ctx, ident: dict, resource: str, stack_name: str,
                     key: str) -> bool:
        """Whether an earlier attempt at this notification reached Heat (finishing what
        the engine's death left half done); False: signal now."""
        if self._event_for(ctx, ident, resource, key):
            LOG.info("Notification %s already signalled %s of stack %s; not resent", key,
                     resource, stack_name)
            self._signalled(payload, resource, stack_name,
                            recovered="Heat's SIGNAL event for this notification was there")
            return True
        attempt = self._earlier_attempt(payload["alarm_id"], key)
        if attempt is None or not attempt.get("group"):
            return False  # never sent, or no group to tell from: the event said no
        group = _Group.of(ident["stack_id"], resource)
        if group is None:
            return False
        if group.snapshot() == attempt["group"]:
            # the resize never began: a scaling_in_progress now is the one the dead
            # attempt set after Heat's cooldown check, not a resize of somebody's
            if group.scaling() and group.settled():
                LOG.warning("Clearing the scaling_in_progress that an interrupted signal "
                            "of notification %s left on %s", key, group.resource.name)
                group.clear_scaling()
            return False
        if not group.settled():
            LOG.warning("Completing the resize of %s that the engine died in (notification "
                        "%s)", group.resource.name, key)
            group.finish_resize()
            recovered = "the resize the engine died in was completed"
        else:
            recovered = "Heat had resized the group before the engine died"
        group.forget_attributes()
        if group.scaling():
            group.clear_scaling()
        self._signalled(payload, resource, stack_name, recovered=recovered)
        return True

    def _earlier_attempt(self, alarm_id: str, key: str) -> dict | None:
        for entry in self._history_of_alarm(alarm_id):
            if entry.type == SENDING and entry.reason_data.get("idempotency_key") == key:
                return entry.reason_data
        return None

    def _event_for(self, ctx, ident: dict, resource: str, key: str) -> bool:
        wanted = marker(key)
        events = self._client.list_events(ctx, ident, filters={
            "resource_name": resource, "resource_action": "SIGNAL"},
            limit=EVENTS_LOOKED_AT, sort_dir="desc")
        return any(wanted in (e.get("resource_status_reason") or "") for e in events)

    def _newest_signal_event(self, ctx, ident: dict, resource: str):
        """The identity of the resource's newest SIGNAL event (None: none yet). A count
        would not do: Heat purges a stack's oldest events past max_events_per_stack."""
        events = self._client.list_events(ctx, ident, filters={
            "resource_name": resource, "resource_action": "SIGNAL"}, limit=1,
            sort_dir="desc")
        return events[0].get("event_identity") if events else None
