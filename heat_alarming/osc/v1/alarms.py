"""``openstack metering alarm list | show | state | history | explain``.

An alarm is a resource of one of :data:`ALARM_TYPES` in a stack of the
caller's project (nested stacks included, to ``--nested-depth``). The commands
read it with heat-api's resource show: its attributes, and for ``history``
the attribute names ``history_page:<limit>[:<marker>]``, which heat-api
passes to the resource (``?with_attr=``) and the alarm answers with one page
of its whole history, newest first; ``explain`` reads the ``explanation``
attribute (why the alarm is in its state). heat-api answers only for stacks of the
caller's project, so nobody reads another project's alarms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import re

from cliff import columns
from heatclient import exc as heat_exc
from osc_lib import exceptions
from osc_lib.command import command

from heat_alarming.osc.v1.explanation import SummaryColumn, explanation_fields

LOG = logging.getLogger(__name__)

#: the resource types of heat-alarming's alarms (as ``resources/plugin.py`` registers
#: them); a type that an environment maps to one of them under another name is not seen
ALARM_TYPES = frozenset({
    "OS::Metering::Alarm", "OS::Ceilometer::Alarm", "OS::Metering::CompositeAlarm",
    "OS::Metering::PrometheusAlarm", "OS::Metering::GnocchiAggregationByResourcesAlarm",
    "OS::Metering::GnocchiResourcesAlarm", "AWS::CloudWatch::Alarm"})
STATE_ATTRIBUTES = ("state", "state_reason", "state_timestamp")
#: a page of the history: the attribute name the alarms answer, and the most entries one
#: page holds (both as ``resources/alarm.py`` has them)
HISTORY_PAGE = "history_page"
HISTORY_PAGE_MAX = 500
#: the attribute that explains the alarm's state (``resources/alarm.py``'s name)
EXPLANATION = "explanation"
DEFAULT_PAGE_SIZE = 100
#: Heat's own default of ``max_nested_stack_depth``, which caps any deeper request
DEFAULT_NESTED_DEPTH = 5
#: a stack's name (Heat's rule: a letter first, then letters, digits, ``_.-``) or ID,
#: optionally ``name/ID``
_STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(/[A-Za-z0-9-]{1,64})?")
#: an event id (the alarm database's form, which the alarms check again)
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AlarmRef:
    """Where an alarm is: its stack (``name/ID``), resource name, ID and type."""

    def __init__(self, resource) -> None:
        self.stack = _stack_of(resource)
        self.stack_name = self.stack.split("/", 1)[0]
        self.name = resource.resource_name
        self.alarm_id = resource.physical_resource_id or ""
        self.type = resource.resource_type
        self.status = getattr(resource, "resource_status", "")


def _stack_of(resource) -> str:
    """``name/ID`` of the stack that holds a listed resource, from its ``stack`` link."""
    for link in getattr(resource, "links", None) or []:
        if link.get("rel") == "stack":
            return "/".join(link["href"].rstrip("/").split("/")[-2:])
    raise exceptions.CommandError(
        f"resource {resource.resource_name}: heat-api gave no link to its stack")


def check_stack(stack: str | None) -> str | None:
    if stack is not None and not _STACK.fullmatch(stack):
        raise exceptions.CommandError(
            "--stack: must be a stack name or ID (letters, digits, '_', '.', '-')")
    return stack


def alarms_of_stack(client, stack: str, nested_depth: int) -> list[AlarmRef]:
    try:
        resources = client.resources.list(stack, nested_depth=nested_depth)
    except heat_exc.HTTPNotFound:
        raise exceptions.CommandError(f"stack {stack}: not found") from None
    return [AlarmRef(r) for r in resources if r.resource_type in ALARM_TYPES]


def list_alarms(client, stack: str | None, nested_depth: int) -> list[AlarmRef]:
    """The alarms of one stack, or of every stack of the project."""
    if stack is not None:
        return alarms_of_stack(client, stack, nested_depth)
    found = []
    for each in client.stacks.list():
        try:
            found += alarms_of_stack(client, f"{each.stack_name}/{each.id}", nested_depth)
        except exceptions.CommandError:  # deleted since it was listed
            LOG.debug("stack %s/%s went away while alarms were listed", each.stack_name,
                      each.id)
    return found


def find_alarm(client, alarm: str, stack: str | None, nested_depth: int) -> AlarmRef:
    """The alarm of this ID, or else the only alarm of this resource name."""
    candidates = list_alarms(client, stack, nested_depth)
    for ref in candidates:
        if ref.alarm_id == alarm:
            return ref
    named = [ref for ref in candidates if ref.name == alarm]
    if len(named) == 1:
        return named[0]
    where = f"stack {stack}" if stack is not None else "the project's stacks"
    if named:
        stacks = ", ".join(sorted({ref.stack_name for ref in named}))
        raise exceptions.CommandError(
            f"alarm {alarm}: {len(named)} alarms of {where} have this name (stacks "
            f"{stacks}); give its ID or --stack")
    raise exceptions.CommandError(f"alarm {alarm}: no alarm of this ID or name in {where}")


def attributes(client, ref: AlarmRef, *extra: str) -> dict:
    """The alarm's attributes (heat-api resolves all of them), and ``extra`` names."""
    try:
        shown = client.resources.get(ref.stack, ref.name, with_attr=list(extra) or None)
    except heat_exc.HTTPNotFound:
        raise exceptions.CommandError(
            f"alarm {ref.alarm_id or ref.name}: its stack or resource is gone") from None
    return dict(getattr(shown, "attributes", None) or {})


