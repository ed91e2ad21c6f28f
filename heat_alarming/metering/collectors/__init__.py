"""Collectors: one file per source of samples, loaded through the
``heat_alarming.collectors`` entry points (see
:class:`heat_alarming.metering.pipeline.base.Collector`)."""
