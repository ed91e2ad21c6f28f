"""The publishers: where a sink's batches go (``store://``, ``notifier://``, ``http(s)://``,
``file://``).

Each is built once per sink from its URL and options (the URL's query string, then the
options the pipeline file gives, which win), checks them in its constructor
(:class:`~heat_alarming.metering.pipeline.base.PipelineError` naming the option; an
unknown option is an error too) and, in :meth:`publish`, sends one batch or raises
:class:`~heat_alarming.metering.pipeline.base.PublishError` with a reason a person can
read.  Buffering and retrying a refused batch are the pipeline's.

* :class:`StorePublisher` hands the batch to the host's own store (``local``);
* :class:`NotifierPublisher` sends it over oslo.messaging as Ceilometer's
  ``notifier://`` publisher does (the same notification, meter messages and
  signature), so heat-engine's :class:`~heat_alarming.engine.listener.MeteringListener`
  takes it as it takes Ceilometer's;
* :class:`HttpPublisher` POSTs it as a JSON list, Ceilometer's ``http://`` shape;
* :class:`FilePublisher` appends it as JSON lines, rotating the file by size.

A sample is sent with Ceilometer's field names, its timestamp as ISO 8601 UTC text
(microseconds) and a message id that is a function of its series (meter, resource,
project), timestamp and volume alone: a batch published twice (a retry) carries the
same ids, so the listener (or any receiver that keeps ids) drops the second copy.
A sample whose volume or timestamp is not a finite number (or whose timestamp is
outside years 1970 to 9999) cannot be written as Ceilometer's JSON: it is left out,
counted (``invalid``) and logged, at most one line a minute
(:mod:`heat_alarming.metering.summary_log`).

Serialising is whole-array where it can be: the text of each series is made once
per batch (its descriptor kept while the collector reuses it), the timestamps and ids
of all samples at once with numpy, and each sample then costs one string format
(and, for ``notifier://``, one HMAC over its own fields, the series' fields being
hashed once).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import stat
import threading
import urllib.parse
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from oslo_log import log as logging

from heat_alarming.errors import import_extra
from heat_alarming.metering.batch import SampleBatch, SeriesDescriptor
from heat_alarming.metering.clock import Clock, system_clock
from heat_alarming.metering.pipeline.base import PipelineError, Publisher, PublishError
from heat_alarming.metering.summary_log import SummaryLog

LOG = logging.getLogger(__name__)

#: seconds between two log lines about one kind of left-out or refused sample
#: answer bytes of an HTTP error read for its reason
MAX_ERROR_BODY = 1024
#: series whose prepared text a publisher keeps (the collectors' descriptors)
SERIES_CACHE = 65536
# the publishers' defaults (options below)
TOPIC, EXCHANGE, NOTIFIER_BATCH = "metering", "ceilometer", 100
EVENT_TYPE = "metering"  # Ceilometer's [publisher_notifier] metering_topic
HTTP_TIMEOUT, HTTP_BATCH = 5.0, 1000
#: timestamps Ceilometer's ISO text can carry: years 1970 to 9999
_MAX_EPOCH = 253402300800.0


# -- options ------------------------------------------------------------------------

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class _Options:
    """The options of one publisher: the URL's query, then ``given`` (which win).

    ``known`` are the option names this publisher reads; another name is an error
    unless ``keep_unknown_query`` (http://, which passes its other query parameters
    on to the server, as Ceilometer's does).  A value given several times (a list)
    counts by its last.
    """

    def __init__(self, scheme: str, url: str, given: Mapping[str, Any],
                 known: Sequence[str], keep_unknown_query: bool = False) -> None:
        self.scheme = scheme
        self.parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(self.parts.query, keep_blank_values=True)
        self.values: dict[str, Any] = {}
        self.passed_on: list[tuple[str, str]] = []
        for name, value in query:
            if name in known:
                self.values[name] = value
            elif keep_unknown_query:
                self.passed_on.append((name, value))
            else:
                self._unknown(name, known)
        query_names = {name for name, _ in query}
        for name, value in given.items():
            if name not in known:
                if keep_unknown_query and name in query_names:
                    continue  # the pipeline's copy of a parameter for the server
                self._unknown(name, known)
            if isinstance(value, (list, tuple)):
                if not value:
                    continue
                value = value[-1]
            self.values[name] = value

    def _unknown(self, name: str, known: Sequence[str]) -> None:
        raise PipelineError(str(name), f"not an option of {self.scheme}:// (its options: "
                                       f"{', '.join(known) or 'none'})")

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is None or isinstance(value, str):
            return value
        raise PipelineError(name, f"must be text, not {type(value).__name__}")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.values.get(name, default)
        try:
            number = int(value) if isinstance(value, (str, int)) and \
                not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise PipelineError(name, f"must be a whole number from {low} to {high}, "
                                      f"not {value!r}")
        return number

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.values.get(name, default)
        try:
            number = float(value) if isinstance(value, (str, int, float)) and \
                not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low < number <= high:  # NaN fails here too
            raise PipelineError(name, f"must be a number of seconds above {low:g} and "
                                      f"at most {high:g}, not {value!r}")
        return number

    def flag_or_path(self, name: str, default: bool) -> bool | str:
        value = self.values.get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            if os.path.isfile(value):
                return value
        raise PipelineError(name, f"must be true, false or the path of a CA bundle "
                                  f"file, not {value!r}")


def _redacted(parts: urllib.parse.SplitResult) -> str:
    """A URL without its password (and its query, which may hold a secret)."""
    netloc = parts.netloc
    if "@" in netloc:
        user = netloc.rpartition("@")[0].partition(":")[0]
        netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- serialising --------------------------------------------------------------------

def sendable(batch: SampleBatch) -> np.ndarray:
    """The mask of the samples Ceilometer's JSON can carry: finite volumes, finite
    timestamps from 1970 to 9999."""
    ts = batch.timestamps
    with np.errstate(invalid="ignore"):
        return np.isfinite(batch.volumes) & np.isfinite(ts) & (ts >= 0) & (ts < _MAX_EPOCH)


def iso_timestamps(timestamps: np.ndarray) -> list[str]:
    """Epoch seconds as ISO 8601 UTC texts to the microsecond
    (``2026-12-02T05:12:00.250000+00:00``), all at once; every value must be sendable."""
    micros = np.rint(np.asarray(timestamps, dtype=np.float64) * 1e6).astype(np.int64)
    texts = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return [text + "+00:00" for text in texts.tolist()]


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, whole-array (uint64, wrapping)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _series_seed(descriptor: SeriesDescriptor) -> tuple[int, int]:
    key = json.dumps(list(descriptor.key), separators=(",", ":")).encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=16, person=b"ha-message-id").digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def message_ids(batch: SampleBatch, seeds: np.ndarray | None = None) -> list[str]:
    """Each sample's message id: 32 hex digits, a function of its series key (meter,
    resource, project), its timestamp and its volume only, the same in every process.
    ``seeds`` (uint64, two a series) are the series' seeds if known."""
    if seeds is None:
        seeds = np.array([_series_seed(d) for d in batch.series],
                         dtype=np.uint64).reshape(-1, 2)
    if not len(batch):
        return []
    codes = batch.codes.astype(np.intp)
    ts = np.ascontiguousarray(batch.timestamps, dtype=np.float64).view(np.uint64)
    vol = np.ascontiguousarray(batch.volumes, dtype=np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        high = _mix(_mix(seeds[codes, 0] ^ ts) ^ vol)
        low = _mix(_mix(seeds[codes, 1] ^ vol) ^ _mix(ts))
    ids = np.empty((len(codes), 2), dtype=">u8")
    ids[:, 0], ids[:, 1] = high, low
    text = ids.tobytes().hex()
    return [text[i:i + 32] for i in range(0, len(text), 32)]


def _json_metadata(metadata: Mapping[str, Any]) -> dict:
    """The metadata as the receiver reads it (a JSON round trip: tuples become lists,
    keys texts), so that what is signed is what arrives."""
    return json.loads(json.dumps(metadata)) if metadata else {}


class _Series:
    """What each publisher makes once per series: JSON text, message fields, seeds.

    Kept by descriptor identity (collectors reuse their descriptors), holding the
    descriptor so its id is not reused; at most :data:`SERIES_CACHE`, all forgotten
    when full."""

    def __init__(self, prepare: Callable[[SeriesDescriptor], Any]) -> None:
        self.prepare = prepare
        self._known: dict[int, tuple[SeriesDescriptor, Any, tuple[int, int]]] = {}

    def of(self, batch: SampleBatch) -> tuple[list[Any], np.ndarray]:
        """(the prepared value of each series of ``batch``, their id seeds)."""
        known = self._known
        if len(known) + len(batch.series) > SERIES_CACHE:
            known.clear()
        prepared, seeds = [], []
        for descriptor in batch.series:
            entry = known.get(id(descriptor))
            if entry is None or entry[0] is not descriptor:
                entry = known[id(descriptor)] = (descriptor, self.prepare(descriptor),
                                                 _series_seed(descriptor))
            prepared.append(entry[1])
            seeds.append(entry[2])
        return prepared, np.array(seeds, dtype=np.uint64).reshape(-1, 2)


def _sample_head(d: SeriesDescriptor) -> str:
    """A sample's JSON text (Ceilometer's ``Sample.as_dict`` names) up to its own
    fields, which :func:`_json_texts` appends."""
    return json.dumps({"source": d.source, "name": d.name, "type": d.type, "unit": d.unit,
                       "user_id": d.user_id, "user_name": None, "project_id": d.project_id,
                       "project_name": None, "resource_id": d.resource_id,
                       "resource_metadata": _json_metadata(d.metadata),
                       "monotonic_time": None})[:-1]


def _json_texts(batch: SampleBatch, series: _Series) -> list[str]:
    """Each sample of a sendable batch as one JSON object text, newline-ended."""
    heads, seeds = series.of(batch)
    ids = message_ids(batch, seeds)
    times = iso_timestamps(batch.timestamps)
    volumes = batch.volumes.tolist()
    return [f'{heads[c]}, "volume": {v!r}, "timestamp": "{t}", "id": "{i}"}}\n'
            for c, v, t, i in zip(batch.codes.tolist(), volumes, times, ids)]


def sample_dicts(batch: SampleBatch) -> list[dict]:
    """The sendable samples of ``batch`` as Ceilometer's sample dicts (what http:// and
    file:// write, read back)."""
    batch = batch.take(sendable(batch))
    return [json.loads(text) for text in _json_texts(batch, _Series(_sample_head))]


# -- Ceilometer's meter messages and their signature --------------------------------

def _ceilometer_listed(value: Any) -> Any:
    """A value inside a list as Ceilometer's signature renders it: texts as bytes,
    maps sorted, bytes as texts."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_ceilometer_listed(item) for item in value]
    if isinstance(value, dict):
        return {_ceilometer_listed(k): _ceilometer_listed(value[k]) for k in sorted(value)}
    return value


def _signed_text(fields: Mapping[str, Any], prefix: str = "") -> str:
    """The text Ceilometer's signature hashes: every (name, value) in name order, maps
    flattened to ``outer:inner`` names, lists rendered as Python shows them (texts as
    bytes), ``message_signature`` left out."""
    parts: list[str] = []
    for name in sorted(fields):
        value = fields[name]
        if isinstance(value, dict):
            parts.append(_signed_text(value, f"{prefix}{name}:"))
        elif not prefix and name == "message_signature":
            continue
        elif isinstance(value, (list, tuple)):
            parts.append(f"{prefix}{name}{_ceilometer_listed(value)}")
        else:
            parts.append(f"{prefix}{name}{value}")
    return "".join(parts)


def ceilometer_signature(message: Mapping[str, Any], secret: str | None) -> str:
    """Ceilometer's ``message_signature`` of a meter message ('' for no secret)."""
    if not secret:
        return ""
    return hmac.new(secret.encode("utf-8"), _signed_text(message).encode("utf-8"),
                    hashlib.sha256).hexdigest()


class _MeterSeries:
    """A series' part of its meter messages: the fields (and, with a secret, an HMAC
    over the signed text before the sample's own fields, and the texts between them).

    The signed text is in field-name order: counter_name, counter_type, counter_unit
    (the series'), counter_volume, message_id (the sample's), monotonic_time,
    project_id, project_name, resource_id, resource_metadata:..., source (the
    series'), timestamp (the sample's), user_id, user_name (the series')."""

    __slots__ = ("fields", "head", "middle", "tail")

    def __init__(self, d: SeriesDescriptor, secret: str | None) -> None:
        metadata = _json_metadata(d.metadata)
        self.fields = {"source": d.source, "counter_name": d.name, "counter_type": d.type,
                       "counter_unit": d.unit, "user_id": d.user_id, "user_name": None,
                       "project_id": d.project_id, "project_name": None,
                       "resource_id": d.resource_id, "resource_metadata": metadata,
                       "monotonic_time": None}
        self.head = self.middle = self.tail = None
        if secret:
            mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
            mac.update(f"counter_name{d.name}counter_type{d.type}"
                       f"counter_unit{d.unit}".encode())
            self.head = mac
            self.middle = (f"monotonic_timeNoneproject_id{d.project_id}project_nameNone"
                           f"resource_id{d.resource_id}"
                           f"{_signed_text(metadata, 'resource_metadata:')}"
                           f"source{d.source}")
            self.tail = f"user_id{d.user_id}user_nameNone"


def meter_messages(batch: SampleBatch, secret: str | None,
                   series: _Series | None = None) -> list[dict]:
    """The sendable samples of ``batch`` as Ceilometer's meter messages, each signed
    with ``secret`` (unsigned, ``''``, without one)."""
    batch = batch.take(sendable(batch))
    if series is None:
        series = _Series(lambda d: _MeterSeries(d, secret))
    parts, seeds = series.of(batch)
    ids = message_ids(batch, seeds)
    times = iso_timestamps(batch.timestamps)
    messages = []
    append = messages.append
    for c, v, t, i in zip(batch.codes.tolist(), batch.volumes.tolist(), times, ids):
        part = parts[c]
        message = part.fields.copy()
        message["counter_volume"] = v
        message["timestamp"] = t
        message["message_id"] = i
        if part.head is None:
            message["message_signature"] = ""
        else:
            mac = part.head.copy()
            mac.update(f"counter_volume{v!r}message_id{i}{part.middle}timestamp{t}"
                       f"{part.tail}".encode())
            message["message_signature"] = mac.hexdigest()
        append(message)
    return messages


# -- the publishers -----------------------------------------------------------------

class _Counting(Publisher):
    """A publisher that counts what it sent and what it left out."""

    KNOWN: tuple[str, ...] = ()

    def __init__(self, url: str, options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None,
                 clock: Clock = system_clock) -> None:
        super().__init__(url, options, local=local)
        self.clock = clock
        self._counts = {"published": 0, "invalid": 0}
        self._summary = SummaryLog(
            LOG, "%(what)s: %(n)d sample(s) %(kind)s (at most one line per %(s)g s), "
                 "e.g. %(example)s", clock=clock, what=self.describe())

    def describe(self) -> str:
        return _redacted(urllib.parse.urlsplit(self.url))

    def counters(self) -> dict[str, int]:
        """Samples sent (``published``), left out as unsendable (``invalid``), and the
        publisher's own outcomes."""
        return dict(self._counts)

    def _sendable(self, batch: SampleBatch) -> SampleBatch:
        keep = sendable(batch)
        if keep.all():
            return batch
        bad = int((~keep).sum())
        self._counts["invalid"] += bad
        first = int(np.flatnonzero(~keep)[0])
        d = batch.series[int(batch.codes[first])]
        self._summary.note("left out", bad, f"{d.name} of {d.resource_id}: volume "
                           f"{batch.volumes[first]!r} at {batch.timestamps[first]!r} "
                           "(not a finite volume and a timestamp of 1970 to 9999)")
        return batch.take(keep)


class StorePublisher(_Counting):
    """``store://``: the batch goes into the host's own store.

    ``local`` is the host's ingest (``RollingStore.ingest_batch``, or heat-engine's);
    its answer, when it is an ingest result, gives the rows the store refused
    (outside the window, a bad value, a project over its quota): they are counted
    (``rejected``) and logged as a summary.  A ``local`` that raises has not taken the
    batch: :class:`PublishError`.  Takes no options.
    """

    def __init__(self, url: str = "store://", options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None,
                 clock: Clock = system_clock) -> None:
        super().__init__(url, options, local=local, clock=clock)
        parts = _Options("store", url, self.options, self.KNOWN).parts
        if parts.netloc or parts.path.strip("/"):
            raise PipelineError("url", f"store:// names no host or path, not {url!r}")
        if local is None:
            raise PipelineError("url", "store:// needs a host with a store; the "
                                       "standalone agent has none - publish with "
                                       "notifier://")
        self._counts["rejected"] = 0

    def publish(self, batch: SampleBatch) -> None:
        if not len(batch):
            return
        try:
            result = self.local(batch)
        except Exception as exc:
            raise PublishError(f"store://: the store did not take the batch "
                               f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        rejected = getattr(result, "rejected", None) or ()
        taken = getattr(result, "accepted", None)
        self._counts["published"] += len(batch) - len(rejected) if taken is None \
            else int(taken)
        if rejected:
            self._counts["rejected"] += len(rejected)
            first = rejected[0]
            self._summary.note("refused by the store", len(rejected),
                               f"row {getattr(first, 'index', '?')}: "
                               f"{getattr(first, 'field', '?')}: "
                               f"{str(getattr(first, 'reason', first))[:200]}")


def _host_option(conf, group: str | None, name: str) -> Any:
    """An option of the host's configuration, None when it has no such option."""
    from oslo_config import cfg

    try:
        return conf[group][name] if group else conf[name]
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, KeyError, AttributeError):
        return None


class NotifierPublisher(_Counting):
    """``notifier://``: Ceilometer's notifier publisher, for heat-engine's listener.

    Every ``batch`` samples become one oslo.messaging notification of priority
    ``sample`` on ``<topic>.sample`` of ``exchange``: event_type ``metering``,
    publisher_id ``heat-alarming.publisher.<host>`` and for payload a list of meter
    messages (``counter_name``, ``counter_volume``... ``message_id``,
    ``message_signature``), each signed alone with ``telemetry_secret`` as Ceilometer
    signs (none: unsigned, which a listener with a secret drops).

    Options (unset ones from the host's ``[heat_alarming]`` options where it has
    them, as heat-engine does, else the defaults): ``transport_url`` (else the URL's
    broker, ``notifier://user:pass@host:5672/vhost``, else ``metering_transport_url``,
    ``[oslo_messaging_notifications] transport_url``, ``[DEFAULT] transport_url``),
    ``topic`` (``metering_topic``, ``metering``), ``exchange`` (``metering_exchange``,
    ``ceilometer``), ``telemetry_secret``, ``batch`` (samples a notification, 100;
    keep it at most the listener's ``metering_max_messages_per_notification``).

    Samples without a project are left out (``no_project``, logged): the listener
    would drop them, and the agent would not know.
    A send the broker does not take (down, refusing the login) is tried once, then
    :class:`PublishError`; the samples sent before it in that batch go again with the
    pipeline's retry, with the same message ids, and the listener drops them.
    ``conf`` is the host's oslo.config (``cfg.CONF`` when not given).
    """

    KNOWN = ("transport_url", "topic", "exchange", "telemetry_secret", "batch")
    #: connection attempts oslo.messaging makes for one notification before failing
    RETRY = 1

    def __init__(self, url: str, options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None,
                 clock: Clock = system_clock, conf=None) -> None:
        super().__init__(url, options, local=local, clock=clock)
        from oslo_config import cfg

        conf = cfg.CONF if conf is None else conf
        opts = _Options("notifier", url, self.options, self.KNOWN)
        parts = opts.parts
        transport_url = opts.text("transport_url")
        if not transport_url and parts.netloc:
            transport_url = urllib.parse.urlunsplit(("rabbit", parts.netloc, parts.path,
                                                     "", ""))
        transport_url = transport_url or _host_option(conf, "heat_alarming",
                                                      "metering_transport_url") \
            or _host_option(conf, "oslo_messaging_notifications", "transport_url") \
            or _host_option(conf, None, "transport_url")
        if not transport_url:
            raise PipelineError("transport_url", "no broker to send to: give "
                                "transport_url= (rabbit://user:pass@host:5672/vhost) or "
                                "configure the host's transport_url")
        self.topic = opts.text("topic", _host_option(conf, "heat_alarming",
                                                     "metering_topic") or TOPIC)
        self.exchange = opts.text("exchange", _host_option(conf, "heat_alarming",
                                                           "metering_exchange") or EXCHANGE)
        for name, value in (("topic", self.topic), ("exchange", self.exchange)):
            if not value or any(c.isspace() for c in value):
                raise PipelineError(name, f"must be a name without spaces, not {value!r}")
        self.secret = opts.text("telemetry_secret",
                                _host_option(conf, "heat_alarming", "telemetry_secret"))
        self.batch = opts.integer("batch", NOTIFIER_BATCH, 1, 100_000)
        self.publisher_id = f"heat-alarming.publisher.{socket.gethostname()}"
        self._counts["notifications"] = 0
        self._counts["no_project"] = 0
        self._projectless: tuple[tuple, np.ndarray] = ((), np.zeros(0, dtype=bool))
        self._series = _Series(lambda d: _MeterSeries(d, self.secret))
        # oslo.messaging is imported here, not with the module: importing it picks
        # oslo.service's backend, which heat-engine must pick first
        oslo_messaging = import_extra("oslo_messaging", "notifier://", "messaging")

        try:
            oslo_messaging.TransportURL.parse(conf, transport_url)
            self._transport = oslo_messaging.get_notification_transport(conf,
                                                                        url=transport_url)
        except Exception as exc:  # InvalidTransportURL, DriverLoadFailure...
            raise PipelineError("transport_url", f"not a usable transport URL "
                                f"({type(exc).__name__}: {str(exc)[:200]})") from None
        self._shown = f"notifier:// to {_redacted(urllib.parse.urlsplit(transport_url))} " \
                      f"(exchange {self.exchange}, topic {self.topic})"
        self._target = oslo_messaging.Target(topic=f"{self.topic}.sample",
                                             exchange=self.exchange)
        if not self.secret:
            LOG.warning("%s: no telemetry_secret, samples are sent unsigned (a listener "
                        "with a secret drops them)", self._shown)

    def describe(self) -> str:
        return "notifier://"

    def publish(self, batch: SampleBatch) -> None:
        batch = self._with_project(self._sendable(batch))
        messages = meter_messages(batch, self.secret, self._series)
        for start in range(0, len(messages), self.batch):
            chunk = messages[start:start + self.batch]
            self._send(chunk, start, len(messages))
            self._counts["published"] += len(chunk)
            self._counts["notifications"] += 1

    def _with_project(self, batch: SampleBatch) -> SampleBatch:
        """The samples that carry a project: heat-engine's listener drops the others
        (their alarms are a project's), so they are left out here, counted
        (``no_project``) and logged with the fix."""
        if self._projectless[0] is not batch.series:
            self._projectless = (batch.series, np.array(
                [not d.project_id for d in batch.series], dtype=bool))
        missing = self._projectless[1]
        if not missing.any() or not len(batch):
            return batch
        drop = missing[batch.codes]
        if not drop.any():
            return batch
        n = int(drop.sum())
        self._counts["no_project"] += n
        d = batch.series[int(batch.codes[int(np.flatnonzero(drop)[0])])]
        self._summary.note("left out without a project", n,
                           f"{d.name} of {d.resource_id} (heat-engine drops samples "
                           "without one: give the source's collector a project, e.g. the "
                           "Prometheus query's `project` or `project_label`)")
        return batch.take(~drop)

    def _send(self, payload: list[dict], sent: int, total: int) -> None:
        notification = {"message_id": str(uuid.uuid4()), "publisher_id": self.publisher_id,
                        "event_type": EVENT_TYPE, "priority": "SAMPLE", "payload": payload,
                        "timestamp": str(dt.datetime.now(dt.timezone.utc)
                                         .replace(tzinfo=None))}
        try:
            # what oslo.messaging's own notifier drivers call: Notifier logs a failed
            # send and returns, and sends to the transport's control exchange only
            self._transport._send_notification(self._target, {}, notification,
                                               version=2.0, retry=self.RETRY)
        except Exception as exc:
            raise PublishError(f"{self._shown}: the broker did not take the samples "
                               f"({type(exc).__name__}: {str(exc)[:200]}; {sent} of "
                               f"{total} sent)") from exc

    def close(self) -> None:
        self._transport.cleanup()


def _watched_adapter():
    """requests' adapter keeping the connections it opens, with ``cut()`` to shut them
    down: a request past its deadline is cut (a socket timeout bounds each read, not
    the request, and a server answering a byte a second would hold the publisher)."""
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    connections: weakref.WeakSet = weakref.WeakSet()

    def watched(pool_class):
        class Watched(pool_class):
            def _new_conn(self):
                connection = super()._new_conn()
                connections.add(connection)
                return connection
        return Watched

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": watched(HTTPConnectionPool), "https": watched(HTTPSConnectionPool)}

        def cut(self) -> None:
            for connection in list(connections):
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    try:  # the plain socket's shutdown wakes a blocked read, under TLS too
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass

    return Adapter(max_retries=0)


class HttpPublisher(_Counting):
    """``http://`` and ``https://``: the samples POSTed as a JSON list of Ceilometer's
    sample dicts (``name``, ``volume``, ``timestamp``, ``id``...), ``batch`` to a
    request.

    Options: ``timeout`` (seconds for one request in all, connecting to the end of
    the answer's head, 5), ``verify_ssl`` (true, false, or a CA bundle's path),
    ``batch`` (samples a request, 1000).  Other query parameters stay in the URL the
    server gets; ``user:password@`` in the URL is sent as basic authentication.
    A 2xx answer takes the request; any other (redirects are not followed), a
    connection failure or the timeout is a :class:`PublishError` with the status, its
    reason and the start of the answer (at most :data:`MAX_ERROR_BODY` bytes are
    read).  The requests of a batch before a failed one went through; the pipeline's
    retry sends them again with the same ``id``.
    """

    KNOWN = ("timeout", "verify_ssl", "batch")

    def __init__(self, url: str, options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None,
                 clock: Clock = system_clock) -> None:
        super().__init__(url, options, local=local, clock=clock)
        opts = _Options("http", url, self.options, self.KNOWN, keep_unknown_query=True)
        parts = opts.parts
        if parts.scheme not in ("http", "https"):
            raise PipelineError("url", f"an http:// or https:// URL, not {url!r}")
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise PipelineError("url", f"the port of {_redacted(parts)} is not a "
                                       "number") from None
        if not parts.hostname:
            raise PipelineError("url", f"{url!r} names no host")
        self.timeout = opts.number("timeout", HTTP_TIMEOUT, 0.0, 3600.0)
        self.verify = opts.flag_or_path("verify_ssl", True)
        if opts.values.get("batch") in ("False", "false", False):
            raise PipelineError("batch", "a number of samples a request (Ceilometer's "
                                         "batch=False is batch=1)")
        self.batch = opts.integer("batch", HTTP_BATCH, 1, 1_000_000)
        self.target = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path,
                                               urllib.parse.urlencode(opts.passed_on),
                                               ""))
        self._shown = _redacted(parts)
        self._counts["requests"] = 0
        self._series = _Series(_sample_head)
        import requests

        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or .netrc from the environment
        self._adapter = _watched_adapter()
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)

    def describe(self) -> str:
        return _redacted(urllib.parse.urlsplit(self.url))

    def publish(self, batch: SampleBatch) -> None:
        batch = self._sendable(batch)
        texts = _json_texts(batch, self._series)
        for start in range(0, len(texts), self.batch):
            chunk = texts[start:start + self.batch]
            body = ("[" + ",".join(chunk) + "]").encode("utf-8")
            self._post(body, start, len(texts))
            self._counts["published"] += len(chunk)
            self._counts["requests"] += 1

    def _post(self, body: bytes, sent: int, total: int) -> None:
        import requests

        progress = f"{sent} of {total} samples sent"
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self._adapter.cut()

        timer = threading.Timer(self.timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            with self._session.post(self.target, data=body, timeout=self.timeout,
                                    verify=self.verify, allow_redirects=False,
                                    stream=True,
                                    headers={"Content-Type": "application/json",
                                             "Accept-Encoding": "identity",
                                             "User-Agent": "heat-alarming"}) as answer:
                status, reason = answer.status_code, answer.reason or ""
                if 200 <= status < 300:
                    return
                excerpt = answer.raw.read(MAX_ERROR_BODY, decode_content=False)
        except requests.RequestException as exc:
            if expired.is_set() or isinstance(exc, requests.Timeout):
                raise PublishError(f"{self._shown}: no answer within {self.timeout:g} s "
                                   f"({progress})") from exc
            kind = "TLS failed" if isinstance(exc, requests.exceptions.SSLError) else \
                "cannot connect" if isinstance(exc, requests.ConnectionError) else \
                "request failed"
            raise PublishError(f"{self._shown}: {kind} ({type(exc).__name__}: "
                               f"{str(exc)[:300]}; {progress})") from exc
        finally:
            timer.cancel()
        text = excerpt.decode("utf-8", "replace")
        text = "".join(c if c.isprintable() else " " for c in text[:200]).strip()
        raise PublishError(f"{self._shown}: HTTP {status} {reason[:100]}"
                           f"{': ' + text if text else ''} ({progress})")

    def close(self) -> None:
        self._session.close()


class FilePublisher(_Counting):
    """``file:///path``: each sample one line of JSON (Ceilometer's sample dict), appended.

    Options: ``max_bytes`` (0: the file grows without bound) and ``backup_count``:
    a file that would pass ``max_bytes`` is first renamed ``path.1`` (``path.1`` to
    ``path.2``..., the oldest past ``backup_count`` removed), as Python's
    RotatingFileHandler (Ceilometer's file publisher) does; lines are never split
    between files.  The directory must exist.  A file moved away (logrotate) is
    opened anew at the path.  A write that fails (disk full, file system gone) is a
    :class:`PublishError`; lines written before it in that batch are written again
    by the pipeline's retry, with the same ``id``.
    """

    KNOWN = ("max_bytes", "backup_count")

    def __init__(self, url: str, options: Mapping[str, Any] | None = None, *,
                 local: Callable[[SampleBatch], Any] | None = None,
                 clock: Clock = system_clock) -> None:
        super().__init__(url, options, local=local, clock=clock)
        opts = _Options("file", url, self.options, self.KNOWN)
        parts = opts.parts
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise PipelineError("url", f"file:// takes an absolute path "
                                       f"(file:///var/log/samples.json), not {url!r}")
        self.path = urllib.parse.unquote(parts.path)
        directory = os.path.dirname(self.path) or "/"
        if not os.path.isdir(directory):
            raise PipelineError("url", f"the directory {directory} does not exist")
        if os.path.isdir(self.path):
            raise PipelineError("url", f"{self.path} is a directory")
        self.max_bytes = opts.integer("max_bytes", 0, 0, 2 ** 62)
        self.backup_count = opts.integer("backup_count", 0, 0, 10_000)
        if self.max_bytes and not self.backup_count:
            raise PipelineError("backup_count", "must be at least 1 with max_bytes (the "
                                                "file would be emptied at each rotation)")
        self._series = _Series(_sample_head)
        self._counts["rotations"] = 0
        self._file = None
        try:
            self._open()
        except OSError as exc:
            raise PipelineError("url", f"cannot open {self.path}: "
                                       f"{exc.strerror or exc}") from None

    def _open(self) -> None:
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between batches
        info = os.fstat(self._file.fileno())
        self._identity = (info.st_dev, info.st_ino)
        self._regular = stat.S_ISREG(info.st_mode)
        self._size = info.st_size if self._regular else 0

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def _check_moved(self) -> None:
        try:
            info = os.stat(self.path)
            moved = (info.st_dev, info.st_ino) != self._identity
        except FileNotFoundError:
            moved = True
        if moved or self._file is None:
            self._close()
            self._open()

    def _rotate(self) -> None:
        self._close()
        for i in range(self.backup_count - 1, 0, -1):
            older = f"{self.path}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{i + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._counts["rotations"] += 1
        self._open()

    def publish(self, batch: SampleBatch) -> None:
        batch = self._sendable(batch)
        lines = _json_texts(batch, self._series)
        if not lines:
            return
        try:
            self._check_moved()
            if self.max_bytes and self._regular:
                self._write_rotating(lines)
            else:
                self._write(lines)
            self._file.flush()
        except OSError as exc:
            self._close()  # opened again by the next batch
            raise PublishError(f"file://{self.path}: cannot write "
                               f"({exc.strerror or exc})") from exc
        self._counts["published"] += len(lines)

    def _write(self, lines: Iterable[str]) -> None:
        data = "".join(lines).encode("utf-8")
        self._file.write(data)
        self._size += len(data)

    def _write_rotating(self, lines: list[str]) -> None:
        # the texts are ASCII (JSON's escapes): a line's length is its bytes
        ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)))
        start, n = 0, len(lines)
        while start < n:
            base = int(ends[start - 1]) if start else 0
            stop = int(np.searchsorted(ends, base + self.max_bytes - self._size,
                                       side="right"))
            if stop <= start:  # the next line does not fit
                if self._size:
                    self._file.flush()
                    self._rotate()
                    continue
                stop = start + 1  # a line longer than max_bytes: a file of its own
            self._write(lines[start:stop])
            start = stop

    def close(self) -> None:
        self._close()
