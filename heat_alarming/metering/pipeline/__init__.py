"""The collect -> transform -> publish pipeline (no engine or Heat imports).

A pipeline file names *sources* (a collector polled every ``interval`` seconds)
and *sinks* (transformers, then publishers); samples travel between the parts as
:class:`~heat_alarming.metering.batch.SampleBatch` columns.  The contracts of the
three kinds of part are in :mod:`heat_alarming.metering.pipeline.base`.
"""
