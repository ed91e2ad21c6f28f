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


def test_heat_conf_d_is_read_after_heat_conf_as_heat_engine_reads_it(tmp_path, capsys):
    """oslo.config reads <heat.conf>.d/*.conf after heat.conf: its plugin_dirs wins."""
    conf, _ = setup(tmp_path, plugin_dirs="/usr/lib/heat")
    later = tmp_path / "plugins-of-conf-d"
    (tmp_path / "heat.conf.d").mkdir()
    (tmp_path / "heat.conf.d" / "50-plugins.conf").write_text(
        f"[DEFAULT]\nplugin_dirs = {later}, /usr/lib/heat\n")
    assert cli.main(["install-plugin", "--heat-conf", str(conf), "--fix"]) == 0
    assert (later / SHIM_NAME).exists(), "the first of plugin_dirs as heat.conf.d sets it"
    assert "heat-engine will load heat-alarming" in capsys.readouterr().out


def test_config_dir_names_the_directory_heat_engine_is_given(tmp_path, capsys):
    conf, default = setup(tmp_path, plugin_dirs=str(tmp_path / "plugins"))
    elsewhere = tmp_path / "elsewhere.d"
    elsewhere.mkdir()
    other_env = tmp_path / "other-environment.d"
    other_env.mkdir()
    (other_env / "mine.yaml").write_text(STOCK)
    (elsewhere / "env.conf").write_text(f"[DEFAULT]\nenvironment_dir = {other_env}\n")
    assert cli.main(["install-plugin", "--heat-conf", str(conf),
                     "--config-dir", str(elsewhere)]) == 1
    err = capsys.readouterr().err
    assert "3 environment.d mapping(s) map our types away" in err
    assert all(f"{other_env / 'mine.yaml'}:{n} " in err for n in (5, 7, 8))
    assert str(default) not in err, "heat.conf's environment_dir was overridden"


def test_a_missing_heat_conf_is_one_line_of_error_and_nothing_is_written(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    missing = tmp_path / "no-such" / "heat.conf"
    assert cli.main(["install-plugin", "--heat-conf", str(missing),
                     "--plugin-dir", str(plugins)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"heat-alarming install-plugin: error: {missing}: no such file; "
                            "give heat-engine's configuration file with --heat-conf\n")
    assert captured.out == "" and not plugins.exists()


def test_a_heat_conf_oslo_config_cannot_parse_is_one_line_of_error(tmp_path, capsys):
    conf = tmp_path / "heat.conf"
    conf.write_text("[DEFAULT\nplugin_dirs = /x\n")
    assert cli.main(["install-plugin", "--heat-conf", str(conf)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"heat-alarming install-plugin: error: {conf}: ")
    assert err.count("\n") == 1


def test_a_plugin_dir_that_cannot_be_written_is_one_line_of_error(tmp_path, capsys):
    conf, _ = setup(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    plugin_dir = blocker / "plugins"  # under a regular file: no directory can be made
    assert cli.main(["install-plugin", "--heat-conf", str(conf),
                     "--plugin-dir", str(plugin_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"heat-alarming install-plugin: error: {plugin_dir}: cannot "
                            "write it: Not a directory\n")
    assert captured.out == ""


def test_mappings_fix_cannot_write_is_one_line_of_error_and_the_file_is_kept(
        tmp_path, capsys):
    conf, default = setup(tmp_path)
    env_dir = default.parent
    env_dir.chmod(0o500)  # the temporary copy --fix writes beside the file is refused
    try:
        if os.access(env_dir, os.W_OK):  # root writes anyway: make the copy's name a dir
            (env_dir / "default.yaml.heat-alarming.tmp").mkdir()
        assert cli.main(["install-plugin", "--heat-conf", str(conf), "--fix",
                         "--plugin-dir", str(tmp_path / "plugins")]) == 1
    finally:
        env_dir.chmod(0o700)
    captured = capsys.readouterr()
    assert captured.err.startswith(f"heat-alarming install-plugin: error: {default}.")
    assert "cannot write it: " in captured.err and captured.err.count("\n") == 1
    assert default.read_text() == STOCK
