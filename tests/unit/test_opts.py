"""Configuration from heat.conf's [heat_alarming] builds the store and the evaluator."""
from oslo_config import cfg

from heat_alarming import opts


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
    assert evaluator.alarm_store.schema_version() == "0004"
    assert (tmp_path / "alarms.sqlite").exists()


def test_the_entry_point_lists_every_option_once():
    ((group, options),) = opts.list_opts()
    names = [o.name for o in options]
    assert group == "heat_alarming" and len(names) == len(set(names))
