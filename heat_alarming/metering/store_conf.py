"""The store's options of ``[heat_alarming]`` and the store built from them.

:func:`store_from_conf` makes a :class:`~heat_alarming.metering.store.RollingStore`
of the configured shape and limits; :func:`restore_from_conf` restores one from a
snapshot when the snapshot's shape is still the configured one.
"""
from __future__ import annotations

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import GROUP
from heat_alarming.metering import raw, sample
from heat_alarming.metering import store as store_mod
from heat_alarming.metering.clock import system_clock

LOG = logging.getLogger(__name__)

#: series one project may hold when not configured otherwise
MAX_SERIES_PER_PROJECT = 10000

store_opts = [
    cfg.IntOpt("store_resolution", default=store_mod.RESOLUTION, min=1,
               help="Width in seconds of one bucket of the rolling-window store. "
                    "Alarm periods must be multiples of it."),
    cfg.IntOpt("store_retention", default=store_mod.RETENTION, min=1,
               help="Length in seconds of the rolling window; a multiple of "
                    "store_resolution. Samples older than this are refused and "
                    "alarms cannot look further back."),
    cfg.IntOpt("max_clock_skew", default=store_mod.MAX_CLOCK_SKEW, min=0,
               help="How many seconds into the future a sample's timestamp may be. The store "
                    "keeps this much more than store_retention (memory grows with it), "
                    "so that future samples never push out data inside the retention."),
    cfg.IntOpt("max_metadata_bytes", default=sample.MAX_METADATA_BYTES, min=0,
               help="Largest resource metadata accepted with a sample, as JSON bytes."),
    cfg.IntOpt("max_field_length", default=sample.MAX_FIELD_LENGTH, min=1,
               help="Longest text accepted in a sample field that names a series: meter "
                    "name, resource_id, project_id, user_id, unit and source."),
    cfg.IntOpt("max_series_per_project", default=MAX_SERIES_PER_PROJECT, min=1,
               help="Series (meter x resource) one project may hold in the store at "
                    "once. A signal that would create more is refused whole; series "
                    "without a sample for store_retention seconds are forgotten and "
                    "stop counting."),
    cfg.IntOpt("raw_samples_per_series", default=raw.CAPACITY, min=1,
               help="Raw samples kept per series of meters listed in "
                    "percentile_meters; percentiles are exact while a period holds "
                    "no more samples than this, and flagged inexact beyond."),
    cfg.ListOpt("percentile_meters", default=[],
                help="Meters whose raw values are kept for percentile statistics "
                     "(pNN); '*' keeps them for every meter at a memory cost of "
                     "16 bytes per raw sample."),
]


def register_store_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(store_opts, group=GROUP)


def store_from_conf(conf: cfg.ConfigOpts, clock=None, snapshot_path: str | None = None):
    """A store configured from ``[heat_alarming]``, restored from ``snapshot_path`` if
    given and readable (a heat-engine worker passes its own file, see
    :func:`restore_from_conf`)."""
    restored = restore_from_conf(conf, snapshot_path, clock) if snapshot_path else None
    return restored[0] if restored else _configured(conf, None, clock)


def restore_from_conf(conf: cfg.ConfigOpts, path: str, clock=None):
    """(store, the snapshot's extra) from the snapshot at ``path``, or None when there is
    none, it is unreadable (logged), or its buckets are not the configured ones."""
    from heat_alarming.metering.snapshot import restore_snapshot

    register_store_opts(conf)
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
        store = store_mod.RollingStore.from_state(meta, arrays, clock=clock or system_clock)
    return _configured(conf, store, clock), extra


def _configured(conf: cfg.ConfigOpts, store, clock):
    register_store_opts(conf)
    group = conf[GROUP]
    if store is None:
        store = store_mod.RollingStore(group.store_resolution, group.store_retention,
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
