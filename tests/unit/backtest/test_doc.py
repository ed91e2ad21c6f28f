"""docs/backtest.md shows what the command prints: its example is run here, and every
line the page shows is in the output, in the same order."""
import pathlib
import shlex

from heat_alarming import cli

ROOT = pathlib.Path(__file__).resolve().parents[3]


def example() -> tuple[list[str], list[str]]:
    """The example's arguments and the output lines the page shows."""
    text = (ROOT / "docs" / "backtest.md").read_text()
    block = text.split("```\n$ heat-alarming ", 1)[1].split("\n```", 1)[0]
    command, _, rest = block.partition("\n      ")
    arguments, _, shown = rest.partition("\n")
    return shlex.split(command.rstrip(" \\") + " " + arguments), shown.splitlines()


def test_the_pages_example_is_what_the_command_prints(capsys, tmp_path, monkeypatch):
    argv, shown = example()
    assert argv[:2] == ["backtest", "templates/hot-autoscaling.yaml"]
    monkeypatch.chdir(ROOT)  # the paths the page gives are the repository's
    png = tmp_path / "backtest.png"
    argv[argv.index("--plot") + 1] = str(png)
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = [line for line in shown if line != "..." and not line.startswith("plot: ")]
    at = 0
    for line in expected:
        assert line in printed[at:], f"the page shows a line the command did not print: {line}"
        at = printed.index(line, at) + 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
