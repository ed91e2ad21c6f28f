"""The messaging ingress: Ceilometer's ``notifier://`` samples, checked and handed on.

Ceilometer's notifier publisher (``notifier://?topic=metering`` in its
pipeline.yaml) sends each batch of samples as one oslo.messaging notification
on the ``metering`` topic of its control exchange (``ceilometer``): priority
``sample``, event_type its ``[publisher_notifier] metering_topic``, publisher_id
``telemetry.publisher.<host>``, and for payload a *list* of meter messages
(``counter_name``, ``counter_type``, ``counter_unit``, ``counter_volume``,
``resource_id``, ``project_id``, ``user_id``, ``timestamp``, ``resource_metadata``,
``source``, ``message_id``, ``message_signature``...), each signed alone with
Ceilometer's ``telemetry_secret``.

:class:`MeteringListener` is the contract:

* it listens with a *batch* notification listener (threading executor) in a
  pool of its own (``metering_pool``): the workers of the pool compete for the
  notifications, each one is handled by one worker, and every other pool (or
  the default queue that Ceilometer's own consumers read) gets its own copy;
* every meter message is hostile and fails alone: with a secret set, a message
  whose ``message_signature`` is missing (*unsigned*) or wrong (*forged*) is
  dropped; then its shape, its project (a message without ``project_id`` is
  dropped), its ``message_id`` and its sample (the
  :class:`~heat_alarming.metering.sample.SampleValidator` checks, so the store's
  window and limits) are checked; a message whose id its project sent before
  is a *duplicate* and dropped.  A notification carrying more than
  ``max_messages`` meter messages is refused whole (*oversized*);
* the checked samples of one batch are grouped per project and each group is
  handed to ``deliver(project_id, samples, message_ids)`` once (from up to ``threads`` threads
  at a time, one per batch under way).  ``deliver`` raising means
  nothing of that group was taken: its ids are forgotten again and the whole
  batch goes back to the bus after :data:`REQUEUE_DELAY` seconds, where the
  groups already delivered come back as duplicates (dropped here; a copy another
  worker takes is dropped by the owner, which compares the ids ``deliver`` gets,
  :class:`heat_alarming.engine.worker.RecentIds`);
* drops are counted (:meth:`MeteringListener.counters`) and logged at most once
  per minute per kind (:mod:`heat_alarming.metering.summary_log`), never a line per
  message.  Every
  meter message received ends in exactly one of accepted, forged, unsigned,
  duplicate, invalid, no_project, oversized or requeued.

Message ids are remembered per project (``dedup_ids_per_project`` each, the
project's oldest forgotten first) for at most ``dedup_projects`` projects (the
least recently heard forgotten whole), so memory is bounded and a project
flooding ids evicts only its own.

:func:`ceilometer_signature` is Ceilometer's ``compute_signature`` (HMAC-SHA256
over the message's flattened, sorted fields), written anew.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import json
import reprlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming.errors import import_extra
from heat_alarming.metering.sample import Sample, SampleError, SampleValidator
from heat_alarming.metering.summary_log import SummaryLog

LOG = logging.getLogger(__name__)

#: seconds between two log lines about dropped messages of one kind
#: seconds a batch whose delivery failed waits before it goes back to the bus
REQUEUE_DELAY = 1.0
# the defaults of the options below and of MeteringListener's arguments
TOPIC, EXCHANGE, POOL = "metering", "ceilometer", "heat-alarming"
BATCH_SIZE, BATCH_TIMEOUT, THREADS = 32, 0.5, 4
MAX_MESSAGES, DEDUP_IDS_PER_PROJECT, DEDUP_PROJECTS = 1000, 1000, 1000
#: oslo.messaging's NotificationResult values (its module is imported only when a
#: listener starts: importing oslo.messaging picks oslo.service's backend, which
#: heat-engine must pick first)
HANDLED, REQUEUE = "handled", "requeue"
#: the outcomes of a meter message, one each; ``received`` is their sum
OUTCOMES = ("accepted", "forged", "unsigned", "duplicate", "invalid", "no_project",
            "oversized", "requeued")
#: what a meter message is read for (Ceilometer's names); anything else it carries
#: counts for its signature only
CEILOMETER_FIELDS = ("counter_name", "counter_type", "counter_unit", "counter_volume",
                     "resource_id", "project_id", "user_id", "timestamp",
                     "resource_metadata", "source")

listener_opts = [
    cfg.BoolOpt("metering_listener", default=False,
                help="Run the messaging listener in every heat-engine worker: samples "
                     "that Ceilometer's notifier:// publisher sends are checked and "
                     "pushed as if signalled (docs/ingest.md)."),
    cfg.StrOpt("metering_transport_url", secret=True,
               help="Transport URL to listen on; unset: heat-engine's notification "
                    "transport ([oslo_messaging_notifications] transport_url, else "
                    "[DEFAULT] transport_url)."),
    cfg.StrOpt("metering_exchange", default=EXCHANGE,
               help="Exchange the samples are published to: Ceilometer's "
                    "control_exchange."),
    cfg.StrOpt("metering_topic", default=TOPIC,
               help="Topic of the samples: the topic= of Ceilometer's notifier:// "
                    "publisher URL."),
    cfg.StrOpt("metering_pool", default=POOL,
               help="Listener pool (the RabbitMQ queue name): the heat-engine workers of "
                    "one pool share the samples, each notification going to one of "
                    "them, and every other pool gets its own copy. Empty: the topic's "
                    "default queue (<topic>.sample), shared with whatever else reads "
                    "it."),
    cfg.StrOpt("telemetry_secret", secret=True,
               help="Ceilometer's [publisher] telemetry_secret. Set: meter messages "
                    "without a valid signature are dropped, counted and logged. Unset: "
                    "no message is verified (a warning is logged on start)."),
    cfg.IntOpt("metering_batch_size", default=BATCH_SIZE, min=1,
               help="Notifications the listener takes from the bus at once."),
    cfg.FloatOpt("metering_batch_timeout", default=BATCH_TIMEOUT, min=0.0,
                 help="Seconds the listener waits for metering_batch_size notifications "
                      "before it handles those it has."),
    cfg.IntOpt("metering_listener_threads", default=THREADS, min=1,
               help="Batches one worker's listener handles at once."),
    cfg.IntOpt("metering_max_messages_per_notification", default=MAX_MESSAGES, min=1,
               help="Meter messages one notification may carry; a larger one is "
                    "refused whole."),
    cfg.IntOpt("metering_dedup_ids_per_project", default=DEDUP_IDS_PER_PROJECT, min=1,
               help="Message ids remembered per project to drop redelivered "
                    "messages; a project's oldest are forgotten first."),
    cfg.IntOpt("metering_dedup_projects", default=DEDUP_PROJECTS, min=1,
               help="Projects whose message ids are remembered; the least recently "
                    "heard project is forgotten first."),
]


# -- Ceilometer's signature ---------------------------------------------------------

def ceilometer_signature(message: Mapping[str, Any], secret: str | bytes | None) -> str:
    """The ``message_signature`` Ceilometer gives ``message`` with ``secret`` ('' for
    no secret): HMAC-SHA256 over each (name, text) of the message's fields in name
    order, nested maps flattened to ``outer:inner`` names, lists rendered as Python
    shows them with texts as UTF-8 bytes, and ``message_signature`` itself left out.

    Raises ValueError or UnicodeEncodeError for what Ceilometer could not sign either.
    """
    if not secret:
        return ""
    return _keyed(secret, message).hexdigest()


@functools.lru_cache(maxsize=8)
def _hmac_of(secret: str | bytes):
    """An HMAC-SHA256 keyed with ``secret``, to copy: the key is processed once."""
    return hmac.new(secret.encode("utf-8") if isinstance(secret, str) else secret,
                    digestmod=hashlib.sha256)


def _keyed(secret: str | bytes, message: Mapping[str, Any], metadata: str | None = None):
    parts: list[str] = []
    _flatten(message, "", parts, metadata)
    mac = _hmac_of(secret).copy()
    mac.update("".join(parts).encode("utf-8"))
    return mac


def metadata_text(metadata: Mapping[str, Any]) -> str:
    """What a message's ``resource_metadata`` map adds to the signed text: the same for
    the same metadata, so it can be reused (:func:`check_signature`)."""
    parts: list[str] = []
    _flatten(metadata, "resource_metadata:", parts)
    return "".join(parts)


def _flatten(fields: Mapping[str, Any], prefix: str, parts: list[str],
             metadata: str | None = None) -> None:
    append = parts.append
    for name in sorted(fields):
        value = fields[name]
        if type(value) is dict or isinstance(value, dict):
            if metadata is not None and name == "resource_metadata" and not prefix:
                append(metadata)
            else:
                _flatten(value, f"{prefix}{name}:", parts)
            continue
        if name == "message_signature" and not prefix:
            continue
        append(prefix + name)
        if type(value) is str:  # most fields: their own text
            append(value)
        elif isinstance(value, (list, tuple)):
            append(str(_listed(value)))
        else:
            append(str(value))


def _listed(value: Any) -> Any:
    """A value inside a list as Ceilometer renders it: texts as bytes, maps sorted."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_listed(item) for item in value]
    if isinstance(value, dict):
        return {_listed(key): _listed(value[key]) for key in sorted(value)}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def check_signature(message: Mapping[str, Any], secret: str | bytes,
                    metadata: str | None = None) -> str | None:
    """None when ``message`` carries Ceilometer's signature with ``secret``, else
    "unsigned" (no signature text) or "forged" (another one).  ``metadata`` is
    :func:`metadata_text` of the message's ``resource_metadata`` if known."""
    given = message.get("message_signature")
    if not isinstance(given, str) or not given:
        return "unsigned"
    try:
        expected = _keyed(secret, message, metadata).hexdigest()
        given_bytes = given.encode("ascii")
    except (ValueError, TypeError, RecursionError):  # unencodable text: nobody signed it
        return "forged"
    return None if hmac.compare_digest(expected.encode("ascii"), given_bytes) else "forged"


