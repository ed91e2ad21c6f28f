"""Every option of ``[heat_alarming]``, gathered from the modules that read them.

Each option is declared beside the code that reads it; this module only gathers
them.  ``list_opts`` is the ``oslo.config.opts`` entry point, so
``oslo-config-generator --namespace heat_alarming`` documents them, and
``docs/configuration.md`` holds that output (``tools/generate-config-docs.py``
writes it; ``tests/unit/test_opts.py`` checks it).  Trust actions also read
Heat's own ``[trustee]`` section (:mod:`heat_alarming.engine.notifiers.trust`),
which Heat documents and registers.

The functions that build things from the options live with the options:
:func:`~heat_alarming.metering.store_conf.store_from_conf`,
:func:`~heat_alarming.engine.evaluator.evaluator_from_conf` and the others
re-exported here.
"""
from __future__ import annotations

from oslo_config import cfg

from heat_alarming import GROUP
from heat_alarming.engine.evaluator import evaluator_from_conf, evaluator_opts
from heat_alarming.engine.journal import signal_opts
from heat_alarming.engine.listener import listener_opts
from heat_alarming.engine.metrics import metrics_opts
from heat_alarming.engine.notifiers import notifier_opts, notifier_settings_from_conf
from heat_alarming.engine.notifiers.destinations import (
    destination_opts,
    destination_policy_from_conf,
)
from heat_alarming.engine.notifiers.dispatcher import dispatcher_opts
from heat_alarming.engine.notifiers.trust import trust_opts
from heat_alarming.engine.promql_source import prometheus_opts
from heat_alarming.engine.worker import worker_opts
from heat_alarming.metering.store_conf import restore_from_conf, store_from_conf, store_opts

__all__ = ["GROUP", "OPTION_LISTS", "destination_policy_from_conf", "evaluator_from_conf",
           "list_opts", "notifier_settings_from_conf", "register_opts", "restore_from_conf",
           "store_from_conf"]

#: the option lists of [heat_alarming], in the order the sample and the docs show them
OPTION_LISTS = (
    store_opts,
    signal_opts,
    worker_opts,
    evaluator_opts,
    notifier_opts,
    dispatcher_opts,
    trust_opts,
    destination_opts,
    prometheus_opts,
    listener_opts,
    metrics_opts,
)


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every option of ``[heat_alarming]`` on ``conf``."""
    for options in OPTION_LISTS:
        conf.register_opts(options, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``oslo.config.opts`` entry point."""
    return [(GROUP, [opt for options in OPTION_LISTS for opt in options])]
