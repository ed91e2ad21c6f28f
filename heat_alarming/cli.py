"""The ``heat-alarming`` command: one entry point, one subcommand per job."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from heat_alarming import __version__


def _add_demo(subparsers) -> None:
    from heat_alarming.demo import run as heat_demo

    parser = subparsers.add_parser(
        "demo", help="autoscale a stack in an embedded heat-engine and show the timeline",
        description=heat_demo.__doc__.strip().splitlines()[0])
    heat_demo.add_arguments(parser)
    parser.set_defaults(run=heat_demo.run)


def _add_store_demo(subparsers) -> None:
    from heat_alarming import store_demo

    parser = subparsers.add_parser(
        "store-demo",
        help="ingest a synthetic load into the store and print per-period statistics",
        description=store_demo.__doc__.strip().splitlines()[0])
    store_demo.add_arguments(parser)
    parser.set_defaults(run=store_demo.run)


def _add_install_plugin(subparsers) -> None:
    from heat_alarming import install_plugin

    parser = subparsers.add_parser(
        "install-plugin", help="write the plugin shim heat-engine loads and check heat.conf",
        description=install_plugin.__doc__.strip().splitlines()[0])
    install_plugin.add_arguments(parser)
    parser.set_defaults(run=install_plugin.run)


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
    _add_demo(subparsers)
    _add_store_demo(subparsers)
    _add_install_plugin(subparsers)
    return parser


def _setup_logging(args: argparse.Namespace):
    from oslo_config import cfg
    from oslo_log import log as logging

    from heat_alarming import opts

    conf = cfg.ConfigOpts()
    logging.register_options(conf)
    opts.register_opts(conf)
    conf([], project="heat-alarming", default_config_files=args.config_file)
    conf.set_override("debug", args.debug)
    logging.setup(conf, "heat-alarming")
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    conf = _setup_logging(args)
    return int(args.run(args, conf) or 0)


if __name__ == "__main__":
    sys.exit(main())
