"""Configuration from heat.conf's [heat_alarming] builds the store and the evaluator."""
import pathlib
import re
import runpy

from oslo_config import cfg

from heat_alarming import opts
from tests.support.databases import SCHEMA_HEAD

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_an_evaluator_and_store_are_built_from_a_config_file(tmp_path):
    conf_file = tmp_path / "heat.conf"
    conf_file.write_text(
        "[heat_alarming]\n"
        f"alarm_database = {tmp_path / 'alarms.sqlite'}\n"
        "store_resolution = 5\nstore_retention = 600\n"
        "evaluation_interval = 15\nnotification_timeout = 2.5\n"
        "ssl_verify = false\npercentile_meters = latency\n")
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[str(conf_file)])
    store = opts.store_from_conf(conf)
    evaluator = opts.evaluator_from_conf(conf, store)
    assert (store.resolution, store.retention) == (5, 600)
    assert store.tracks_raw("latency") and not store.tracks_raw("cpu_util")
    assert evaluator.interval == 15.0
    assert evaluator.notifiers.settings.timeout == 2.5
    assert evaluator.notifiers.settings.verify is False
    assert evaluator.alarm_store.schema_version() == SCHEMA_HEAD
    assert (tmp_path / "alarms.sqlite").exists()


def test_the_entry_point_lists_every_option_once():
    ((group, options),) = opts.list_opts()
    names = [o.name for o in options]
    assert group == "heat_alarming" and len(names) == len(set(names))


def generator_tool():
    """tools/generate-config-docs.py's functions (it is a script, not a module)."""
    return runpy.run_path(str(ROOT / "tools" / "generate-config-docs.py"))


def test_the_sample_in_the_docs_is_what_oslo_config_generator_prints():
    tool = generator_tool()
    printed = tool["sample"]()
    assert "[heat_alarming]" in printed and "#store_resolution = 10" in printed
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert tool["current_block"](doc) == tool["block"](printed), \
        "docs/configuration.md's sample is out of date: run tools/generate-config-docs.py"


def shown(default) -> str:
    """A default as the tables of docs/configuration.md write it."""
    if default is None:
        return "(unset)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (list, tuple)):
        return ", ".join(str(d) for d in default) or "(empty)"
    if isinstance(default, (int, float)):
        return str(int(default)) if float(default).is_integer() else str(default)
    return default or "(empty)"


def test_the_tables_in_the_docs_give_every_options_own_default():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", doc, re.MULTILINE))
    ((_, options),) = opts.list_opts()
    wrong = {o.name: (rows.get(o.name), shown(o.default)) for o in options
             if rows.get(o.name, "").strip() != shown(o.default)}
    assert wrong == {}, "docs/configuration.md (table, code) differ"
