"""Without an optional extra, what needs it says which one to install, in one line.

The extras are simulated as absent in this process (tests/support/extras.py);
tests/functional/test_packaging.py runs the commands in a venv that really lacks them.
"""
import re

import pytest
from oslo_config import cfg

from heat_alarming import cli, opts
from heat_alarming.engine.listener import MeteringListener, listener_from_conf
from heat_alarming.metering.pipeline.publishers import NotifierPublisher
from heat_alarming.metering.sample import SampleValidator
from tests.support.extras import uninstalled

PIPELINE = """
sources:
  - name: fake
    collector: synthetic
    interval: 10
    meters: ["*"]
    sinks: [out]
sinks:
  - name: out
    publishers: ["{publisher}"]
"""


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def test_the_demo_without_heat_names_the_heat_extra_before_importing_any_of_it(
        capsys, monkeypatch):
    # oslo.service comes with Heat: the demo must not reach the module that imports it
    uninstalled(monkeypatch, "heat", "oslo_service")
    assert cli.main(["demo"]) == 1
    assert one_line(capsys) == ("heat-alarming demo: error: the demo needs heat, which is "
                                "not installed: pip install 'heat-alarming[heat]'")


def test_install_plugin_without_heat_names_the_heat_extra_and_writes_nothing(
        capsys, tmp_path, monkeypatch):
    uninstalled(monkeypatch, "heat")
    plugins = tmp_path / "plugins"
    code = cli.main(["install-plugin", "--plugin-dir", str(plugins),
                     "--heat-conf", str(tmp_path / "heat.conf")])
    assert code == 1
    assert one_line(capsys) == ("heat-alarming install-plugin: error: the plugin needs heat, "
                                "which is not installed: pip install 'heat-alarming[heat]'")
    assert not plugins.exists()


@pytest.mark.parametrize("argv, module, option", [
    (["--plot", "demo.png"], "matplotlib", "--plot"),
    (["--source", "host"], "psutil", "--source host"),
])
def test_the_demo_without_its_plotting_or_host_extra_fails_before_it_runs(
        capsys, monkeypatch, argv, module, option):
    uninstalled(monkeypatch, module)
    assert cli.main(["demo", *argv]) == 1
    assert one_line(capsys) == (f"heat-alarming demo: error: {option} needs {module}, which "
                                f"is not installed: pip install 'heat-alarming[demo]'")


def test_the_notifier_publisher_without_oslo_messaging_names_the_messaging_extra(
        monkeypatch):
    uninstalled(monkeypatch, "oslo_messaging")
    with pytest.raises(ImportError) as raised:
        NotifierPublisher("notifier://guest:guest@127.0.0.1:5672/", {}, conf=cfg.ConfigOpts())
    assert str(raised.value) == ("notifier:// needs oslo_messaging, which is not installed: "
                                 "pip install 'heat-alarming[messaging]'")
    assert raised.value.name == "oslo_messaging"


def test_the_agent_without_oslo_messaging_refuses_notifier_in_one_line(
        capsys, monkeypatch, tmp_path):
    uninstalled(monkeypatch, "oslo_messaging")
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(publisher="notifier://guest:guest@127.0.0.1:5672/"))
    assert cli.main(["agent", "--pipeline", str(path), "--check"]) == 1
    line = one_line(capsys)
    assert line.startswith(f"heat-alarming agent: error: {path}: ")
    assert line.endswith("notifier:// needs oslo_messaging, which is not installed: "
                         "pip install 'heat-alarming[messaging]')")


def test_the_agent_without_oslo_messaging_runs_a_pipeline_that_needs_none(
        capsys, monkeypatch, tmp_path):
    # a host configuration file is read without the messaging options: nothing uses them
    uninstalled(monkeypatch, "oslo_messaging")
    path, conf = tmp_path / "pipeline.yaml", tmp_path / "heat.conf"
    path.write_text(PIPELINE.format(publisher=f"file://{tmp_path}/samples.json"))
    conf.write_text("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 30\n")
    assert cli.main(["--config-file", str(conf), "agent", "--pipeline", str(path),
                     "--check"]) == 0
    assert ": OK: " in capsys.readouterr().out


def test_the_metering_listener_without_oslo_messaging_names_the_messaging_extra(
        monkeypatch):
    uninstalled(monkeypatch, "oslo_messaging")
    expected = ("the metering listener needs oslo_messaging, which is not installed: "
                "pip install 'heat-alarming[messaging]'")
    listener = MeteringListener(None, lambda *a: None, SampleValidator(3600, 300),
                                secret="s")
    with pytest.raises(ImportError, match=f"^{re.escape(expected)}$"):
        listener.start()

    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("metering_listener", True, group=opts.GROUP)
    with pytest.raises(ImportError) as raised:
        listener_from_conf(conf, None, lambda *a: None)
    assert str(raised.value) == expected
