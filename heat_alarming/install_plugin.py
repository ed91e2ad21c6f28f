"""``heat-alarming install-plugin``: make heat-engine load heat-alarming's resources.

heat-engine loads resource plugins only from ``plugin_dirs``, so this writes
a two-line shim module there that imports the installed package.  It then
checks the two things that silently defeat a plugin: a ``plugin_dirs`` that
does not list the directory, and ``environment.d`` mappings (Heat's stock
``default.yaml`` maps ``OS::Metering::Alarm`` to ``OS::Aodh::Alarm``) that
replace our types after plugins are loaded.  ``--fix`` comments those
mappings out.

heat.conf is read as heat-engine reads it, with oslo.config: the file, then the
``*.conf`` files of its configuration directories (``heat.conf.d`` beside it,
or those given with ``--config-dir``), a later file's value winning.  Only the
two options looked at are registered, with Heat's types and defaults; Heat
itself is not imported.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import sys

from oslo_config import cfg

from heat_alarming.errors import CommandError, require

SHIM_NAME = "heat_alarming_plugin.py"
SHIM = ('"""heat-alarming resource types; written by `heat-alarming install-plugin`."""\n'
        "from heat_alarming.resources.plugin import available_resource_mapping  # noqa: F401\n")
OUR_TYPES = ("OS::Metering::Alarm", "OS::Ceilometer::Alarm", "OS::Metering::CompositeAlarm",
             "OS::Metering::ScalingPolicy", "AWS::CloudWatch::Alarm",
             "OS::Metering::GnocchiAggregationByResourcesAlarm",
             "OS::Metering::GnocchiResourcesAlarm")
HEAT_DEFAULT_PLUGIN_DIRS = ["/usr/lib64/heat", "/usr/lib/heat", "/usr/local/lib/heat",
                            "/usr/local/lib64/heat"]
DEFAULT_ENVIRONMENT_DIR = "/etc/heat/environment.d"
DISABLED = "# disabled by heat-alarming install-plugin: "
#: what is read of heat.conf: Heat's own options (heat/common/config.py), same types
HEAT_OPTS = [
    cfg.ListOpt("plugin_dirs", default=HEAT_DEFAULT_PLUGIN_DIRS,
                help="List of directories to search for plug-ins."),
    cfg.StrOpt("environment_dir", default=DEFAULT_ENVIRONMENT_DIR,
               help="The directory to search for environment files."),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin-dir", help="directory to write the shim into (default: the "
                                             "first of plugin_dirs in heat.conf, else "
                                             "/usr/local/lib/heat)")
    parser.add_argument("--heat-conf", default="/etc/heat/heat.conf",
                        help="heat.conf to check (default /etc/heat/heat.conf)")
    parser.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                        help="a configuration directory heat-engine reads after heat.conf "
                             "(its --config-dir), whose *.conf files count too; may repeat "
                             "(default: <heat.conf>.d, e.g. /etc/heat/heat.conf.d, when it "
                             "exists)")
    parser.add_argument("--fix", action="store_true",
                        help="comment out environment.d mappings that replace our types")


def _heat_conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    """heat.conf and its configuration directories, as oslo.config reads them for
    heat-engine."""
    path = args.heat_conf
    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file; give heat-engine's configuration file "
                           "with --heat-conf")
    for directory in args.config_dir:
        if not os.path.isdir(directory):
            raise CommandError(f"--config-dir {directory}: no such directory")
    directories = args.config_dir or [d for d in (path + ".d",) if os.path.isdir(d)]
    conf = cfg.ConfigOpts()
    conf.register_opts(HEAT_OPTS)
    try:
        conf([], project="heat", default_config_files=[path],
             default_config_dirs=directories, use_env=False)
        _ = (conf.plugin_dirs, conf.environment_dir)  # values are parsed when read
    except cfg.Error as exc:
        raise CommandError(f"{path}: {exc}") from None
    return conf


def _configured_plugin_dirs(conf: cfg.ConfigOpts) -> list[str]:
    """plugin_dirs as heat.conf (or one of its directories' files) sets it; [] when
    nothing sets it."""
    if conf.get_location("plugin_dirs").location is cfg.Locations.opt_default:
        return []
    return [d for d in conf.plugin_dirs if d]


def conflicting_lines(environment_dir: str) -> list[tuple[str, int, str]]:
    """(file, line number, text) of every mapping of one of our types to something else."""
    names = "|".join(re.escape(t) for t in OUR_TYPES)
    pattern = re.compile(r"""^\s*["']?(""" + names + r""")["']?\s*:\s*\S""")
    found = []
    for path in sorted(glob.glob(os.path.join(environment_dir, "*"))):
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if pattern.match(line) and not line.lstrip().startswith("#"):
                    found.append((path, number, line.rstrip("\n")))
    return found


def comment_out(lines: list[tuple[str, int, str]]) -> None:
    by_file: dict[str, set[int]] = {}
    for path, number, _ in lines:
        by_file.setdefault(path, set()).add(number)
    for path, numbers in by_file.items():
        with open(path, encoding="utf-8") as handle:
            content = handle.readlines()
        for number in numbers:
            content[number - 1] = DISABLED + content[number - 1]
        tmp = path + ".heat-alarming.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(content)
        os.replace(tmp, path)


def _cannot_write(exc: OSError, fallback: str) -> CommandError:
    """A write refused by the system (not root, a file where a directory should be)."""
    return CommandError(f"{exc.filename or fallback}: cannot write it: "
                        f"{exc.strerror or exc}")


def run(args: argparse.Namespace, conf=None) -> int:
    # the shim imports heat_alarming.resources, which heat-engine can load only beside Heat
    require("heat", "the plugin", "heat")
    heat_conf = _heat_conf(args)
    configured = _configured_plugin_dirs(heat_conf)
    plugin_dirs = configured or HEAT_DEFAULT_PLUGIN_DIRS
    plugin_dir = args.plugin_dir or (configured[0] if configured else "/usr/local/lib/heat")
    shim = os.path.join(plugin_dir, SHIM_NAME)
    try:
        os.makedirs(plugin_dir, exist_ok=True)
        with open(shim, "w", encoding="utf-8") as handle:
            handle.write(SHIM)
    except OSError as exc:
        raise _cannot_write(exc, shim) from None
    print(f"wrote {shim}")
    problems = []
    if os.path.abspath(plugin_dir) not in {os.path.abspath(d) for d in plugin_dirs}:
        where = "plugin_dirs" if configured else "the default plugin_dirs"
        problems.append(f"{plugin_dir} is not in {where} of {args.heat_conf}; add it: "
                        f"[DEFAULT] plugin_dirs = {','.join(plugin_dirs + [plugin_dir])}")
    environment_dir = heat_conf.environment_dir
    lines = conflicting_lines(environment_dir)
    if lines and args.fix:
        try:
            comment_out(lines)
        except OSError as exc:
            raise _cannot_write(exc, environment_dir) from None
        print(f"commented out {len(lines)} line(s) in {environment_dir}; restart heat-engine")
    elif lines:
        where = ", ".join(f"{path}:{number} ({text.strip()})" for path, number, text in lines)
        problems.append(f"{len(lines)} environment.d mapping(s) map our types away and would "
                        f"silently replace the plugin: {where}; run again with --fix to "
                        "comment them out")
    if problems:
        # one line on stderr: heat-alarming install-plugin: error: ...
        raise CommandError("; ".join(problems))
    print("heat-engine will load heat-alarming on its next start")
    return 0


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
