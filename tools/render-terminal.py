#!/usr/bin/env python3
"""Draw a captured terminal session (a text file) as a terminal-like PNG.

Used for docs/demo-terminal.png:
    heat-alarming demo --plot docs/demo.png | tee docs/demo-output.txt
    python tools/render-terminal.py docs/demo-output.txt docs/demo-terminal.png
Needs matplotlib (pip install -e '.[demo]').
"""
from __future__ import annotations

import argparse


def render(lines: list[str], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    columns = max((len(line) for line in lines), default=80)
    char_w, line_h = 0.0725, 0.165  # inches per character and per line at 9 pt
    width, height = columns * char_w + 0.4, (len(lines) + 2) * line_h + 0.3
    fig = plt.figure(figsize=(width, height), facecolor="#1e1e1e")
    fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", color="#9e9e9e",
             family="monospace", fontsize=8)
    for row, line in enumerate(lines):
        colour = "#e0e0e0"
        if line.startswith("$ "):
            colour = "#81c784"
        elif line.startswith("summary") or line.startswith("progress"):
            colour = "#64b5f6"
        fig.text(0.2 / width, 1 - (0.3 + (row + 1) * line_h) / height, line, ha="left",
                 va="baseline", color=colour, family="monospace", fontsize=9)
    fig.savefig(path, dpi=110, facecolor=fig.get_facecolor())
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", help="the captured output")
    parser.add_argument("png", help="where to write the picture")
    parser.add_argument("--command", default="heat-alarming demo --plot docs/demo.png",
                        help="the command line shown at the top")
    args = parser.parse_args()
    with open(args.text) as handle:
        lines = [line.rstrip("\n") for line in handle]
    render([f"$ {args.command}"] + lines, args.png, "terminal")


if __name__ == "__main__":
    main()
