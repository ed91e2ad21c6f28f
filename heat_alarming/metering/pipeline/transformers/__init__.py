"""The pipeline's transformers: derived meters, whole-array over sample batches.

=================  ===============================================================
entry point        class
=================  ===============================================================
rate_of_change     :class:`RateOfChange`: counter to rate per second (a gauge)
cpu_util           :class:`CpuUtil`: ``cpu`` (ns) to ``cpu_util`` (%)
memory_util        :class:`MemoryUtil`: ``memory.usage`` / total to ``memory_util`` (%)
unit_conversion    :class:`UnitConversion`: rename, scale and offset, new unit
arithmetic         :class:`Arithmetic`: an expression over the meters of a resource
aggregator         :class:`Aggregator`: one value per group of resources and window
=================  ===============================================================

Each works out per series tuple (cached by the tuple's identity, which
collectors keep across polls) what a series means to it, then treats every
sample of a batch whole-array; none changes its input batch's arrays.
"""
from heat_alarming.metering.pipeline.transformers.aggregator import Aggregator
from heat_alarming.metering.pipeline.transformers.arithmetic import Arithmetic
from heat_alarming.metering.pipeline.transformers.conversion import UnitConversion
from heat_alarming.metering.pipeline.transformers.memory import MemoryUtil
from heat_alarming.metering.pipeline.transformers.rate import CpuUtil, RateOfChange

__all__ = ["Aggregator", "Arithmetic", "CpuUtil", "MemoryUtil", "RateOfChange",
           "UnitConversion"]
