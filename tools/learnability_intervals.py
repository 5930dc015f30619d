"""Intervals over seeds and test speakers for the Google-12 column of results/learnability
(the runs record their per-clip test outcomes; ``experiments.intervals``). Further folders
of Google-12 runs (named MODEL-seedK, as ``results/learnability/equal-time``) join the
table, each set of seeds against GRU.

    python tools/learnability_intervals.py results/learnability ../shared/data [FOLDER ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

from unfoldrnn.config import TrainConfig
from unfoldrnn.experiments.intervals import accuracy_interval, difference_interval
from unfoldrnn.experiments.learnability import SPEECH, SUITE
from unfoldrnn.tasks import ClassificationTask


def main(folder: str, data: str, *more: str) -> None:
    config = TrainConfig(task="classification", data=str(Path(data) / SPEECH), model="gru")
    groups = ClassificationTask.test_groups(config)
    outcomes = {}
    runs = [run for f in (Path(folder) / "google12", *map(Path, more))
            for run in sorted(f.iterdir()) if (run / "metrics.json").exists()]
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        row = [c == "1" for c in metrics["test_outcomes"]]
        outcomes.setdefault(run.name.split("-seed")[0], []).append(row)
    outcomes = {m: np.array(rows, dtype=float) for m, rows in outcomes.items()}
    print(f"Google-12, d = {SUITE['google12'][1]}: test accuracy, 95% interval over seeds and "
          f"{len(set(groups))} test speakers")
    for model, rows in sorted(outcomes.items(), key=lambda kv: -kv[1].mean()):
        cell = accuracy_interval(rows, groups)
        print(f"  {model}: {100 * cell['mean']:.1f} [{100 * cell['low']:.1f}, "
              f"{100 * cell['high']:.1f}]")
    extra = sorted({run.name.split("-seed")[0] for f in more for run in Path(f).iterdir()})
    for model in ("reweighted", "l1l1", "sista", *extra):
        d = difference_interval(outcomes["gru"], outcomes[model], groups)
        print(f"  GRU - {model}: {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, "
              f"{100 * d['high']:+.1f}]{' (called)' if d['called'] else ''}")


if __name__ == "__main__":
    main(*sys.argv[1:])
