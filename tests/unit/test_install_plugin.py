"""install-plugin writes the shim, checks plugin_dirs, finds every mapping hiding our types."""
import os

from heat_alarming import cli
from heat_alarming.install_plugin import DISABLED, SHIM_NAME

STOCK = '''resource_registry:
    # allow older templates with Quantum in them.
    "OS::Quantum*": "OS::Neutron*"
    # Choose your implementation of AWS::CloudWatch::Alarm
    "AWS::CloudWatch::Alarm": "file:///etc/heat/templates/AWS_CloudWatch_Alarm.yaml"
    #"AWS::CloudWatch::Alarm": "OS::Heat::CWLiteAlarm"
    "OS::Metering::Alarm": "OS::Aodh::Alarm"
    "OS::Ceilometer::Alarm": "OS::Aodh::Alarm"
    "AWS::RDS::DBInstance": "file:///etc/heat/templates/AWS_RDS_DBInstance.yaml"
'''


def setup(tmp_path, plugin_dirs=None):
    env_dir = tmp_path / "environment.d"
    env_dir.mkdir()
    (env_dir / "default.yaml").write_text(STOCK)
    conf = tmp_path / "heat.conf"
    lines = ["[DEFAULT]", f"environment_dir = {env_dir}"]
    if plugin_dirs:
        lines.append(f"plugin_dirs = {plugin_dirs}")
    conf.write_text("\n".join(lines) + "\n")
    return conf, env_dir / "default.yaml"


def test_it_writes_the_shim_and_reports_every_hiding_mapping(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    conf, default = setup(tmp_path, plugin_dirs=str(plugins))
    code = cli.main(["install-plugin", "--heat-conf", str(conf)])
    captured = capsys.readouterr()
    assert code == 1
    shim = (plugins / SHIM_NAME).read_text()
    assert "from heat_alarming.resources.plugin import available_resource_mapping" in shim
    assert captured.out == f"wrote {plugins / SHIM_NAME}\n"
    # one line on stderr naming the three lines: CloudWatch (5), Metering (7) and
    # Ceilometer (8); the commented-out mapping (6) is skipped
    assert captured.err == (
        "heat-alarming install-plugin: error: 3 environment.d mapping(s) map our types away "
        f"and would silently replace the plugin: "
        f"{default}:5 (\"AWS::CloudWatch::Alarm\": "
        "\"file:///etc/heat/templates/AWS_CloudWatch_Alarm.yaml\"), "
        f"{default}:7 (\"OS::Metering::Alarm\": \"OS::Aodh::Alarm\"), "
        f"{default}:8 (\"OS::Ceilometer::Alarm\": \"OS::Aodh::Alarm\"); "
        "run again with --fix to comment them out\n")
    assert default.read_text() == STOCK, "nothing changes without --fix"


def test_fix_comments_out_only_our_types(tmp_path, capsys):
    conf, default = setup(tmp_path, plugin_dirs=str(tmp_path / "plugins"))
    assert cli.main(["install-plugin", "--heat-conf", str(conf), "--fix"]) == 0
    fixed = default.read_text().splitlines()
    disabled = [line for line in fixed if line.startswith(DISABLED)]
    assert len(disabled) == 3
    assert '    "OS::Quantum*": "OS::Neutron*"' in fixed
    assert "restart heat-engine" in capsys.readouterr().out
    assert cli.main(["install-plugin", "--heat-conf", str(conf)]) == 0, "clean afterwards"


def test_a_plugin_dir_missing_from_plugin_dirs_is_reported(tmp_path, capsys):
    conf, _ = setup(tmp_path, plugin_dirs="/usr/lib/heat")
    other = tmp_path / "elsewhere"
    assert cli.main(["install-plugin", "--heat-conf", str(conf), "--plugin-dir", str(other),
                     "--fix"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"heat-alarming install-plugin: error: {other} is not in plugin_dirs of {conf}; "
        f"add it: [DEFAULT] plugin_dirs = /usr/lib/heat,{other}\n")
    assert "commented out 3 line(s)" in captured.out  # --fix did its part
    assert os.path.exists(other / SHIM_NAME)


def test_the_shim_loads_our_types_through_heats_plugin_loader(tmp_path):
    import subprocess
    import sys
    plugins = tmp_path / "plugins"
    conf, _ = setup(tmp_path, plugin_dirs=str(plugins))
    assert cli.main(["install-plugin", "--heat-conf", str(conf), "--fix"]) == 0
    probe = (
        "from oslo_service import backend; backend.init_backend(backend.BackendType.THREADING)\n"
        "import sys; from oslo_config import cfg\n"
        "from heat.common import config\n"
        f"cfg.CONF(['--config-file', {str(conf)!r}], project='heat')\n"
        "from heat.engine import resources; resources.initialise()\n"
        "env = resources.global_env()\n"
        "for t in ('OS::Metering::Alarm', 'OS::Ceilometer::Alarm'):\n"
        "    print(t, env.get_class(t).__module__)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OS::Metering::Alarm heat_alarming.resources.alarm" in done.stdout
    assert "OS::Ceilometer::Alarm heat_alarming.resources.alarm" in done.stdout