def history(client, ref: AlarmRef, page_size: int, limit: int | None = None,
            marker: str | None = None) -> list[dict]:
    """The alarm's history newest first, every entry once: pages of ``page_size``
    until the oldest entry, or ``limit`` entries; after ``marker`` if given."""
    rows: list[dict] = []
    asked = set()
    while limit is None or len(rows) < limit:
        size = page_size if limit is None else min(page_size, limit - len(rows))
        name = f"{HISTORY_PAGE}:{size}" + (f":{marker}" if marker else "")
        page = attributes(client, ref, name).get(name)
        if not isinstance(page, dict):
            raise exceptions.CommandError(
                f"alarm {ref.alarm_id}: heat-engine answered no history page (its "
                "heat-alarming is older than this client, or it failed: see its log)")
        if "error" in page:
            raise exceptions.CommandError(f"alarm {ref.alarm_id}: {page['error']}")
        rows += page.get("entries") or []
        asked.add(marker)
        marker = page.get("next_marker")
        if not marker:
            break
        if marker in asked:
            raise exceptions.CommandError(
                f"alarm {ref.alarm_id}: heat-engine gave marker {marker} twice")
    return rows


def explanation(client, ref: AlarmRef) -> dict:
    """The alarm's ``explanation`` attribute; a :class:`CommandError` with the alarm's
    own words when it cannot explain (``{"error": ...}``), or when heat-engine gave
    none (a heat-alarming older than this client)."""
    value = attributes(client, ref, EXPLANATION).get(EXPLANATION)
    if not isinstance(value, dict):
        raise exceptions.CommandError(
            f"alarm {ref.alarm_id or ref.name}: heat-engine answered no explanation (its "
            "heat-alarming is older than this client, or it failed: see its log)")
    if "error" in value and "summary" not in value:
        raise exceptions.CommandError(f"alarm {ref.alarm_id or ref.name}: {value['error']}")
    return value