# -- message ids --------------------------------------------------------------------

class MessageIds:
    """The message ids recently taken, per project, in bounded memory.

    ``claim`` takes an id unless its project already took it; ``release`` gives
    claimed ids back (their delivery failed).  Each project keeps at most
    ``per_project`` ids (its oldest forgotten first), and at most ``projects``
    projects are kept (the least recently claiming one forgotten whole), so one
    project's ids never push out another's while both are kept.  Ids are held as
    8-byte keyed hashes.  Thread-safe.
    """

    def __init__(self, per_project: int, projects: int) -> None:
        self.per_project = int(per_project)
        self.projects = int(projects)
        self._ids: collections.OrderedDict[str, collections.OrderedDict[bytes, None]] = \
            collections.OrderedDict()
        self._key = secrets.token_bytes(16)
        self._lock = threading.Lock()

    def _digest(self, message_id: str) -> bytes:
        return hashlib.blake2b(message_id.encode("utf-8"), digest_size=8,
                               key=self._key).digest()

    def claim(self, project_id: str, message_id: str) -> bool:
        digest = self._digest(message_id)
        with self._lock:
            ids = self._ids.get(project_id)
            if ids is None:
                ids = self._ids[project_id] = collections.OrderedDict()
                if len(self._ids) > self.projects:
                    self._ids.popitem(last=False)
            else:
                self._ids.move_to_end(project_id)
                if digest in ids:
                    return False
            ids[digest] = None
            if len(ids) > self.per_project:
                ids.popitem(last=False)
            return True

    def release(self, project_id: str, message_ids: list[str]) -> None:
        digests = [self._digest(m) for m in message_ids]
        with self._lock:
            ids = self._ids.get(project_id)
            for digest in digests if ids is not None else ():
                ids.pop(digest, None)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self._ids.values())


