"""Configuration options, registered with oslo.config under ``[heat_alarming]``.

``list_opts`` is the ``oslo.config.opts`` entry point, so
``oslo-config-generator --namespace heat_alarming`` documents them and
heat.conf can carry them.  ``docs/configuration.md`` lists every option.
"""
from __future__ import annotations

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming.engine.alarm import MAX_NESTING, Limits
from heat_alarming.engine.coordination import Membership
from heat_alarming.engine.listener import listener_opts
from heat_alarming.engine.metrics import metrics_opts
from heat_alarming.engine.notifiers import destinations
from heat_alarming.engine.promql_source import prometheus_opts
from heat_alarming.engine.worker import Worker
from heat_alarming.metering.sample import MAX_FIELD_LENGTH

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
               help="How many seconds into the future a sample's timestamp may be. The store "
                    "keeps this much more than store_retention (memory grows with it), "
                    "so that future samples never push out data inside the retention."),
    cfg.IntOpt("max_metadata_bytes", default=8192, min=0,
               help="Largest resource metadata accepted with a sample, as JSON bytes."),
    cfg.IntOpt("max_field_length", default=MAX_FIELD_LENGTH, min=1,
               help="Longest text accepted in a sample field that names a series: meter "
                    "name, resource_id, project_id, user_id, unit and source."),
    cfg.IntOpt("max_series_per_project", default=10000, min=1,
               help="Series (meter x resource) one project may hold in the store at "
                    "once. A signal that would create more is refused whole; series "
                    "without a sample for store_retention seconds are forgotten and "
                    "stop counting."),
    cfg.IntOpt("max_samples_per_signal", default=1000, min=1,
               help="Most sample rows one OS::Metering::Alarm signal may carry."),
    cfg.IntOpt("max_signal_bytes", default=1048576, min=1,
               help="Largest OS::Metering::Alarm signal accepted, as the JSON size of "
                    "its details in bytes (heat-api's max_json_body_size bounds REST "
                    "requests, but not the engine's RPC)."),
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
    cfg.IntOpt("snapshot_interval", default=int(Worker.snapshot_interval), min=1,
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
    cfg.FloatOpt("heartbeat_interval", default=Membership.heartbeat_interval, min=0.1,
                 help="Seconds between a heat-engine worker's heartbeats in the alarm "
                      "database; a worker silent for two intervals is taken for dead and "
                      "its projects' alarms move to the live workers."),
    cfg.FloatOpt("journal_poll_interval", default=Worker.journal_poll_interval, min=0.05,
                 help="Seconds between reads of the sample journal, through which samples "
                      "pushed to one worker reach the worker that owns their project."),
    cfg.IntOpt("max_alarms_per_project", default=Limits.alarms_per_project, min=1,
               help="Alarms one project may have; defining more is refused with an "
                    "error to that project only."),
    cfg.IntOpt("max_composite_leaves", default=Limits.composite_leaves, min=1,
               help="Threshold rules and alarm references one composite alarm may hold."),
    cfg.IntOpt("max_composite_depth", default=Limits.composite_depth, min=1,
               max=MAX_NESTING,
               help=f"and/or levels one composite rule may nest (at most {MAX_NESTING})."),
    cfg.IntOpt("max_time_constraints", default=Limits.time_constraints, min=0,
               help="Time constraints one alarm may have; each is a cron walk in every "
                    "round."),
    cfg.IntOpt("max_actions_per_state", default=Limits.actions_per_state, min=0,
               help="Actions one alarm may have for each state (alarm_actions, ok_actions, "
                    "insufficient_data_actions); each queues a notification per "
                    "transition or repeat."),
]

