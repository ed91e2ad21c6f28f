"""Run a pipeline file standalone: poll its sources, transform, publish (a systemd service).

``heat-alarming agent --pipeline FILE`` builds the pipeline of FILE and polls it
until SIGTERM or SIGINT, then flushes its transformers and publishers and exits
0.  It never daemonizes, logs to stderr (oslo.log; a ``log_file`` in the
``--config-file`` wins) and tells systemd it is ready (``READY=1`` to
``$NOTIFY_SOCKET``, for ``Type=notify``) once its pollers run.

``--check`` reads the file and builds every part, prints one line and exits 0
(valid) or 1; ``--once`` polls each source once, publishes, flushes and exits
(1 if a source failed or a publisher lost samples).  Every failure is one line
on stderr: ``heat-alarming agent: error: FILE: sources[0].interval: must be
...``; exit 1 for a pipeline that cannot run, 2 for a file that cannot be read.

The agent has no store of its own, so a ``store://`` publisher is an error here:
it publishes to heat-engine with ``notifier://`` (whose broker comes from the URL
or the ``--config-file``, as in heat-engine).
"""
from __future__ import annotations

import argparse
import logging as std_logging
import os
import signal
import socket
import threading
import warnings

from oslo_log import log as logging

from heat_alarming.errors import CommandError
from heat_alarming.metering.pipeline.base import PipelineError
from heat_alarming.metering.pipeline.definition import load_file
from heat_alarming.metering.pipeline.runner import Pipeline

LOG = logging.getLogger(__name__)

PROG = "heat-alarming agent"
#: cli.py: a service, which logs at INFO (to stderr unless the configuration says otherwise)
SERVICE = True
EXIT_INVALID, EXIT_UNREADABLE = 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", metavar="FILE", required=True,
                        help="the pipeline file (sources and sinks; see etc/pipeline.yaml)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="read the file and build its parts, print one line, exit 0 if "
                           "valid, 1 if not")
    mode.add_argument("--once", action="store_true",
                      help="poll each source once, publish, flush and exit")


def sd_notify(state: str) -> bool:
    """Send ``state`` (``READY=1``) to systemd's ``$NOTIFY_SOCKET``; whether it went."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        LOG.warning("Could not notify systemd (%s) of %s: %s", address, state, exc)
        return False
    return True


def _host_configuration(args: argparse.Namespace) -> None:
    """Publishers read the host's options from ``cfg.CONF``, as inside heat-engine
    (``notifier://`` its broker): load the --config-file files there too."""
    if not args.config_file:
        return
    from oslo_config import cfg

    from heat_alarming import opts

    opts.register_opts(cfg.CONF)
    try:
        import oslo_messaging.opts
    except ImportError:  # no notifier:// then (it says which extra it needs): no options
        messaging_opts = []
    else:
        messaging_opts = oslo_messaging.opts.list_opts()
    for group, options in messaging_opts:
        cfg.CONF.register_opts(options, group=group)
    cfg.CONF([], project="heat-alarming", default_config_files=args.config_file)


def _quiet_imports() -> None:
    """oslo.messaging's import (notifier://) loads oslo.service's backend, which logs
    it at INFO and warns that eventlet is deprecated: neither is the agent's news."""
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    backend = std_logging.getLogger("oslo_service.backend")
    if not backend.isEnabledFor(std_logging.DEBUG):
        backend.setLevel(std_logging.WARNING)


def run(args: argparse.Namespace, conf) -> int:
    name = args.pipeline
    _quiet_imports()
    try:
        definition = load_file(name)
    except OSError as exc:
        raise CommandError(f"{name}: cannot read it: {exc.strerror or exc}",
                           status=EXIT_UNREADABLE) from exc
    except PipelineError as exc:
        raise CommandError(f"{name}: {exc}", status=EXIT_INVALID) from exc
    try:
        _host_configuration(args)
        pipeline = Pipeline(definition)  # no local store here: store:// is refused
    except PipelineError as exc:
        raise CommandError(f"{name}: {exc}", status=EXIT_INVALID) from exc
    except Exception as exc:  # a configuration file oslo.config cannot read
        raise CommandError(f"{name}: {type(exc).__name__}: {exc}",
                           status=EXIT_INVALID) from exc
    if args.check:
        pipeline.stop()
        print(f"{PROG}: {name}: OK: {definition.summary()}")
        return 0
    if args.once:
        return _once(pipeline, name)
    return _serve(pipeline, name)


def _once(pipeline: Pipeline, name: str) -> int:
    pipeline.run_once()
    pipeline.stop()
    stats = pipeline.stats()
    for source, counts in stats["sources"].items():
        if counts["failures"] or counts["timeouts"]:
            raise CommandError(f"{name}: source {source}: {counts['last_error']}",
                               status=EXIT_INVALID)
    for sink, counts in stats["sinks"].items():
        if counts["failures"]:
            raise CommandError(f"{name}: sink {sink}: {counts['last_error']}",
                               status=EXIT_INVALID)
    for publisher, counts in stats["publishers"].items():
        if counts["dropped"]:
            raise CommandError(f"{name}: {publisher}: {counts['dropped']} samples not "
                               f"published: {counts['last_error']}", status=EXIT_INVALID)
    samples = sum(c["samples"] for c in stats["sources"].values())
    published = sum(c["published"] for c in stats["publishers"].values())
    sources = len(stats["sources"])
    print(f"{PROG}: {name}: polled {sources} source{'' if sources == 1 else 's'}: "
          f"{samples} samples, {published} published")
    return 0


def _serve(pipeline: Pipeline, name: str) -> int:
    stopping = threading.Event()

    def handle(signum, frame):
        LOG.info("Signal %s: stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        pipeline.start()
        LOG.info("Pipeline %s running: %s", name, pipeline.definition.summary())
        sd_notify("READY=1")
        stopping.wait()
        sd_notify("STOPPING=1")
        pipeline.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    LOG.info("Pipeline %s stopped", name)
    return 0