class _MetadataMemo:
    """Resource metadata seen lately, by its JSON text: its :func:`metadata_text`,
    whether it passed the validator and one map of it (:meth:`shared`, which the
    samples of one resource then share, so a batch encodes it once), so the many
    samples of one resource (which carry the same metadata) pay for it once.  All
    are functions of the metadata alone, so a project gains nothing from another's
    entries but time.  At most ``size`` entries, the oldest dropped first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[str, list] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(metadata: Any) -> str | None:
        if type(metadata) is not dict:
            return None
        try:
            return json.dumps(metadata)
        except (TypeError, ValueError, OverflowError, RecursionError):
            return None

    def get(self, key: str | None) -> list | None:
        return None if key is None else self._entries.get(key)

    def put(self, key: str | None, signed: str | None = None,
            checked: bool = False) -> None:
        if key is None:
            return
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= self.size:
                    del self._entries[next(iter(self._entries))]
                entry = self._entries[key] = [None, False, None]
            entry[0] = entry[0] if signed is None else signed
            entry[1] = entry[1] or checked

    def shared(self, key: str | None, metadata: dict) -> dict:
        """The map kept for ``key`` (``metadata``, equal to it, when none is kept yet):
        never changed by anyone, since samples of other messages hold it too."""
        entry = None if key is None else self._entries.get(key)
        if entry is None:
            return metadata
        if entry[2] is None:
            entry[2] = metadata
        return entry[2]


# -- the listener -------------------------------------------------------------------

Deliver = Callable[[str, list[Sample], list[str]], Any]


class MeteringListener:
    """Listens for Ceilometer's notifier:// samples; see the module docstring for the
    contract.  ``transport`` is an oslo.messaging (notification) transport the caller
    owns; ``validator`` checks each sample (the store's window and limits);
    ``clock`` gives "now" for the validator and the drop log."""

    def __init__(self, transport, deliver: Deliver, validator: SampleValidator, *,
                 topic: str = TOPIC, exchange: str = EXCHANGE, pool: str | None = POOL,
                 secret: str | None = None, batch_size: int = BATCH_SIZE,
                 batch_timeout: float | None = BATCH_TIMEOUT, threads: int = THREADS,
                 max_messages: int = MAX_MESSAGES,
                 dedup_ids_per_project: int = DEDUP_IDS_PER_PROJECT,
                 dedup_projects: int = DEDUP_PROJECTS,
                 clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.deliver = deliver
        self.topic = topic
        self.exchange = exchange
        self.pool = pool or None
        self.secret = secret or None
        self.batch_size = int(batch_size)
        self.batch_timeout = batch_timeout
        self.threads = int(threads)
        self.max_messages = int(max_messages)
        self.validator = validator
        self.clock = clock
        self.ids = MessageIds(dedup_ids_per_project, dedup_projects)
        self._drops = SummaryLog(
            LOG, "Metering listener dropped %(n)d %(kind)s meter message(s) (at most one "
                 "line per %(s)g s), e.g. %(example)s", clock=clock)
        self._metadata = _MetadataMemo()
        self._counts = dict.fromkeys(("notifications", "received") + OUTCOMES, 0)
        self._lock = threading.Lock()
        self._server = None

    # -- life ---------------------------------------------------------------------
    def start(self) -> MeteringListener:
        """Declare the pool's queue and start consuming (idempotent)."""
        if self._server is not None:
            return self
        if not self.secret:
            LOG.warning("telemetry_secret is unset: the metering listener takes meter "
                        "messages without checking their signature")
        # here: importing it picks oslo.service's backend
        oslo_messaging = import_extra("oslo_messaging", "the metering listener", "messaging")

        target = oslo_messaging.Target(topic=self.topic, exchange=self.exchange)
        server = oslo_messaging.get_batch_notification_listener(
            self.transport, [target], [_Endpoint(self)], executor="threading",
            allow_requeue=True, pool=self.pool, batch_size=self.batch_size,
            batch_timeout=self.batch_timeout)
        server.start(override_pool_size=self.threads)
        self._server = server
        LOG.info("Metering listener on topic %s of exchange %s, pool %s",
                 self.topic, self.exchange, self.pool or "(default queue)")
        return self

    def stop(self) -> None:
        """Stop consuming, finish the batches under way and close the connection."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            server.wait()

    def counters(self) -> dict[str, int]:
        """How many notifications and meter messages came, and what became of them."""
        with self._lock:
            return dict(self._counts)

    # -- handling -------------------------------------------------------------------
    def handle(self, payloads: list[Any]) -> bool:
        """Check and deliver the payloads of one batch of notifications; False when a
        delivery failed and the batch must go back to the bus."""
        counts = dict.fromkeys(OUTCOMES, 0)
        counts["notifications"] = len(payloads)
        groups: dict[str, tuple[list[Sample], list[str]]] = {}
        now = self.clock()
        for payload in payloads:
            if not isinstance(payload, list):
                self._drop(counts, "invalid", 1, "a notification whose payload is not a list")
                continue
            if len(payload) > self.max_messages:
                self._drop(counts, "oversized", len(payload),
                           f"a notification of {len(payload)} meter messages "
                           f"(more than {self.max_messages})")
                continue
            for message in payload:
                outcome, detail = self._check(message, now)
                if outcome is None:
                    project, sample, message_id = detail
                    samples, ids = groups.setdefault(project, ([], []))
                    samples.append(sample)
                    ids.append(message_id)
                else:
                    self._drop(counts, outcome, 1, detail)
        delivered = True
        for project, (samples, ids) in groups.items():
            try:
                self.deliver(project, samples, ids)
            except Exception as exc:  # nothing of the group was taken: send it back
                self.ids.release(project, ids)
                counts["requeued"] += len(samples)
                delivered = False
                self._drops.note("undelivered", len(samples),
                                 f"project {project}: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}")
            else:
                counts["accepted"] += len(samples)
        counts["received"] = sum(counts[o] for o in OUTCOMES)
        with self._lock:
            for name, value in counts.items():
                self._counts[name] += value
        return delivered

    def _drop(self, counts: dict[str, int], outcome: str, n: int, detail: str) -> None:
        counts[outcome] += n
        self._drops.note(outcome, n, detail)

    def _check(self, message: Any, now: float) -> tuple[str | None, Any]:
        """(None, (project, sample, message id)) for a good message, else (outcome,
        a short description for the log)."""
        if not isinstance(message, dict):
            return "invalid", f"a meter message that is a {type(message).__name__}"
        key = self._metadata.key(message.get("resource_metadata"))
        known = self._metadata.get(key) or (None, False)
        if self.secret:
            signed = known[0]
            if signed is None and key is not None:
                try:
                    signed = metadata_text(message["resource_metadata"])
                except (ValueError, TypeError, RecursionError):
                    return "forged", _describe(message)
            wrong = check_signature(message, self.secret, signed)
            if wrong:
                return wrong, _describe(message)
            if known[0] is None:
                self._metadata.put(key, signed=signed)
        project = message.get("project_id")
        if not isinstance(project, str) or not project:
            return "no_project", _describe(message)
        message_id = message.get("message_id")
        if not isinstance(message_id, str) or not message_id \
                or len(message_id) > self.validator.max_field_length:
            return "invalid", "a meter message without a message_id text"
        fields = {name: message[name] for name in CEILOMETER_FIELDS if name in message}
        if fields.get("counter_unit") is None:
            fields["counter_unit"] = ""
        if fields.get("resource_metadata") is None:
            fields["resource_metadata"] = {}
        try:
            sample = Sample.from_dict(fields)
            validator = self.validator
            validator.check_identity(sample)
            sample.volume = validator.check_volume(sample.volume)
            sample.timestamp = validator.check_timestamp(sample.timestamp, now)
            if not known[1]:
                validator.check_metadata(sample.resource_metadata)
                self._metadata.put(key, checked=True)
            sample.resource_metadata = self._metadata.shared(key, sample.resource_metadata)
        except SampleError as exc:
            return "invalid", f"{_describe(message)}: {exc}"
        except Exception as exc:  # a value no check foresaw: refuse it alone
            return "invalid", f"{_describe(message)}: {type(exc).__name__}"
        if not self.ids.claim(project, message_id):
            return "duplicate", _describe(message)
        return None, (project, sample, message_id)


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother = 2, 60, 60


def _describe(message: Mapping[str, Any]) -> str:
    """Who a message says it is, bounded for a log line whatever its fields hold."""
    def text(name: str) -> str:
        value = message.get(name)
        return value[:60] if isinstance(value, str) else _SHOW.repr(value)[:60]
    return (f"message {text('message_id')} of project {text('project_id')} "
            f"({text('counter_name')})")


class _Endpoint:
    """The batch endpoint: oslo.messaging calls ``sample`` with a batch of
    notifications of priority "sample"."""

    def __init__(self, listener: MeteringListener) -> None:
        self._listener = listener

    def sample(self, messages: list[dict]):
        if self._listener.handle([m.get("payload") for m in messages]):
            return HANDLED
        time.sleep(REQUEUE_DELAY)  # a failing delivery: no hot loop through the bus
        return REQUEUE


def listener_from_conf(conf: cfg.ConfigOpts, transport, deliver: Deliver,
                       clock: Callable[[], float] | None = None) -> MeteringListener | None:
    """The listener of ``[heat_alarming]`` delivering to ``deliver``, or None when
    ``metering_listener`` is off.  ``transport`` None: one is made from
    ``metering_transport_url`` (else the notification transport), and cleaned up
    on :meth:`MeteringListener.stop`, after which that listener cannot start again."""
    from heat_alarming import opts

    opts.register_opts(conf)
    group = conf[opts.GROUP]
    if not group.metering_listener:
        return None
    owned = transport is None
    if owned:
        oslo_messaging = import_extra("oslo_messaging", "the metering listener", "messaging")
        transport = oslo_messaging.get_notification_transport(
            conf, url=group.metering_transport_url or None)
    validator = SampleValidator(group.store_retention, group.max_clock_skew,
                                max_metadata_bytes=group.max_metadata_bytes,
                                max_field_length=group.max_field_length)
    listener = _OwningListener if owned else MeteringListener
    return listener(transport, deliver, validator, topic=group.metering_topic,
                    exchange=group.metering_exchange, pool=group.metering_pool,
                    secret=group.telemetry_secret, batch_size=group.metering_batch_size,
                    batch_timeout=group.metering_batch_timeout,
                    threads=group.metering_listener_threads,
                    max_messages=group.metering_max_messages_per_notification,
                    dedup_ids_per_project=group.metering_dedup_ids_per_project,
                    dedup_projects=group.metering_dedup_projects,
                    clock=clock or time.time)


class _OwningListener(MeteringListener):
    """A listener on a transport of its own, closed when it stops."""

    def stop(self) -> None:
        super().stop()
        self.transport.cleanup()
