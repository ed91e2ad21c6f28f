"""Packaging for heat-alarming: metric alarms and autoscaling inside OpenStack Heat."""
from setuptools import find_packages, setup

#: the Heat resource plugins, ``heat-alarming install-plugin`` and ``heat-alarming demo``
HEAT = ["openstack-heat>=25.0.0"]
#: the ``openstack metering alarm`` commands (heat_alarming/osc)
CLI = ["osc-lib>=2.0", "python-heatclient>=3.0.0", "keystoneauth1>=5.0"]
#: the metering listener and the pipeline's notifier:// publisher (heat-engine has it)
MESSAGING = ["oslo.messaging>=14.0"]

setup(
    name="heat-alarming",
    version="0.1.0",
    description=("Metric alarms and autoscaling evaluated inside heat-engine: "
                 "a numpy rolling-window store, an alarm engine and Heat "
                 "resource plugins."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=("tests", "tests.*", "benchmarks")),
    include_package_data=True,
    package_data={"heat_alarming": ["templates/*.yaml", "templates/*.json",
                                    "templates/environments/*.yaml"],
                  "heat_alarming.engine": ["migrations/*.py", "migrations/*.mako",
                                           "migrations/versions/*.py"]},
    # the library (heat_alarming.metering, heat_alarming.engine) and the commands that
    # need no Heat; the extras below add the rest
    install_requires=[
        "numpy>=1.26",
        "sqlalchemy>=1.4",
        "requests>=2.25",
        "keystoneauth1>=5.0",  # engine/notifiers/trust.py: trust+http actions
        "oslo.log>=5.0",
        "oslo.config>=9.0",
        "alembic>=1.8",
        "croniter>=1.3",
        "stevedore>=5.0",
        "tzdata",
        "PyYAML>=5.4",
        # each heat-engine worker's own metrics (heat_alarming/engine/metrics.py)
        "prometheus-client>=0.17",
    ],
    extras_require={
        "heat": HEAT,
        "cli": CLI,
        "messaging": MESSAGING,
        "test": HEAT + CLI + MESSAGING + [
            "pytest>=7.4",
            "pytest-timeout>=2.1",
            "testtools>=2.5",
            "ruff>=0.4",
            "psycopg2-binary>=2.9",
            "PyMySQL>=1.0",
            "trustme>=1.0",
            "matplotlib>=3.7",
            "psutil>=5.9",
            # tests/functional: tools/devstack-lite.sh runs keystone and heat-api under
            # gunicorn, and the test drives them with the openstack CLI
            "keystone>=27.0.0",
            "gunicorn>=22.0",
            "python-openstackclient>=7.0.0",
            # tests/unit/engine/test_listener.py publishes with Ceilometer's own notifier://
            # publisher (it adds no newer heat or oslo release than heat-engine needs)
            "ceilometer>=27.0.0,<28",
        ],
        # heat-alarming demo: Heat's engine; --plot draws with matplotlib, --source host
        # reads psutil
        "demo": HEAT + [
            "matplotlib>=3.7",
            "psutil>=5.9",
        ],
        # heat-alarming backtest's plot (no Heat)
        "plot": [
            "matplotlib>=3.7",
        ],
        "postgresql": [
            "psycopg2-binary>=2.9",
        ],
        "mysql": [
            "PyMySQL>=1.0",
        ],
    },
    entry_points={
        "console_scripts": [
            "heat-alarming = heat_alarming.cli:main",
        ],
        # the openstack CLI plugin: openstack metering alarm list|show|state|history|explain
        "openstack.cli.extension": [
            "metering = heat_alarming.osc.plugin",
        ],
        "openstack.metering.v1": [
            "metering_alarm_list = heat_alarming.osc.v1.alarms:ListAlarm",
            "metering_alarm_show = heat_alarming.osc.v1.alarms:ShowAlarm",
            "metering_alarm_state = heat_alarming.osc.v1.alarms:StateAlarm",
            "metering_alarm_history = heat_alarming.osc.v1.alarms:HistoryAlarm",
            "metering_alarm_explain = heat_alarming.osc.v1.alarms:ExplainAlarm",
        ],
        "oslo.config.opts": [
            "heat_alarming = heat_alarming.opts:list_opts",
        ],
        "heat_alarming.collectors": [
            "prometheus = heat_alarming.metering.collectors.prometheus:PrometheusCollector",
            "gnocchi = heat_alarming.metering.collectors.gnocchi:GnocchiCollector",
            "synthetic = heat_alarming.metering.collectors.synthetic:SyntheticCollector",
        ],
        "heat_alarming.transformers": [
            "rate_of_change = heat_alarming.metering.pipeline.transformers:RateOfChange",
            "cpu_util = heat_alarming.metering.pipeline.transformers:CpuUtil",
            "memory_util = heat_alarming.metering.pipeline.transformers:MemoryUtil",
            "unit_conversion = heat_alarming.metering.pipeline.transformers:UnitConversion",
            "arithmetic = heat_alarming.metering.pipeline.transformers:Arithmetic",
            "aggregator = heat_alarming.metering.pipeline.transformers:Aggregator",
        ],
        "heat_alarming.publishers": [
            "store = heat_alarming.metering.pipeline.publishers:StorePublisher",
            "notifier = heat_alarming.metering.pipeline.publishers:NotifierPublisher",
            "http = heat_alarming.metering.pipeline.publishers:HttpPublisher",
            "https = heat_alarming.metering.pipeline.publishers:HttpPublisher",
            "file = heat_alarming.metering.pipeline.publishers:FilePublisher",
        ],
        "heat_alarming.notifiers": [
            "log = heat_alarming.engine.notifiers.log:LogNotifier",
            "http = heat_alarming.engine.notifiers.http:HTTPNotifier",
            "https = heat_alarming.engine.notifiers.http:HTTPNotifier",
            "trust+http = heat_alarming.engine.notifiers.trust:TrustNotifier",
            "trust+https = heat_alarming.engine.notifiers.trust:TrustNotifier",
            "inproc = heat_alarming.engine.notifiers.inproc:InprocNotifier",
        ],
    },
    classifiers=[
        "Environment :: OpenStack",
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
    ],
)
