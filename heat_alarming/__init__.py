"""heat-alarming: metric alarms and autoscaling evaluated inside heat-engine.

Layering: ``metering`` (samples and the rolling-window store) is imported by
``engine`` (alarm rules and evaluation), which is imported by ``resources``
(Heat plugins). Only ``resources`` imports Heat.
"""

__version__ = "0.1.0"

#: the heat.conf section of every heat-alarming option (gathered in heat_alarming.opts)
GROUP = "heat_alarming"
