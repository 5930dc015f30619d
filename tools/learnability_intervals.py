"""Intervals over seeds and test speakers for the Google-12 column of results/learnability
(the runs record their per-clip test outcomes; ``experiments.intervals``). Further folders
of Google-12 runs (named MODEL-seedK, as ``results/padding``) join the table as
FOLDER:MODEL, each against the GRU of its own folder.

    python tools/learnability_intervals.py results/learnability ../shared/data [FOLDER ...]
"""

import sys
from pathlib import Path

from unfoldrnn.config import TrainConfig
from unfoldrnn.experiments.intervals import (
    accuracy_interval,
    difference_interval,
    outcome_rows,
)
from unfoldrnn.experiments.learnability import SPEECH, SUITE
from unfoldrnn.runs import read_metrics
from unfoldrnn.tasks import ClassificationTask


def main(folder: str, data: str, *more: str) -> None:
    config = TrainConfig(task="classification", data=str(Path(data) / SPEECH), model="gru")
    groups = ClassificationTask.test_groups(config)
    outcomes = {}
    folders = {"": Path(folder) / "google12", **{f"{Path(f).name}:": Path(f) for f in more}}
    for label, where in folders.items():
        for run in sorted(where.iterdir()):
            if (run / "metrics.json").exists():
                metrics = read_metrics(run / "metrics.json")
                outcomes.setdefault(label + run.name.split("-seed")[0], []).append(metrics)
    outcomes = {m: rows for m, runs in outcomes.items()
                if (rows := outcome_rows(runs)) is not None}  # runs that recorded them
    print(f"Google-12, d = {SUITE['google12'][1]}: test accuracy, 95% interval over seeds and "
          f"{len(set(groups))} test speakers")
    for model, rows in sorted(outcomes.items(), key=lambda kv: -kv[1].mean()):
        cell = accuracy_interval(rows, groups)
        print(f"  {model}: {100 * cell['mean']:.1f} [{100 * cell['low']:.1f}, "
              f"{100 * cell['high']:.1f}]")
    for label in folders:  # each folder's models against its own GRU (the table's: "")
        for model in ("reweighted", "l1l1", "sista"):
            if label + model in outcomes and label + "gru" in outcomes:
                d = difference_interval(outcomes[label + "gru"], outcomes[label + model],
                                        groups)
                print(f"  {label}GRU - {label}{model}: {100 * d['mean']:+.1f} "
                      f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
                      f"{' (called)' if d['called'] else ''}")


if __name__ == "__main__":
    main(*sys.argv[1:])
