"""heat-alarming backtest: a timeline and a summary, and one line for what is wrong."""
import json

import numpy as np
import pytest

from heat_alarming import cli
from heat_alarming.backtest.trace import write_demand

T0 = 1_700_000_040.0  # 2023-11-14 22:14:00 UTC
STEP_LOAD = [20, 20, 20, 300, 300, 300, 5, 5, 5]


@pytest.fixture
def step_trace(tmp_path):
    path = tmp_path / "step.csv"
    write_demand(path, T0 + 60 * np.arange(len(STEP_LOAD)), STEP_LOAD)
    return str(path)


def backtest(*argv):
    return cli.main(["backtest", *argv])


def test_a_backtest_prints_one_line_per_period_and_a_summary(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown=0") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "(UTC)", "demand", "cpu_util", "size", "cpu_alarm_high",
                              "cpu_alarm_low", "actions"]
    rows = out[1:10]
    assert rows[0].split()[:5] == ["2023-11-14", "22:14:00", "20.0%", "20.0", "1"]
    assert rows[4].split() == ["2023-11-14", "22:18:00", "300.0%", "100.0", "2", "alarm",
                               "ok", "scale_up", "1->2"]
    assert rows[7].endswith("scale_down 4->3")
    text = "\n".join(out)
    assert "9 periods, 9 evaluation rounds, 5 alarm transitions" in text
    assert "signals: 5 resized the group, 0 dropped" in text
    assert "group group: size 1 at the start, from 1 to 4, 2 at the end" in text


def test_dropped_signals_say_why(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown=120") == 0
    out = capsys.readouterr().out
    assert "scale_up dropped (cooldown)" in out
    assert "signals: 3 resized the group, 2 dropped (cooldown 2)" in out


def test_json_gives_the_same_facts_to_a_program(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown=0",
                    "-f", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["size"] for p in data["periods"]] == [1, 1, 1, 1, 2, 3, 4, 3, 2]
    assert data["periods"][4]["outcomes"] == [{
        "at": T0 + 300, "policy": "scale_up", "status": "signalled", "why": None,
        "old_size": 1, "new_size": 2}]
    assert data["transitions"][2] == {"at": T0 + 300, "alarm": "cpu_alarm_high",
                                      "previous": "ok", "current": "alarm"}
    assert data["summary"]["signals"] == {"signalled": 5}


def test_the_resize_time_and_the_evaluation_interval_are_options(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown=0",
                    "--resize-seconds", "90", "--evaluate-every", "60", "--action-delay",
                    "5", "-f", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["ignored"] == {"scaling_in_progress": 2}


def test_a_bad_trace_line_is_one_line_on_stderr_naming_it(capsys, tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("timestamp,demand\n1700000040,10\n1700000100,lots\n")
    assert backtest("hot-autoscaling.yaml", "--trace", str(trace)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"heat-alarming backtest: error: {trace}:3: demand: 'lots' is not a number"]


def test_a_bad_template_property_is_one_line(capsys, tmp_path, step_trace):
    template = tmp_path / "t.yaml"
    template.write_text(
        "heat_template_version: 2016-10-14\nresources:\n"
        "  group: {type: OS::Heat::AutoScalingGroup, properties: {min_size: 1, max_size: 2}}\n"
        "  high:\n    type: OS::Metering::Alarm\n"
        "    properties: {meter_name: cpu_util, threshold: 1, period: soon}\n")
    assert backtest(str(template), "--trace", step_trace) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"heat-alarming backtest: error: {template}: resources.high.properties."
                   "period: 'soon' is not an integer"]


def test_an_unknown_parameter_is_one_line(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "colour=red") == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("parameters.colour: the template has no such parameter (it has "
                        "cooldown, period, repeat_actions)")


def test_a_missing_template_is_one_line(capsys, step_trace):
    assert backtest("no-such.yaml", "--trace", step_trace) == 2
    assert "no-such.yaml: no such file" in capsys.readouterr().err


def test_a_parameter_must_be_name_equals_value(capsys, step_trace):
    with pytest.raises(SystemExit) as done:
        backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown")
    assert done.value.code == 2
    assert "'cooldown' is not NAME=VALUE" in capsys.readouterr().err


def test_compare_needs_an_slo(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "--compare") == 2
    assert "--compare needs --slo" in capsys.readouterr().err


def test_an_slo_counts_the_minutes_it_is_broken(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "-P", "cooldown=0",
                    "--slo", "cpu_util<80") == 0
    out = capsys.readouterr().out
    # 100% per member at 22:17, 22:18 and 22:19 (one member, then two at 150% each)
    assert "SLO cpu_util<80: broken for 3 minutes" in out


def test_a_bad_slo_is_one_line(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "--slo", "cpu_util") == 2
    assert capsys.readouterr().err.startswith("heat-alarming backtest: error: --slo: ")


def test_compare_prints_the_models_side_by_side(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "--slo", "cpu_util<80",
                    "-P", "cooldown=0", "--compare") == 0
    rows = capsys.readouterr().out.split("model  SLO violation min")[1].splitlines()[1:4]
    assert [row.split()[0] for row in rows] == ["ours", "hpa", "aodh"]
    # the replay's own row: the 3 minutes the summary counts (see the test above)
    assert rows[0].split()[1] == "3"


def test_compare_in_json_holds_each_models_summary(capsys, step_trace):
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "--slo", "cpu_util<80",
                    "-P", "cooldown=0", "--compare", "-f", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in shown["compare"]] == ["ours", "hpa", "aodh"]
    assert shown["compare"][0]["slo_violation_minutes"] == 3


def test_plot_draws_the_replay(capsys, step_trace, tmp_path):
    png = tmp_path / "replay.png"
    assert backtest("hot-autoscaling.yaml", "--trace", step_trace, "--plot", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in capsys.readouterr().out


def test_a_trace_step_the_store_cannot_hold_is_one_line_naming_the_trace(capsys, tmp_path):
    trace = tmp_path / "half.csv"
    trace.write_text("timestamp,demand\n0,10\n0.5,10\n")
    assert backtest("hot-autoscaling.yaml", "--trace", str(trace)) == 1
    assert capsys.readouterr().err.strip() == (
        f"heat-alarming backtest: error: {trace}: trace step: 0.5 s is not a whole number "
        "of seconds")
