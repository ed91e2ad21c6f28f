"""``heat-alarming agent``: --check and --once in one line, and a service that stops cleanly.

The test parts (tests/support/pipeline.py) are made loadable as entry points by a
distribution's metadata on the path: the ``jsonl://`` publisher stands in for the
publishers of heat_alarming.metering.pipeline.publishers, tested there.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from heat_alarming import agent, cli
from heat_alarming.metering.pipeline.runner import NO_LOCAL_STORE
from tests.support.pipeline import plugin_path
from tests.support.waiting import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[4]

SYNTHETIC = """
sources:
  - name: fake
    collector: synthetic
    interval: {interval}
    parameters: {{resources: 5, project: p1}}
    meters: ["*", "!memory*"]
    sinks: [out]
sinks:
  - name: out
    publishers: ["{publisher}"]
"""


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """The test parts' entry points, on this process's path."""
    path = plugin_path(tmp_path / "plugins")
    monkeypatch.syspath_prepend(str(path))
    return path


def write(tmp_path, text, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_builds_the_parts_and_prints_one_line(tmp_path, parts, capsys):
    out = tmp_path / "out.jsonl"
    path = write(tmp_path, SYNTHETIC.format(interval=30, publisher=f"jsonl://{out}"))
    assert cli.main(["agent", "--pipeline", path, "--check"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (f"heat-alarming agent: {path}: OK: 1 source: fake (synthetic "
                            f"every 30 s); 1 sink with 0 transformers and 1 publisher\n")
    assert not out.exists()  # nothing polled, nothing published


@pytest.mark.parametrize("text, error", [
    (SYNTHETIC.format(interval=0, publisher="jsonl:///tmp/x"),
     "sources[0].interval: must be at least 1 and at most 86400 seconds (got 0)"),
    (SYNTHETIC.format(interval=30, publisher="store://"),
     f"sinks[0].publishers[0]: {NO_LOCAL_STORE}"),
    (SYNTHETIC.format(interval=30, publisher="jsonl://relative"),
     "sinks[0].publishers[0].path: must be absolute (jsonl:///path)"),
    (SYNTHETIC.format(interval=30, publisher="nope://"),
     "sinks[0].publishers[0]: no publisher 'nope'"),
    (SYNTHETIC.format(interval=30, publisher="jsonl:///tmp/x").replace("synthetic", "nope"),
     "sources[0].collector: no collector 'nope'"),
    (SYNTHETIC.format(interval=30, publisher="jsonl:///tmp/x").replace(
        "resources: 5", "resources: -5"), "sources[0].parameters.resources: must be"),
    ("sources: [\n", "line "),
])
def test_check_names_each_problem_in_one_line_on_stderr(tmp_path, parts, capsys, text,
                                                         error):
    path = write(tmp_path, text)
    assert cli.main(["agent", "--pipeline", path, "--check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"heat-alarming agent: error: {path}: {error}")


def test_a_file_that_cannot_be_read_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "none.yaml")
    assert cli.main(["agent", "--pipeline", missing, "--check"]) == 2
    assert capsys.readouterr().err == (f"heat-alarming agent: error: {missing}: cannot read it: "
                                       f"No such file or directory\n")


def test_once_polls_each_source_once_and_publishes(tmp_path, parts, capsys):
    out = tmp_path / "out.jsonl"
    path = write(tmp_path, SYNTHETIC.format(interval=30, publisher=f"jsonl://{out}"))
    assert cli.main(["agent", "--pipeline", path, "--once"]) == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["samples"] == 5  # 5 resources x cpu (memory.usage excluded)
    assert json.loads(line)["names"] == ["cpu"]
    assert capsys.readouterr().out.endswith("polled 1 source: 5 samples, 5 published\n")


def test_once_fails_in_one_line_when_a_source_fails(tmp_path, parts, capsys):
    path = write(tmp_path, SYNTHETIC.format(interval=30, publisher="record://").replace(
        "collector: synthetic", "collector: down").replace(
        "parameters: {resources: 5, project: p1}", "parameters: {}"))
    assert cli.main(["agent", "--pipeline", path, "--once"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == (
        f"heat-alarming agent: error: {path}: source fake: source down: connection refused")


def test_sd_notify_reaches_an_abstract_socket(monkeypatch):
    name = f"heat-alarming-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert agent.sd_notify("READY=1")
        assert sock.recv(64) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert agent.sd_notify("READY=1") is False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_running_agent_flushes_and_exits_0_on_a_stop_signal(tmp_path, signum):
    out = tmp_path / "out.jsonl"
    path = write(tmp_path, SYNTHETIC.format(interval=1, publisher=f"jsonl://{out}"))
    name = f"heat-alarming-test-{uuid.uuid4().hex}"
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(plugin_path(tmp_path / "plugins"))]))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(60)
        process = subprocess.Popen([sys.executable, "-m", "heat_alarming.cli", "agent",
                                    "--pipeline", path], env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert sock.recv(64) == b"READY=1"  # its pollers run
            # the first poll is published before the stop (a stop that came first
            # would rightly end the agent without polling)
            wait_for(lambda: out.exists() and out.read_text(), deadline=60,
                     what="the first poll published")
            process.send_signal(signum)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert sock.recv(64) == b"STOPPING=1"
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Pipeline" in err and "stopped" in err  # oslo.log, on stderr
    assert json.loads(out.read_text().splitlines()[0])["samples"] == 5


def test_the_example_pipeline_file_builds(tmp_path, capsys):
    conf = tmp_path / "agent.conf"
    conf.write_text("[oslo_messaging_notifications]\n"
                    "transport_url = rabbit://guest:guest@127.0.0.1:5672/\n")
    code = cli.main(["--config-file", str(conf), "agent", "--pipeline",
                     str(ROOT / "etc" / "pipeline.yaml"), "--check"])
    assert code == 0, capsys.readouterr().err
