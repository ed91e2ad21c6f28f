"""Configuration options, registered with oslo.config under ``[heat_alarming]``.

``list_opts`` is the ``oslo.config.opts`` entry point, so
``oslo-config-generator --namespace heat_alarming`` documents them and
heat.conf can carry them.  ``docs/configuration.md`` lists every option.
"""
from __future__ import annotations

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

GROUP = "heat_alarming"

store_opts = [
    cfg.IntOpt("store_resolution", default=10, min=1,
               help="Width in seconds of one bucket of the rolling-window store. "
                    "Alarm periods must be multiples of it."),
    cfg.IntOpt("store_retention", default=3600, min=1,
               help="Length in seconds of the rolling window; a multiple of "
                    "store_resolution. Samples older than this are refused and "
                    "alarms cannot look further back."),
    cfg.IntOpt("max_clock_skew", default=300, min=0,
               help="How many seconds into the future a sample's timestamp may be."),
    cfg.IntOpt("max_metadata_bytes", default=8192, min=0,
               help="Largest resource metadata accepted with a sample, as JSON bytes."),
    cfg.IntOpt("raw_samples_per_series", default=512, min=1,
               help="Raw samples kept per series of meters listed in "
                    "percentile_meters; percentiles are exact while a period holds "
                    "no more samples than this, and flagged inexact beyond."),
    cfg.ListOpt("percentile_meters", default=[],
                help="Meters whose raw values are kept for percentile statistics "
                     "(pNN); '*' keeps them for every meter at a memory cost of "
                     "16 bytes per raw sample."),
    cfg.StrOpt("snapshot_path",
               help="Where each heat-engine worker snapshots its store and restores it "
                    "from on start: worker n of a host (the first free slot) writes "
                    "<snapshot_path>.<n>. Samples are durable in the sample journal "
                    "anyway; a snapshot saves replaying it on start. Unset: windows are "
                    "rebuilt from the journal alone."),
    cfg.IntOpt("snapshot_interval", default=30, min=1,
               help="Seconds between a worker's store snapshots (and one more on a "
                    "clean stop); a restart replays from the journal only what came "
                    "after the snapshot."),
]


evaluator_opts = [
    cfg.StrOpt("alarm_database", default="heat-alarming.sqlite",
               help="Where alarms, their state, history and pending notifications are "
                    "kept: a SQLAlchemy URL (postgresql+psycopg2://...) or a file path "
                    "for SQLite."),
    cfg.FloatOpt("evaluation_interval", default=60.0, min=1.0,
                 help="Seconds between full evaluation rounds. Alarms are also "
                      "evaluated as soon as one of their periods closes."),
    cfg.FloatOpt("period_close_delay", default=0.5, min=0.0,
                 help="Seconds to wait after a period closes before evaluating it, "
                      "for samples stamped just before the close to arrive."),
    cfg.IntOpt("history_retention", default=30 * 86400, min=60,
               help="Seconds alarm history is kept."),
    cfg.FloatOpt("heartbeat_interval", default=5.0, min=0.1,
                 help="Seconds between a heat-engine worker's heartbeats in the alarm "
                      "database; a worker silent for two intervals is taken for dead and "
                      "its projects' alarms move to the live workers."),
    cfg.FloatOpt("journal_poll_interval", default=1.0, min=0.05,
                 help="Seconds between reads of the sample journal, through which samples "
                      "pushed to one worker reach the worker that owns their project."),
]

