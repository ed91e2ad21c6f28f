"""``OS::Metering::Alarm``: an alarm on a meter, evaluated inside heat-engine.

It accepts every property of ``OS::Aodh::Alarm`` (and Heat's common alarm
properties) and translates them into a :mod:`heat_alarming.engine` alarm;
beyond Aodh it takes ``exclude_outliers``, ``datapoints_to_alarm``,
``missing_data``, ``stabilization_window`` and the std/last/pNN statistics.
A signal with ``{"samples": [...]}`` pushes samples into the store under the
stack's project. The ``push_url`` attribute is such a signal's address for
servers that hold no keystone credentials: an EC2-signed heat-api-cfn URL of
a keystone user of Heat's stack-user domain, made for this alarm alone (the
way ``OS::Heat::ScalingPolicy`` makes its ``alarm_url``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from heat.common import exception
from heat.common.i18n import _
from heat.engine import attributes, constraints, properties, resource, support
from heat.engine.resources import alarm_base, signal_responder
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine import definitions
from heat_alarming.engine.alarm import MISSING_DATA, Alarm, AlarmError
from heat_alarming.engine.alarm_store import UnknownMarker
from heat_alarming.metering.sample import Sample
from heat_alarming.resources import actions
from heat_alarming.resources.runtime import get_runtime

COMMON = alarm_base.common_properties_schema
#: what an action is before the attribute it is made of resolves: Aodh templates write
#: ``str_replace: {template: trust+url, params: {url: {get_attr: [policy, signal_url]}}}``
UNRESOLVED = frozenset({"trust+"})


class MeteringAlarm(signal_responder.SignalResponder):
    """A threshold alarm on a meter, evaluated in heat-engine, acting in-process.

    Actions naming a scaling policy of the stack, or its ``alarm_url`` /
    ``signal_url``, signal the policy through the engine's own RPC.

    Samples arrive as signals (:meth:`handle_signal`), by any of three paths
    that all end in the same handler and limits: ``openstack stack resource
    signal`` with the user's token, ``signal_url`` (heat-api, any token of the
    project) and ``push_url`` (heat-api-cfn, no token: the URL is signed with
    the EC2 key of a stack-domain user that this alarm creates). That user and
    its key are created when the stack's template refers to ``push_url`` (at
    create, where a failure fails the create) or else when the attribute is
    first resolved (``openstack stack resource show`` resolves every
    attribute); suspend disables the user, resume enables it, delete deletes
    key and user (Heat's ``SignalResponder`` and ``StackUser``). A push writes
    no Heat event: see :meth:`handle_signal`.
    """

    support_status = support.SupportStatus(version="27.0.0")

    # a push stores samples and signals nothing on anyone's behalf: no trust or password
    # need be kept for it (SignalResponder's default is True)
    requires_deferred_auth = False

    PROPERTIES = (
        METER_NAME, STATISTIC, PERIOD, EVALUATION_PERIODS, THRESHOLD,
        COMPARISON_OPERATOR, MATCHING_METADATA, QUERY, EXCLUDE_OUTLIERS,
        DATAPOINTS_TO_ALARM, MISSING_DATA_, STABILIZATION_WINDOW,
    ) = (
        "meter_name", "statistic", "period", "evaluation_periods", "threshold",
        "comparison_operator", "matching_metadata", "query", "exclude_outliers",
        "datapoints_to_alarm", "missing_data", "stabilization_window",
    )

    ATTRIBUTES = (STATE, STATE_REASON, STATE_TIMESTAMP, HISTORY, EXPLANATION, PUSH_URL,
                  SIGNAL_URL) = (
        "state", "state_reason", "state_timestamp", "history", "explanation", "push_url",
        "signal_url")

    properties_schema = {
        METER_NAME: properties.Schema(
            properties.Schema.STRING, _("Meter name watched by the alarm."), required=True),
        STATISTIC: properties.Schema(
            properties.Schema.STRING,
            _("Statistic per period: count, avg, sum, min, max, std, last or pNN "
              "(a percentile such as p95)."),
            default=definitions.ALARM_DEFAULTS[STATISTIC], update_allowed=True,
            constraints=[constraints.AllowedPattern(
                r"^(count|avg|sum|min|max|std|last|p\d{1,2})$")]),
        PERIOD: properties.Schema(
            properties.Schema.INTEGER, _("Period (seconds) to evaluate over."),
            default=definitions.ALARM_DEFAULTS[PERIOD], update_allowed=True,
            constraints=[constraints.Range(min=1)]),
        EVALUATION_PERIODS: properties.Schema(
            properties.Schema.INTEGER, _("Number of periods to evaluate over."),
            default=definitions.ALARM_DEFAULTS[EVALUATION_PERIODS], update_allowed=True,
            constraints=[constraints.Range(min=1)]),
        THRESHOLD: properties.Schema(
            properties.Schema.NUMBER, _("Threshold to evaluate against."),
            required=True, update_allowed=True),
        COMPARISON_OPERATOR: properties.Schema(
            properties.Schema.STRING, _("Operator used to compare the statistic with "
                                        "the threshold."),
            default=definitions.ALARM_DEFAULTS[COMPARISON_OPERATOR], update_allowed=True,
            constraints=[alarm_base.BaseAlarm.QF_OP_VALS]),
        MATCHING_METADATA: properties.Schema(
            properties.Schema.MAP,
            _("Meter should match this resource metadata (key=value) additionally to "
              "the meter_name. Keys name user tags in any spelling Heat accepts."),
            default=definitions.ALARM_DEFAULTS[MATCHING_METADATA], update_allowed=True),
        QUERY: properties.Schema(
            properties.Schema.LIST,
            _("Query factors, each comparing a sample attribute with a value; combined "
              "with matching_metadata."),
            update_allowed=True,
            schema=properties.Schema(properties.Schema.MAP, schema={
                "field": properties.Schema(properties.Schema.STRING,
                                           _("Name of attribute to compare.")),
                "type": properties.Schema(properties.Schema.STRING,
                                          _("The type of the attribute."), default="string",
                                          constraints=[alarm_base.BaseAlarm.QF_TYPE_VALS]),
                "op": properties.Schema(properties.Schema.STRING, _("Comparison operator."),
                                        constraints=[alarm_base.BaseAlarm.QF_OP_VALS]),
                "value": properties.Schema(properties.Schema.STRING,
                                           _("Value to compare with.")),
            })),
        EXCLUDE_OUTLIERS: properties.Schema(
            properties.Schema.BOOLEAN,
            _("Exclude low-quality datapoints: periods whose sample count is beyond two "
              "standard deviations of the window's counts."),
            default=definitions.ALARM_DEFAULTS[EXCLUDE_OUTLIERS], update_allowed=True),
        DATAPOINTS_TO_ALARM: properties.Schema(
            properties.Schema.INTEGER,
            _("Alarm when this many of the evaluation periods breach (M of N)."),
            update_allowed=True, constraints=[constraints.Range(min=1)]),
        MISSING_DATA_: properties.Schema(
            properties.Schema.STRING, _("How periods without samples count."),
            default=definitions.ALARM_DEFAULTS[MISSING_DATA_], update_allowed=True,
            constraints=[constraints.AllowedValues(list(MISSING_DATA))]),
        STABILIZATION_WINDOW: properties.Schema(
            properties.Schema.INTEGER,
            _("Seconds a new state must hold before the alarm changes state (flapping "
              "protection); 0 changes at once."),
            default=definitions.ALARM_DEFAULTS[STABILIZATION_WINDOW], update_allowed=True,
            constraints=[constraints.Range(min=0)]),
    }
    properties_schema.update({k: v for k, v in COMMON.items()
                              if k not in alarm_base.INTERNAL_PROPERTIES})

    attributes_schema = {
        STATE: attributes.Schema(_("Current alarm state."), type=attributes.Schema.STRING,
                                 cache_mode=attributes.Schema.CACHE_NONE),
        STATE_REASON: attributes.Schema(_("Why the alarm is in its state."),
                                        type=attributes.Schema.STRING,
                                        cache_mode=attributes.Schema.CACHE_NONE),
        STATE_TIMESTAMP: attributes.Schema(_("When the alarm entered its state (ISO 8601)."),
                                           type=attributes.Schema.STRING,
                                           cache_mode=attributes.Schema.CACHE_NONE),
        HISTORY: attributes.Schema(_("The most recent state transitions, newest first."),
                                   type=attributes.Schema.LIST,
                                   cache_mode=attributes.Schema.CACHE_NONE),
        EXPLANATION: attributes.Schema(
            _("Why the alarm is in its state: a sentence (summary), then the facts of its "
              "latest round: the rule, the series its query matched (or the nearest), each "
              "period's value and samples, refused samples, the verdict and the last "
              "action's outcome."),
            type=attributes.Schema.MAP, cache_mode=attributes.Schema.CACHE_NONE),
        PUSH_URL: attributes.Schema(
            _('A pre-signed heat-api-cfn URL to PUT {"samples": [...]} to without '
              'credentials; the answer comes once the samples are stored or refused.'),
            type=attributes.Schema.STRING, cache_mode=attributes.Schema.CACHE_NONE),
        SIGNAL_URL: attributes.Schema(
            _('The heat-api URL to POST {"samples": [...]} to with a keystone token of '
              "the stack's project."),
            type=attributes.Schema.STRING),
    }

    # -- translation (heat_alarming.engine.definitions: one translation for the live
    # resource and the backtest's template reader) ---------------------------------
    def _rule(self, props) -> dict:
        """The rule of the definition (the Gnocchi alarms give theirs)."""
        return definitions.threshold_rule(props)

    def _engine_actions(self, props, key) -> list[str]:
        """A property's actions as engine action URLs.

        Values not resolved yet (a policy's ``alarm_url`` while the stack is
        only being validated, or Aodh's ``trust+`` put before it by
        ``str_replace``) are left out; they are resolved at create time.
        """
        return [actions.to_engine_action(str(a), self.stack) for a in props[key] or []
                if a is not None and a not in UNRESOLVED]

    def _identity(self) -> dict:
        return {"alarm_id": self.resource_id, "name": self.physical_resource_name(),
                "project_id": self.stack.identifier().tenant, "user_id": self.context.user_id}

    def _common_definition(self, props) -> dict:
        """Everything but the rule, from Heat's common alarm properties."""
        return definitions.common_definition(
            props, self._identity(), lambda key: self._engine_actions(props, key))

    def _definition(self, props=None) -> dict:
        props = props if props is not None else self.properties
        return definitions.threshold_definition(
            props, self._identity(), lambda key: self._engine_actions(props, key),
            rule=self._rule(props))

    #: the properties holding actions (CloudWatch names them differently)
    ACTION_PROPERTIES = (alarm_base.ALARM_ACTIONS, alarm_base.OK_ACTIONS,
                         alarm_base.INSUFFICIENT_DATA_ACTIONS)

    def validate(self):
        super().validate()
        definition = dict(self._definition(), alarm_id="validation")
        try:
            alarm = Alarm.from_dict(definition)
            # referenced alarms of a composite exist only once the stack is created
            get_runtime(start=False).evaluator.check(alarm, references=False)
        except AlarmError as exc:
            # the threshold rule's fields are properties of their own; every other field
            # (time_constraints[0].start, composite_rule.and[1]...) is a property's path
            field = exc.field.removeprefix("threshold_rule.")
            raise self._property_error(field, exc.reason) from None
        self._validate_action_targets()

    def _property_error(self, field: str, message: str) -> exception.StackValidationFailed:
        from heat.engine import rsrc_defn
        return exception.StackValidationFailed(
            error=_("Property error"),
            path=[self.stack.t.RESOURCES, self.name,
                  self.stack.t.get_section_name(rsrc_defn.PROPERTIES), field],
            message=message)

    def _validate_action_targets(self) -> None:
        """Refuse actions that signal a stack of another project, or a resource that
        does not exist, now where it can be known (delivery checks again, always)."""
        project = self.stack.identifier().tenant
        for key in self.ACTION_PROPERTIES:
            for index, action in enumerate(self.properties[key] or []):
                if action is None or action in UNRESOLVED:  # checked at create and delivery
                    continue
                if "://" not in str(action):
                    continue  # a resource name: looked up in this stack only
                problem = actions.check_engine_action(
                    actions.to_engine_action(str(action), self.stack), project)
                if problem:
                    raise self._property_error(
                        f"{key}[{index}]", _("may not signal: %s") % problem)

    # -- lifecycle --------------------------------------------------------
    def handle_create(self):
        # actions resolved only now (an attribute of a resource created before) are
        # checked like those known at validation
        self._validate_action_targets()
        self.resource_id_set(str(uuid.uuid4()))
        get_runtime(start=False).evaluator.define(self._definition())
        if self.PUSH_URL in self.referenced_attrs():
            # made now, so that a stack-user domain that does not work fails the create
            # rather than leaving the servers an empty URL
            if self._push_url() is None:
                raise exception.Error(_("no EC2 key could be made for push_url"))

    def _push_url(self) -> str | None:
        """The pre-signed push URL; the stack user and its key are made on first use.

        It is the ``/waitcondition`` form of Heat's signed URL (PUT), which
        heat-api-cfn hands to the engine as a synchronous signal: the pusher
        hears once its samples are stored, and so cannot outrun the engine,
        where the ``/signal`` form (POST) answers once they pass the check, and
        the engine stores them in a thread of its own. The URL
        carries no timestamp, so it does not expire; it stops working when the
        key is deleted (stack delete) or the user disabled (suspend).
        """
        return self._get_ec2_signed_url(signal_type=signal_responder.WAITCONDITION,
                                        never_expire=True)

    def handle_update(self, json_snippet, tmpl_diff, prop_diff):
        if prop_diff:
            self.properties = json_snippet.properties(self.properties_schema, self.context)
            self._validate_action_targets()
            get_runtime(start=False).evaluator.define(self._definition())

    def handle_delete(self):
        # the push credentials first: nothing can push to an alarm being deleted
        super().handle_delete()  # SignalResponder: key, URLs and stack user, where made
        if self.resource_id is not None:
            evaluator = get_runtime(start=False).evaluator
            try:
                evaluator.delete(self.resource_id)
            except AlarmError as exc:
                raise exception.Error(str(exc)) from None

    def handle_suspend(self):
        if self._get_user_id() is not None:
            super().handle_suspend()  # StackUser: disable the push_url's user
        if self.resource_id is not None:
            get_runtime(start=False).evaluator.set_enabled(self.resource_id, False)

    def handle_resume(self):
        if self._get_user_id() is not None:
            super().handle_resume()
        if self.resource_id is not None:
            get_runtime(start=False).evaluator.set_enabled(self.resource_id,
                                                           self._enabled_on_resume())

    def _enabled_on_resume(self) -> bool:
        """Whether the alarm evaluates again on resume: as its ``enabled`` property says."""
        return self.properties[alarm_base.ENABLED]

    def handle_check(self):
        try:
            get_runtime(start=False).evaluator.get(self.resource_id)
        except KeyError:
            raise exception.Error(_("alarm %s is not known to the evaluator")
                                  % self.resource_id) from None

    def _resolve_attribute(self, name):
        if name == self.EXPLANATION:
            return self._explanation()
        if self.resource_id is None:
            return None
        if is_history_page(name):
            return self._history_page(name)
        if name == self.PUSH_URL:
            return self._push_url()
        if name == self.SIGNAL_URL:
            return self._get_heat_signal_url()
        evaluator = get_runtime(start=False).evaluator
        # Any worker may resolve the attribute, but only the project's owner evaluates
        # the alarm: read the state the owner committed to the shared alarm database.
        alarm = evaluator.alarm_store.load_alarm(self.resource_id)
        if alarm is None:
            return None
        if name == self.STATE:
            return alarm.state
        if name == self.STATE_REASON:
            return alarm.state_reason
        if name == self.STATE_TIMESTAMP:
            if alarm.state_timestamp is None:
                return None
            return dt.datetime.fromtimestamp(alarm.state_timestamp, dt.timezone.utc).isoformat()
        if name == self.HISTORY:
            return [_history_row(h) for h in evaluator.history(self.resource_id, limit=10)]
        return None

    def _explanation(self) -> dict:
        """The evaluator's explanation of the alarm (:meth:`Runtime.explain`).

        The worker that evaluates the alarm explains from the facts of its latest
        round (or, when no round has decided it yet, by evaluating it now without
        changing anything); any other worker, with the project's samples of the
        sample journal. An alarm the evaluator does not know (not created
        yet, or deleted) is answered ``{"error": "..."}``, as a bad history page is:
        Heat would turn the exception into ``None``, which says nothing.
        """
        if self.resource_id is None:
            return {"error": _("the alarm is not created yet: nothing to explain")}
        try:
            return get_runtime(start=False).explain(self.resource_id)
        except KeyError:
            return {"error": _("alarm %s is not known to the evaluator (deleted, or not "
                               "created yet)") % self.resource_id}

    def _history_page(self, name: str) -> dict:
        """One page of the alarm's whole history, for a ``history_page`` name.

        heat-api's ``with_attr`` query parameter hands any name to the resource
        (Heat's ``format_resource_attributes`` resolves each one, after its own
        check that the stack is of the caller's project, without looking in the
        attributes schema), so ``openstack metering alarm history`` asks for
        ``history_page:<limit>`` and then ``history_page:<limit>:<marker>``
        with the last ``event_id`` of the page before. Heat turns an exception
        into ``None``; a bad name is answered ``{"error": "..."}`` instead, for
        the caller to see why.
        """
        try:
            limit, marker = parse_history_page(name)
        except ValueError as exc:
            return {"error": str(exc)}
        evaluator = get_runtime(start=False).evaluator
        try:
            rows = evaluator.history(self.resource_id, limit + 1, marker)
        except UnknownMarker:
            return {"error": _("%(page)s: marker %(marker)s is no event of this alarm")
                    % {"page": HISTORY_PAGE, "marker": marker}}
        entries = [_history_row(h) for h in rows[:limit]]
        more = len(rows) > limit
        return {"entries": entries, "next_marker": entries[-1]["event_id"] if more else None}

    # -- pushed samples -----------------------------------------------------
    def _signal_check_hook(self, details):
        """Refuse a bad push before Heat takes the signal on.

        heat-engine's ``resource_signal`` runs this hook inside the caller's
        RPC call, before the signal is handled (in a thread of its own, for
        heat-api's ``/signal`` and heat-api-cfn's ``/signal/``): a refusal
        raised here reaches the caller whatever the path, as a 400 that says
        what is wrong, where one raised by :meth:`handle_signal` is only
        logged (Heat wraps it in a ``ResourceFailure``, which carries the
        resource and which the RPC reply cannot serialise). The samples
        checked here are kept for :meth:`handle_signal` of the same details.
        (Heat 27's ``Resource._signal_check_hook``, extended.)
        """
        super()._signal_check_hook(details)
        if isinstance(details, dict) and "unset_hook" in details:
            return  # Heat clears the hook and does not call handle_signal
        self._checked = (details, self._checked_samples(details))

    def _checked_samples(self, details) -> list[Sample]:
        """A signal's rows as samples of the stack's project, all of them checked.

        The signal is bounded (rows, JSON bytes) before any row is read, and
        the store checks the whole batch (fields, window, the project's series
        quota) before anything is journalled or stored. Raises
        ``StackValidationFailed``, which RPC carries to the caller intact.
        """
        runtime = get_runtime(start=False)  # which registers the options
        limits = cfg.CONF[opts.GROUP]
        if not isinstance(details, dict) or "samples" not in details:
            raise _refusal(_("OS::Metering::Alarm signals carry {\"samples\": [...]}"))
        rows = details["samples"]
        if not isinstance(rows, list) or not rows:
            raise _refusal(_("samples: must be a non-empty list"))
        if len(rows) > limits.max_samples_per_signal:
            raise _refusal(_("samples: %(n)d rows is more than max_samples_per_signal "
                             "(%(max)d); nothing was stored")
                           % {"n": len(rows), "max": limits.max_samples_per_signal})
        size = _json_size(details)
        if size > limits.max_signal_bytes:
            raise _refusal(_("signal: %(n)d bytes of JSON is more than "
                             "max_signal_bytes (%(max)d); nothing was stored")
                           % {"n": size, "max": limits.max_signal_bytes})
        tenant = self.stack.identifier().tenant
        samples = [_pushed_sample(i, row, tenant) for i, row in enumerate(rows)]
        problems = runtime.store.check(samples)
        if problems:
            # remembered for the alarm's explanation: the push is refused whole
            runtime.store.note_refusals((tenant, samples[p.index].name, p.field, p.reason)
                                        for p in problems)
            first = problems[0]
            raise _refusal(_("%(where)s: %(r)s; nothing was stored")
                           % {"where": _row_field(first.index, first.field),
                              "r": first.reason})
        return samples

    _checked: tuple | None = None

    def handle_signal(self, details=None):
        """Ingest ``{"samples": [...]}`` under the stack's project, all rows or none.

        The samples are those :meth:`_signal_check_hook` checked for these
        very details, or are checked now (a signal from inside the engine).
        A stored push raises :class:`SamplesStored`, Heat's
        ``NoActionRequired``, so that Heat writes no SIGNAL event for it: a
        server pushing every few seconds would otherwise fill the stack's
        event list and make Heat purge the events worth keeping
        (``max_events_per_stack``).
        """
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is details:
            samples = checked[1]
        else:
            samples = self._checked_samples(details)
        tenant = self.stack.identifier().tenant
        raise SamplesStored(self.name,
                            get_runtime(start=False).push_samples(tenant, samples))

    signal_needs_metadata_updates = False


class SamplesStored(resource.NoActionRequired):
    """A push's samples are stored; raised so that Heat writes no event for the push.

    Heat's ``Resource._handle_signal`` records a SIGNAL event for every
    signal that returns, and none for one that raises ``NoActionRequired``
    (the same way its scaling policies stay silent in cooldown).
    """

    def __init__(self, res_name: str, stored: int) -> None:
        self.stored = stored
        Exception.__init__(self, _("%(res)s: %(n)d samples stored")
                           % {"res": res_name, "n": stored})


#: the name of a page of the whole history: ``history_page:<limit>[:<marker>]``
HISTORY_PAGE = "history_page"
#: the most entries one page holds
HISTORY_PAGE_MAX = 500
#: an event id as the alarm database keeps them (at most 64 characters)
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PAGE_LIMIT = re.compile(r"[0-9]{1,3}")


def is_history_page(name) -> bool:
    """Whether an attribute name asks for a page of the history (well formed or not)."""
    return isinstance(name, str) and name.split(":", 1)[0] == HISTORY_PAGE


def parse_history_page(name: str) -> tuple[int, str | None]:
    """``(limit, marker)`` of ``history_page:<limit>[:<marker>]``.

    Raises ``ValueError`` naming the part that is wrong: the limit is a whole
    number from 1 to :data:`HISTORY_PAGE_MAX` in ASCII digits, the marker an
    event id (letters, digits, ``-`` and ``_``, at most 64).
    """
    parts = name.split(":", 3)
    if len(parts) > 3:
        raise ValueError(_("%s: takes a limit and a marker, no more (history_page:"
                           "<limit>[:<marker>])") % HISTORY_PAGE)
    limit_text = parts[1] if len(parts) > 1 else ""
    if not _PAGE_LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= HISTORY_PAGE_MAX:
        raise ValueError(_("%(page)s: limit must be a whole number from 1 to %(max)d")
                         % {"page": HISTORY_PAGE, "max": HISTORY_PAGE_MAX})
    marker = parts[2] if len(parts) == 3 else None
    if marker is not None and not _EVENT_ID.fullmatch(marker):
        raise ValueError(_("%s: marker must be an event id (at most 64 letters, digits, "
                           "'-' or '_')") % HISTORY_PAGE)
    return int(limit_text), marker


def _history_row(entry) -> dict:
    """One history entry as the ``history`` attribute and history pages show it."""
    return {"event_id": entry.event_id, "timestamp": entry.timestamp, "type": entry.type,
            "previous": entry.previous, "current": entry.current, "reason": entry.reason}


#: what a pushed sample may carry (Sample.from_dict's names for its fields)
PUSHED_FIELDS = {"meter", "value", "resource_id", "timestamp", "unit", "metadata"}


def _row_field(index: int, field: str) -> str:
    """Where in the signal a sample field is, under the name the pushed row used."""
    if field == "sample":
        return f"samples[{index}]"
    name = {"name": "meter", "volume": "value", "resource_metadata": "metadata"}.get(field,
                                                                                  field)
    return f"samples[{index}].{name}"


def _refusal(message: str) -> exception.StackValidationFailed:
    """A refused signal, as an exception RPC carries back whole (heat-api and heat-api-cfn
    answer it with a 400 and the message)."""
    return exception.StackValidationFailed(message=message)


def _json_size(details: dict) -> int:
    """The JSON size of signal details, measured once; refuses what JSON cannot carry."""
    try:
        return len(json.dumps(details))
    except RecursionError:
        raise _refusal(_("signal: nested too deeply")) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise _refusal(_("signal: not JSON (%s)") % exc) from None


def _pushed_sample(i: int, row, tenant: str) -> Sample:
    """One pushed row as a sample of the stack's project; the row's shape is checked here,
    its values by the store."""
    if not isinstance(row, dict):
        raise _refusal(_("samples[%d]: must be a mapping") % i)
    unknown = set(row) - PUSHED_FIELDS
    if unknown:
        shown = sorted(str(k)[:40] for k in unknown)[:5]
        raise _refusal(_("samples[%(i)d]: unknown field(s) %(f)s")
                              % {"i": i, "f": shown})
    unit, metadata = row.get("unit"), row.get("metadata")
    # Sample.from_dict knows the meter/value/metadata spellings
    return Sample.from_dict(dict(row, project_id=tenant,
                                 unit="" if unit is None else unit,
                                 metadata={} if metadata is None else metadata))


def resource_mapping():
    return {"OS::Metering::Alarm": MeteringAlarm,
            "OS::Ceilometer::Alarm": MeteringAlarm}
