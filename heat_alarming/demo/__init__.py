"""``heat-alarming demo``: a stack autoscaled by alarms evaluated inside an embedded heat-engine.

``profile`` makes the load, ``timeline`` prints and keeps what happened,
``plot`` draws it, and ``run`` wires them to the engine.
"""