def iso(timestamp):
    """A time (seconds since the epoch, or ISO 8601 text) as ISO 8601 in UTC to the
    millisecond, as ``heat-alarming alarm`` prints it; anything else stays as it is."""
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    elif isinstance(timestamp, str):
        try:
            moment = dt.datetime.fromisoformat(timestamp)
        except ValueError:
            return timestamp
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    else:
        return timestamp
    return moment.astimezone(dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


class HistoryColumn(columns.FormattableColumn):
    """History entries: one line each in a table, mappings in JSON and YAML (their
    timestamps in ISO 8601, as everywhere in these commands)."""

    def human_readable(self) -> str:
        return "\n".join(f"{iso(h.get('timestamp'))} {h.get('previous')} -> "
                         f"{h.get('current')} ({h.get('type')}): {h.get('reason')}"
                         for h in self._value or [])

    def machine_readable(self):
        return [dict(h, timestamp=iso(h.get("timestamp"))) for h in self._value or []]


def _positive(most: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1 or (most is not None and value > most):
            bound = f" to {most}" if most is not None else " or more"
            raise argparse.ArgumentTypeError(f"must be a whole number from 1{bound}")
        return value
    return parse


def _nested_depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("must be a whole number from 0")
    return value


class _AlarmCommand:
    """Options of the commands that find alarms: one alarm (``ONE``) or a list."""

    ONE = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        self._add_location(parser, one=self.ONE)
        return parser

    def _add_location(self, parser, one: bool) -> None:
        parser.add_argument(
            "--stack", metavar="<stack>",
            help="Only the alarms of this stack (name or ID)" if not one else
            "The stack that holds the alarm (name or ID); without it, every stack of "
            "the project is searched")
        parser.add_argument(
            "--nested-depth", metavar="<depth>", type=_nested_depth,
            default=DEFAULT_NESTED_DEPTH,
            help=f"How deep into nested stacks to look (default {DEFAULT_NESTED_DEPTH}, "
                 "Heat caps it at its max_nested_stack_depth)")
        if one:
            parser.add_argument("alarm", metavar="<alarm>",
                                help="The alarm's ID, or its resource name")

    def _client(self):
        return self.app.client_manager.metering

    def _find(self, parsed_args) -> AlarmRef:
        return find_alarm(self._client(), parsed_args.alarm, check_stack(parsed_args.stack),
                          parsed_args.nested_depth)


class ListAlarm(_AlarmCommand, command.Lister):
    """List the alarms of the project's stacks, with their state."""

    ONE = False

    def take_action(self, parsed_args):
        client = self._client()
        rows = []
        for ref in list_alarms(client, check_stack(parsed_args.stack),
                               parsed_args.nested_depth):
            try:
                state = attributes(client, ref).get("state") if ref.alarm_id else None
            except exceptions.CommandError:  # its stack was deleted since it was listed
                LOG.debug("alarm %s went away while alarms were listed", ref.alarm_id)
                continue
            rows.append((ref.stack_name, ref.name, ref.alarm_id, ref.type, state))
        return ("Stack", "Name", "ID", "Type", "State"), rows


class ShowAlarm(_AlarmCommand, command.ShowOne):
    """Show an alarm: where it is, its state, its last history and its other attributes."""

    def take_action(self, parsed_args):
        ref = self._find(parsed_args)
        shown = attributes(self._client(), ref)
        fields = {"id": ref.alarm_id, "name": ref.name, "stack": ref.stack,
                  "type": ref.type, "status": ref.status}
        fields.update({name: shown.pop(name, None) for name in STATE_ATTRIBUTES})
        fields["state_timestamp"] = iso(fields["state_timestamp"])
        fields["history"] = HistoryColumn(shown.pop("history", None) or [])
        if EXPLANATION in shown:  # its summary; the facts are what `explain` shows
            fields[EXPLANATION] = SummaryColumn(shown.pop(EXPLANATION))
        fields.update(sorted(shown.items()))
        return tuple(fields), tuple(fields.values())


class StateAlarm(_AlarmCommand, command.ShowOne):
    """Show an alarm's state, why it is in it and since when."""

    def take_action(self, parsed_args):
        ref = self._find(parsed_args)
        shown = attributes(self._client(), ref)
        return (("id",) + STATE_ATTRIBUTES,
                (ref.alarm_id, shown.get("state"), shown.get("state_reason"),
                 iso(shown.get("state_timestamp"))))


class HistoryAlarm(_AlarmCommand, command.Lister):
    """Show an alarm's whole history, newest first (transitions and action outcomes)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--limit", metavar="<count>", type=_positive(),
            help="At most this many entries (default: all)")
        parser.add_argument(
            "--marker", metavar="<event-id>",
            help="Start after this entry (an Event ID of an earlier answer)")
        parser.add_argument(
            "--page-size", metavar="<count>", default=DEFAULT_PAGE_SIZE,
            type=_positive(HISTORY_PAGE_MAX),
            help=f"Entries asked of heat-api in one request (default {DEFAULT_PAGE_SIZE}, "
                 f"at most {HISTORY_PAGE_MAX})")
        return parser

    def take_action(self, parsed_args):
        marker = parsed_args.marker
        if marker is not None and not _EVENT_ID.fullmatch(marker):
            raise exceptions.CommandError(
                "--marker: must be an event ID (at most 64 letters, digits, '-' or '_')")
        ref = self._find(parsed_args)
        rows = history(self._client(), ref, parsed_args.page_size, parsed_args.limit,
                       marker)
        return (("Timestamp", "Type", "Previous", "Current", "Reason", "Event ID"),
                [(iso(h.get("timestamp")), h.get("type"), h.get("previous"),
                  h.get("current"), h.get("reason"), h.get("event_id")) for h in rows])


class ExplainAlarm(_AlarmCommand, command.ShowOne):
    """Explain why an alarm is in its state: the facts of its latest round."""

    def take_action(self, parsed_args):
        ref = self._find(parsed_args)
        return explanation_fields(explanation(self._client(), ref))
