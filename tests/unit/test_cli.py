"""The heat-alarming command: its help lists the jobs, and the store demo tells a true story."""
import re
import shutil
import subprocess
import sys

import pytest

from heat_alarming import cli
from tests.support.commands import run_command


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "store-demo" in out and "--config-file" in out


def test_no_subcommand_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: heat-alarming" in capsys.readouterr().out


def _web_rows(out: str) -> list[tuple[int, float, float]]:
    section = out.split("cpu_util of group web")[1].split("cpu_util of group db")[0]
    rows = re.findall(r"^\s+\d\d:\d\d-\d\d:\d\d\s+(\d+)\s+([\d.]+)\s+([\d.]+)", section, re.M)
    return [(int(c), float(a), float(m)) for c, a, m in rows]


def test_the_store_demo_computes_the_load_profile_from_the_store(capsys, tmp_path):
    code = cli.main(["store-demo", "--servers", "6", "--minutes", "9", "--period", "60",
                     "--no-progress", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    rows = _web_rows(out)
    assert len(rows) == 9
    # 4 web servers x 6 samples a minute in every period
    assert all(count == 24 for count, _, _ in rows)
    averages = [avg for _, avg, _ in rows]
    # ramp (first third), plateau near 85, drop to 15 in the last third
    assert averages[0] < averages[2] < averages[4]
    assert 78 < averages[4] < 92 and all(10 < a < 20 for a in averages[6:])
    assert all(mx >= avg for _, avg, mx in rows)
    assert "sample field 'volume': must be a finite number" in out
    assert "answers identical after restore: yes" in out
    assert (tmp_path / "store.snap").exists()


TABLE_HEADER = re.compile(r"^  period \(UTC\)\s+count\s+avg\s+max\s+p95\s+std$")
TABLE_ROW = re.compile(r"^  \d\d:\d\d-\d\d:\d\d(\s+(\d+|-|\d+\.\d))+$")


def test_the_store_demo_prints_its_tables_and_no_log_records(tmp_path):
    """Run as a user runs it: a snapshot is restored (the store logs it) in mid-output."""
    done = run_command(["store-demo", "--no-progress", "--workdir", str(tmp_path)],
                       timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    titles = [i for i, line in enumerate(lines) if line.startswith("cpu_util of group ")]
    assert len(titles) == 2
    for first in titles:
        table = lines[first + 1:lines.index("", first)]
        assert TABLE_HEADER.match(table[0]), table[0]
        assert len(table) == 7 and all(TABLE_ROW.match(row) for row in table[1:]), table
    assert "restored 12 series" in done.stdout  # the store-demo's own words for it
    assert not [line for line in lines if re.match(r"^\d{4}-\d\d-\d\d \d\d:", line)]
    assert done.stderr == ""  # nothing to warn about


def test_the_store_demo_refuses_a_window_longer_than_the_retention(capsys):
    assert cli.main(["store-demo", "--minutes", "61"]) == 2
    assert "--minutes 61" in capsys.readouterr().err


def test_the_console_script_is_installed_and_runs():
    exe = shutil.which("heat-alarming") or shutil.which(
        "heat-alarming", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "pip install -e . must install the heat-alarming console script"
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("heat-alarming ")


@pytest.mark.parametrize("argv", (["--debug", "store-demo"], ["store-demo", "--debug"]))
def test_debug_is_taken_before_or_after_the_command(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.debug is True


def test_debug_is_off_unless_asked():
    assert cli.build_parser().parse_args(["store-demo"]).debug is False


@pytest.mark.parametrize("argv, reason", [
    (["--minutes", "0"], "--minutes 0 must be between 1 and the store retention (60 min)"),
    (["--period", "65"], "--period 65 must be a multiple of the store resolution (10 s)"),
])
def test_a_refused_argument_is_one_line_naming_it(capsys, tmp_path, argv, reason):
    code = cli.main(["store-demo", "--no-progress", "--workdir", str(tmp_path), *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"heat-alarming store-demo: error: {reason}\n"
    assert captured.out == ""