notifier_opts = [
    cfg.FloatOpt("notification_timeout", default=10.0, min=0.1,
                 help="Seconds a webhook call may take before it is abandoned and retried."),
    cfg.IntOpt("notification_max_attempts", default=8, min=1,
               help="Delivery attempts of one notification before it is given up and "
                    "the failure recorded in the alarm's history."),
    cfg.FloatOpt("notification_backoff", default=1.0, min=0.0,
                 help="Seconds before the first retry; each further retry waits twice "
                      "as long, up to notification_max_backoff."),
    cfg.FloatOpt("notification_max_backoff", default=300.0, min=0.0,
                 help="Longest wait between two delivery attempts."),
    cfg.IntOpt("notification_workers", default=16, min=1,
               help="Notifications delivered in parallel: the threads of each of the "
                    "two delivery pools, one for in-process actions (inproc://, log://) "
                    "and one for remote ones (webhooks)."),
    cfg.IntOpt("notification_workers_per_project", default=2, min=1,
               help="Notifications of one project delivered in parallel in each pool, "
                    "so that a project whose targets are slow or dead holds at most "
                    "this many threads; the others deliver the other projects' "
                    "notifications, every project's oldest due one first."),
    cfg.BoolOpt("ssl_verify", default=True,
                help="Verify the TLS certificate of https webhooks."),
    cfg.StrOpt("ssl_ca_file",
               help="CA bundle to verify https webhooks with (instead of the system's)."),
    cfg.StrOpt("ssl_cert_file", help="Client certificate for https webhooks."),
    cfg.StrOpt("ssl_key_file", help="Private key of ssl_cert_file."),
    cfg.StrOpt("trust_auth_url",
               help="Keystone v3 URL for trust+http(s) actions."),
    cfg.StrOpt("trust_username",
               help="Service user that trust+http(s) actions authenticate as, scoped "
                    "to the trust named in the action URL."),
    cfg.StrOpt("trust_password", secret=True, help="Password of trust_username."),
    cfg.StrOpt("trust_user_domain_name", default="Default",
               help="Domain of trust_username."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    for options in (store_opts, evaluator_opts, notifier_opts):
        conf.register_opts(options, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``oslo.config.opts`` entry point."""
    return [(GROUP, store_opts + evaluator_opts + notifier_opts)]


def notifier_settings_from_conf(conf: cfg.ConfigOpts):
    """:class:`NotifierSettings` from ``[heat_alarming]``."""
    from heat_alarming.engine.notifiers import NotifierSettings

    register_opts(conf)
    group = conf[GROUP]
    verify = group.ssl_ca_file if (group.ssl_verify and group.ssl_ca_file) else group.ssl_verify
    return NotifierSettings(timeout=group.notification_timeout, verify=verify,
                            client_cert=group.ssl_cert_file, client_key=group.ssl_key_file,
                            trust_auth_url=group.trust_auth_url,
                            trust_username=group.trust_username,
                            trust_password=group.trust_password,
                            trust_user_domain_name=group.trust_user_domain_name)


def evaluator_from_conf(conf: cfg.ConfigOpts, store, clock=None):
    """An evaluator on ``store`` with its alarm store, notifiers and dispatcher from config."""
    from heat_alarming.engine.alarm_store import AlarmStore
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.engine.notifiers import NotifierManager
    from heat_alarming.engine.notifiers.dispatcher import Dispatcher

    register_opts(conf)
    group = conf[GROUP]
    alarm_store = AlarmStore(group.alarm_database)
    manager = NotifierManager(notifier_settings_from_conf(conf))
    dispatcher = Dispatcher(alarm_store, manager, workers=group.notification_workers,
                            workers_per_project=group.notification_workers_per_project,
                            max_attempts=group.notification_max_attempts,
                            backoff=group.notification_backoff,
                            max_backoff=group.notification_max_backoff)
    return Evaluator(store, alarm_store, clock=clock, notifiers=manager, dispatcher=dispatcher,
                     interval=group.evaluation_interval,
                     period_close_delay=group.period_close_delay,
                     history_retention=group.history_retention)


def store_from_conf(conf: cfg.ConfigOpts, clock=None, snapshot_path: str | None = None):
    """A store configured from ``[heat_alarming]``, restored from ``snapshot_path`` if
    given and readable (a heat-engine worker passes its own file, see
    :func:`restore_from_conf`)."""
    restored = restore_from_conf(conf, snapshot_path, clock) if snapshot_path else None
    return restored[0] if restored else _configured(conf, None, clock)


def restore_from_conf(conf: cfg.ConfigOpts, path: str, clock=None):
    """(store, the snapshot's extra) from the snapshot at ``path``, or None when there is
    none, it is unreadable (logged), or its buckets are not the configured ones."""
    from heat_alarming.metering import system_clock
    from heat_alarming.metering.snapshot import restore_snapshot

    register_opts(conf)
    group = conf[GROUP]
    restored = restore_snapshot(path, clock=clock or system_clock)
    if restored is None:
        return None
    store, extra = restored
    if (store.resolution, store.retention) != (group.store_resolution, group.store_retention):
        LOG.warning("Snapshot %s has %d s buckets over %d s but the configuration "
                    "asks for %d s over %d s; starting with an empty store",
                    path, store.resolution, store.retention,
                    group.store_resolution, group.store_retention)
        return None
    return _configured(conf, store, clock), extra


def _configured(conf: cfg.ConfigOpts, store, clock):
    from heat_alarming.metering import RollingStore, system_clock

    register_opts(conf)
    group = conf[GROUP]
    if store is None:
        store = RollingStore(group.store_resolution, group.store_retention,
                             max_clock_skew=group.max_clock_skew,
                             max_metadata_bytes=group.max_metadata_bytes,
                             raw_capacity=group.raw_samples_per_series,
                             clock=clock or system_clock)
    for meter in group.percentile_meters:
        store.track_raw(meter)
    return store
