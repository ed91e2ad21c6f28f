"""``heat-alarming install-plugin``: make heat-engine load heat-alarming's resources.

heat-engine loads resource plugins only from ``plugin_dirs``, so this writes
a two-line shim module there that imports the installed package.  It then
checks the two things that silently defeat a plugin: a ``plugin_dirs`` that
does not list the directory, and ``environment.d`` mappings (Heat's stock
``default.yaml`` maps ``OS::Metering::Alarm`` to ``OS::Aodh::Alarm``) that
replace our types after plugins are loaded.  ``--fix`` comments those
mappings out.
"""
from __future__ import annotations

import argparse
import configparser
import glob
import os
import re
import sys

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin-dir", help="directory to write the shim into (default: the "
                                             "first of plugin_dirs in heat.conf, else "
                                             "/usr/local/lib/heat)")
    parser.add_argument("--heat-conf", default="/etc/heat/heat.conf",
                        help="heat.conf to check (default /etc/heat/heat.conf)")
    parser.add_argument("--fix", action="store_true",
                        help="comment out environment.d mappings that replace our types")


def _heat_conf(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if os.path.exists(path):
        parser.read(path)
    return parser


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


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


def run(args: argparse.Namespace, conf=None) -> int:
    # the shim imports heat_alarming.resources, which heat-engine can load only beside Heat
    require("heat", "the plugin", "heat")
    heat_conf = _heat_conf(args.heat_conf)
    configured = _list(heat_conf.get("DEFAULT", "plugin_dirs", fallback=None))
    plugin_dirs = configured or HEAT_DEFAULT_PLUGIN_DIRS
    plugin_dir = args.plugin_dir or (configured[0] if configured else "/usr/local/lib/heat")
    os.makedirs(plugin_dir, exist_ok=True)
    shim = os.path.join(plugin_dir, SHIM_NAME)
    with open(shim, "w", encoding="utf-8") as handle:
        handle.write(SHIM)
    print(f"wrote {shim}")
    problems = []
    if os.path.abspath(plugin_dir) not in {os.path.abspath(d) for d in plugin_dirs}:
        where = "plugin_dirs" if configured else "the default plugin_dirs"
        problems.append(f"{plugin_dir} is not in {where} of {args.heat_conf}; add it: "
                        f"[DEFAULT] plugin_dirs = {','.join(plugin_dirs + [plugin_dir])}")
    environment_dir = heat_conf.get("DEFAULT", "environment_dir",
                                    fallback=DEFAULT_ENVIRONMENT_DIR)
    lines = conflicting_lines(environment_dir)
    if lines and args.fix:
        comment_out(lines)
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
