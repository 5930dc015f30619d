"""Median seconds per training epoch of each (model, swept value) of a paper table folder,
from its runs' metrics.csv (the first epoch left out: it builds and warms up).

    python tools/epoch_times.py results/paper000-table1
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path


def epoch_times(folder: Path) -> dict[tuple[str, str], float]:
    seconds: dict[tuple[str, str], list[float]] = {}
    for path in sorted(folder.glob("*/metrics.csv")):
        model, value = path.parent.name.split("-")[:2]  # <model>-<value>[-seed<k>]
        with open(path, newline="") as f:
            rows = [float(r["seconds"]) for r in csv.DictReader(f)][1:]
        seconds.setdefault((model, value), []).extend(rows)
    return {key: statistics.median(s) for key, s in seconds.items() if s}


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python tools/epoch_times.py TABLE_FOLDER")
    print("| model | value | median seconds per epoch |\n|---|---|---|")
    for (model, value), s in epoch_times(Path(sys.argv[1])).items():
        print(f"| {model} | {value} | {s:.1f} |")
