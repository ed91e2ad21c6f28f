"""The ``heat-alarming`` command: one entry point, one subcommand per job."""
from __future__ import annotations

import argparse
import importlib
import logging as std_logging
import sys
from collections.abc import Sequence

from heat_alarming import __version__
from heat_alarming.errors import CommandError

#: subcommand -> (module with add_arguments() and run(), one-line help)
COMMANDS = {
    "demo": ("heat_alarming.demo.run",
             "autoscale a stack in an embedded heat-engine and show the timeline"),
    "store-demo": ("heat_alarming.store_demo",
                   "ingest a synthetic load into the store and print per-period statistics"),
    "install-plugin": ("heat_alarming.install_plugin",
                       "write the plugin shim heat-engine loads and check heat.conf"),
    "agent": ("heat_alarming.agent",
              "run a pipeline file standalone: poll its sources and publish the samples"),
    "alarm": ("heat_alarming.alarm_cli",
              "read an alarm database: list, show, history and state of its alarms"),
    "explain": ("heat_alarming.explain_cli",
                "why an alarm is in its state: the facts of its round, from the database"),
    "backtest": ("heat_alarming.backtest.command",
                 "replay a load trace against a template's alarms and policies, without Heat"),
}


def _add_command(subparsers, name: str, module_name: str, help_text: str) -> None:
    module = importlib.import_module(module_name)
    parser = subparsers.add_parser(name, help=help_text,
                                   description=module.__doc__.strip().splitlines()[0])
    module.add_arguments(parser)
    # also after the command (``heat-alarming demo --debug``); SUPPRESS leaves the
    # global --debug's value alone when it is not given here
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log at DEBUG level")
    # a service command (SERVICE) logs at INFO; the others only warnings, unless --debug
    parser.set_defaults(run=module.run, command=name,
                        service=getattr(module, "SERVICE", False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heat-alarming",
        description="Metric alarms and autoscaling evaluated inside OpenStack Heat.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config-file", metavar="FILE", action="append", default=[],
                        help="an oslo.config file (for example heat.conf) whose "
                             "[heat_alarming] section configures the store; may repeat")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        _add_command(subparsers, name, module_name, help_text)
    return parser


def _setup_logging(args: argparse.Namespace):
    from oslo_config import cfg
    from oslo_log import log as logging

    from heat_alarming import opts

    conf = cfg.ConfigOpts()
    logging.register_options(conf)
    opts.register_opts(conf)
    # stdout carries a command's own output (a table, a timeline): the log goes to
    # stderr unless the configuration says otherwise (a log_file, say)
    conf.set_default("use_stderr", True)
    conf([], project="heat-alarming", default_config_files=args.config_file)
    conf.set_override("debug", args.debug)
    logging.setup(conf, "heat-alarming")
    if not getattr(args, "service", False) and not args.debug:
        # a one-shot command says what it did itself; the libraries' INFO records
        # (a snapshot restored, say) would only repeat it
        std_logging.getLogger().setLevel(std_logging.WARNING)
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    conf = _setup_logging(args)
    try:
        return int(args.run(args, conf) or 0)
    except CommandError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())
