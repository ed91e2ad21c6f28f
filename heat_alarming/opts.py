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
               help="File the store is snapshotted to and restored from. Unset: "
                    "the store lives in memory only."),
    cfg.IntOpt("snapshot_interval", default=30, min=1,
               help="Seconds between store snapshots; a crash loses at most this "
                    "much of the samples received."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(store_opts, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``oslo.config.opts`` entry point."""
    return [(GROUP, list(store_opts))]


def store_from_conf(conf: cfg.ConfigOpts, clock=None):
    """A store configured from ``[heat_alarming]``, restored from its snapshot if any."""
    from heat_alarming.metering import RollingStore, restore_store, system_clock

    register_opts(conf)
    group = conf[GROUP]
    clock = clock or system_clock
    store = None
    if group.snapshot_path:
        store = restore_store(group.snapshot_path, clock=clock)
        if store is not None and (store.resolution, store.retention) != (
                group.store_resolution, group.store_retention):
            LOG.warning("Snapshot %s has %d s buckets over %d s but the configuration "
                        "asks for %d s over %d s; starting with an empty store",
                        group.snapshot_path, store.resolution, store.retention,
                        group.store_resolution, group.store_retention)
            store = None
    if store is None:
        store = RollingStore(group.store_resolution, group.store_retention,
                             max_clock_skew=group.max_clock_skew,
                             max_metadata_bytes=group.max_metadata_bytes,
                             raw_capacity=group.raw_samples_per_series, clock=clock)
    for meter in group.percentile_meters:
        store.track_raw(meter)
    return store