notifier_opts = [
    cfg.FloatOpt("notification_timeout", default=10.0, min=0.1,
                 help="Seconds one delivery attempt of a webhook may take in all (name "
                      "resolution, a trust action's keystone calls, connect, send, "
                      "reading the answer's status line) before it is abandoned and "
                      "retried."),
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

# the defaults live in heat_alarming.engine.notifiers.destinations, written once
destination_opts = [
    cfg.ListOpt("webhook_allowed_schemes", default=list(destinations.DEFAULT_ALLOWED_SCHEMES),
                help="Schemes webhooks may use (trust+http and trust+https actions count "
                     "as http and https)."),
    cfg.ListOpt("webhook_denied_networks",
                default=list(destinations.DEFAULT_DENIED_NETWORKS),
                help="Networks (CIDR) webhooks may never call. The most specific network "
                     "of webhook_denied_networks and webhook_allowed_networks that holds an "
                     "address decides, a denial on a tie; the default denies link-local "
                     "addresses, where metadata services answer (169.254.169.254)."),
    cfg.ListOpt("webhook_allowed_networks", default=[],
                help="Networks (CIDR) webhooks may call although they are loopback, "
                     "private or reserved (e.g. an internal receiver's 10.1.2.0/24). With "
                     "0.0.0.0/0 and ::/0 in webhook_denied_networks, only these networks "
                     "are callable."),
    cfg.BoolOpt("webhook_allow_loopback", default=False,
                help="Let webhooks call loopback addresses (127.0.0.0/8, ::1) that no "
                     "network of the two lists names: heat-engine's own host."),
    cfg.BoolOpt("webhook_allow_private", default=False,
                help="Let webhooks call addresses that are not globally routable "
                     "(10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, 0.0.0.0/8, "
                     "multicast, reserved...) that no network of the two lists names."),
    cfg.ListOpt("webhook_allowed_ports", item_type=cfg.types.Integer(min=1, max=65535),
                default=[],
                help="Ports webhooks may call; empty: any port."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    for options in (store_opts, evaluator_opts, notifier_opts, destination_opts,
                    listener_opts, prometheus_opts, metrics_opts):
        conf.register_opts(options, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``oslo.config.opts`` entry point."""
    return [(GROUP, store_opts + evaluator_opts + notifier_opts + destination_opts
             + listener_opts + prometheus_opts + metrics_opts)]


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
                            trust_user_domain_name=group.trust_user_domain_name,
                            policy=destination_policy_from_conf(conf))


def destination_policy_from_conf(conf: cfg.ConfigOpts):
    """The webhook :class:`~.destinations.DestinationPolicy` of ``[heat_alarming]``."""
    register_opts(conf)
    group = conf[GROUP]
    return destinations.DestinationPolicy(
        allowed_schemes=group.webhook_allowed_schemes,
        allowed_networks=group.webhook_allowed_networks,
        denied_networks=group.webhook_denied_networks,
        allow_loopback=group.webhook_allow_loopback,
        allow_private=group.webhook_allow_private,
        allowed_ports=group.webhook_allowed_ports)


def evaluator_from_conf(conf: cfg.ConfigOpts, store, clock=None):
    """An evaluator on ``store`` with its alarm store, notifiers and dispatcher from config."""
    from heat_alarming.engine.alarm_store import AlarmStore
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.engine.notifiers import NotifierManager
    from heat_alarming.engine.notifiers.dispatcher import Dispatcher
    from heat_alarming.engine.promql_source import source_from_conf

    register_opts(conf)
    group = conf[GROUP]
    alarm_store = AlarmStore(group.alarm_database)
    manager = NotifierManager(notifier_settings_from_conf(conf))
    dispatcher = Dispatcher(alarm_store, manager, workers=group.notification_workers,
                            workers_per_project=group.notification_workers_per_project,
                            max_attempts=group.notification_max_attempts,
                            backoff=group.notification_backoff,
                            max_backoff=group.notification_max_backoff)
    limits = Limits(composite_leaves=group.max_composite_leaves,
                    composite_depth=group.max_composite_depth,
                    alarms_per_project=group.max_alarms_per_project,
                    time_constraints=group.max_time_constraints,
                    actions_per_state=group.max_actions_per_state)
    return Evaluator(store, alarm_store, clock=clock, notifiers=manager, dispatcher=dispatcher,
                     interval=group.evaluation_interval,
                     period_close_delay=group.period_close_delay,
                     history_retention=group.history_retention, limits=limits,
                     promql=source_from_conf(conf, GROUP, clock=clock or store.clock))


def store_from_conf(conf: cfg.ConfigOpts, clock=None, snapshot_path: str | None = None):
    """A store configured from ``[heat_alarming]``, restored from ``snapshot_path`` if
    given and readable (a heat-engine worker passes its own file, see
    :func:`restore_from_conf`)."""
    restored = restore_from_conf(conf, snapshot_path, clock) if snapshot_path else None
    return restored[0] if restored else _configured(conf, None, clock)


def restore_from_conf(conf: cfg.ConfigOpts, path: str, clock=None):
    """(store, the snapshot's extra) from the snapshot at ``path``, or None when there is
    none, it is unreadable (logged), or its buckets are not the configured ones."""
    from heat_alarming.metering import RollingStore, system_clock
    from heat_alarming.metering.snapshot import restore_snapshot

    register_opts(conf)
    group = conf[GROUP]
    restored = restore_snapshot(path, clock=clock or system_clock)
    if restored is None:
        return None
    store, extra = restored
    # what shapes the store's arrays must be the configuration's: a snapshot of other
    # buckets or raw rings is not used (the journal rebuilds the windows instead)
    shape = {"store_resolution": store.resolution, "store_retention": store.retention,
             "raw_samples_per_series": store.raw.capacity}
    changed = [f"{name} {value:g} (now {group[name]:g})" for name, value in shape.items()
               if value != group[name]]
    if changed:
        LOG.warning("Snapshot %s was taken with %s; starting with an empty store",
                    path, ", ".join(changed))
        return None
    if store.validator.max_clock_skew != float(group.max_clock_skew):
        # the ring's size follows the skew: re-place the snapshot's buckets in a ring
        # sized for the configured skew (its cells go back by absolute bucket)
        meta, arrays = store.export_state()
        meta["max_clock_skew"] = float(group.max_clock_skew)
        store = RollingStore.from_state(meta, arrays, clock=clock or system_clock)
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
                             clock=clock or system_clock,
                             max_field_length=group.max_field_length,
                             max_series_per_project=group.max_series_per_project)
    # limits are the configuration's, also for a store restored from a snapshot
    store.max_series_per_project = group.max_series_per_project
    store.validator.max_field_length = group.max_field_length
    store.validator.max_metadata_bytes = group.max_metadata_bytes
    for meter in group.percentile_meters:
        store.track_raw(meter)
    return store
