"""The learnability suite's unfolding models given GRU's training time instead of its epochs
(issue 27: "a fixed CPU budget per task").

Each model's budget on a task is the suite's epochs times GRU's seconds per epoch over the
model's, both the mean over the 3 seeds of the committed table's own runs (made side by side
under the same conditions, one core a worker), and never fewer than the suite's epochs.
Everything else is the table's cell: the defaults, the same seeds. Runs go to
FOLDER/equal-time/<task>/<model>[-seedK] (a rerun reuses them); the table, with 95%
intervals over seeds and the test set's groups (speakers on Google-12; examples elsewhere)
where the runs kept their per-example outcomes, to FOLDER/equal-time/equal-time.{md,json}.

    python tools/learnability_equal_time.py results/learnability ../shared/data --workers 2
"""

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from unfoldrnn.config import TrainConfig
from unfoldrnn.experiments.intervals import (
    accuracy_interval,
    difference_interval,
    outcome_rows,
)
from unfoldrnn.experiments.learnability import SEEDS, SUITE, cell_config, suite_data
from unfoldrnn.experiments.seeds import seeded
from unfoldrnn.runs import read_metrics
from unfoldrnn.tasks import ClassificationTask
from unfoldrnn.train import train_run

REFERENCE = "gru"


def metrics_of(run: Path) -> dict:
    return read_metrics(run / "metrics.json")


def seconds_per_epoch(folder: Path, task: str, model: str) -> float:
    runs = [metrics_of(folder / task / seeded(model, s)) for s in SEEDS]
    return statistics.mean(m["train_seconds"] / len(m["epochs"]) for m in runs)


def budget(folder: Path, task: str, model: str) -> int:
    """The model's epochs in GRU's training time on ``task``."""
    epochs = SUITE[task][0]
    ratio = seconds_per_epoch(folder, task, REFERENCE) / seconds_per_epoch(folder, task, model)
    return max(epochs, round(epochs * ratio))


def run(task: str, model: str, seed: int, data: str, epochs: int, run_dir: str) -> None:
    torch.set_num_threads(1)  # one core a worker, as the table's runs
    config = cell_config(task, model, seed, data)
    train_run(TrainConfig.from_dict({**config.to_dict(), "epochs": epochs}), run_dir)


def cell(runs: list[Path], reference: list[Path], groups) -> dict:
    accuracies = [metrics_of(r)["test"]["accuracy"] for r in runs]
    row = {"mean": statistics.mean(accuracies), "std": statistics.stdev(accuracies),
           "best_epochs": [metrics_of(r)["best_epoch"] for r in runs]}
    mine = outcome_rows([metrics_of(r) for r in runs])
    theirs = outcome_rows([metrics_of(r) for r in reference])
    if mine is not None and theirs is not None:
        if groups is None:
            groups = list(range(mine.shape[1]))
        row["interval"] = accuracy_interval(mine, groups)
        row["reference_minus_model"] = difference_interval(theirs, mine, groups)
    return row


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def write_table(folder: Path, cells: dict, command: str, seconds: float) -> None:
    lines = ["| task | model | epochs (the table's) | test accuracy [%] | GRU, the table's "
             "| GRU - model, 95% over seeds and test groups |", "|---|---|---|---|---|---|"]
    for (task, model), c in cells.items():
        gru = c["gru"]
        diff = c.get("reference_minus_model")
        diff_text = "(no per-example outcomes in GRU's runs)" if diff is None else (
            f"{100 * diff['mean']:+.1f} [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]"
            + (" called" if diff["called"] else ""))
        interval = c.get("interval")
        cell_text = f"{pct(c['mean'])} +- {pct(c['std'])}" + (
            f" [{pct(interval['low'])}, {pct(interval['high'])}]" if interval else "")
        lines.append(f"| {task} | {model} | {c['epochs']} ({SUITE[task][0]}) | {cell_text} | "
                     f"{pct(gru['mean'])} +- {pct(gru['std'])} | {diff_text} |")
    lines += ["", f"Made by `{command}` ({seconds / 60:.1f} min wall). Best epochs per seed: "
              + "; ".join(f"{t} {m} {c['best_epochs']}" for (t, m), c in cells.items()) + "."]
    out = folder / "equal-time"
    (out / "equal-time.md").write_text("\n".join(lines) + "\n")
    (out / "equal-time.json").write_text(json.dumps(
        {"command": command, "wall_seconds": seconds,
         "cells": [{"task": t, "model": m, **c} for (t, m), c in cells.items()]}, indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the learnability table's folder")
    parser.add_argument("data", help="the folder holding mnist/ and speech_commands/")
    parser.add_argument("--models", nargs="+", default=["reweighted", "l1l1"])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    folder = Path(args.folder)
    sources = {task: suite_data(task, Path(args.data), folder / "data") for task in SUITE}
    jobs = []
    for task in SUITE:
        for model in args.models:
            epochs = budget(folder, task, model)
            for seed in SEEDS:
                run_dir = folder / "equal-time" / task / seeded(model, seed)
                jobs.append((task, model, seed, sources[task], epochs, str(run_dir)))
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(run, *zip(*jobs, strict=True)))
    cells = {}
    for task in SUITE:
        config = TrainConfig(task="classification", data=sources[task], model=REFERENCE)
        groups = ClassificationTask.test_groups(config)
        reference = [folder / task / seeded(REFERENCE, s) for s in SEEDS]
        for model in args.models:
            runs = [folder / "equal-time" / task / seeded(model, s) for s in SEEDS]
            cells[(task, model)] = {"epochs": budget(folder, task, model),
                                    **cell(runs, reference, groups),
                                    "gru": cell(reference, reference, groups)}
    command = ("python tools/learnability_equal_time.py " + " ".join(
        [args.folder, args.data, "--models", *args.models, "--workers", str(args.workers)]))
    write_table(folder, cells, command, time.perf_counter() - started)


if __name__ == "__main__":
    main()
