"""``unfoldrnn reproduce learnability``: does every model learn with its defaults?

Every registered model, with the classification task's defaults (no per-task tuning), the
same budget of epochs on each task of a suite of small standard sequence tasks, 3 seeds;
beside them a logistic regression on the flattened sequence, the floor that a recurrent
model should clear. The suite (``SUITE``):

* ``seq-mnist``: row-wise sequential MNIST (28 steps of 28 pixels; the official 60,000
  training digits, 5,000 of them held out for validation, and the 10,000 test digits), the
  RNN literature's standard (IndRNN, FastGRNN, SpectralRNN report it);
* ``noisy-frequency``: three frequencies of a noisy 2-D rotation with a random phase,
  lengths 20..40 (issue 27's task: a sign flip of the input keeps the class);
* ``time-order``: a rising against a falling ramp along one direction, plus noise (the time
  average carries nothing);
* ``google12``: Google-12 speech at d = 1 (paper 000's task on the speaker split).

The adding problem is a regression, which the classification task does not train: it is
not in the suite. ``--data`` is a folder holding ``mnist/`` (the idx files) and
``speech_commands/speech_commands_test_set_v0.02``, as ``../shared/data`` does; a task
whose files are missing is left out and said so.
"""

from __future__ import annotations

import csv
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..data.mnist import load_mnist
from ..models import MODEL_NAMES
from ..tasks import ClassificationTask
from ..train import RunError, train_run
from .intervals import late_best
from .paper import LABELS
from .seeds import mean_std, seed_list, seeded

SPEECH = Path("speech_commands") / "speech_commands_test_set_v0.02"
# task -> (epochs, layers): the same budget for every model
SUITE = {"seq-mnist": (10, 1), "noisy-frequency": (15, 2), "time-order": (6, 2),
         "google12": (30, 1)}
SEEDS = (0, 1, 2)
FLOOR_L2 = 1e-3  # the logistic regression's weight decay, fixed before any data was seen


def noisy_frequency(n: int, seed: int, T: int = 40) -> dict:
    """Three classes: x_t = (sin, cos)(2 pi f t + phase) + N(0, 0.3^2), f in {0.05, 0.1,
    0.2}, the phase uniform, lengths uniform in 20..T (zeros after)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    lengths = rng.integers(20, T + 1, n)
    f = np.array([0.05, 0.1, 0.2])[y][:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    t = np.arange(T)
    x = np.stack([np.sin(2 * np.pi * f * t + phase), np.cos(2 * np.pi * f * t + phase)], -1)
    x = x + 0.3 * rng.standard_normal((n, T, 2))
    x[t[None, :] >= lengths[:, None]] = 0
    return {"x": x.astype(np.float32), "y": y, "lengths": lengths}


def time_order(n: int, seed: int, T: int = 20, features: int = 4) -> dict:
    """Two classes: a rising or a falling ramp along one random direction, plus N(0, 0.5^2)
    noise on every feature."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-1, 1, T)
    y = rng.integers(0, 2, n)
    s = np.where(y[:, None] == 0, ramp, ramp[::-1])
    x = s[:, :, None] * rng.standard_normal(features) + 0.5 * rng.standard_normal(
        (n, T, features))
    return {"x": x.astype(np.float32), "y": y}


def _save(path: Path, splits: dict[str, dict], class_names: list[str]) -> str:
    arrays = {"class_names": np.array(class_names)}
    for split, part in splits.items():
        for key, value in part.items():
            arrays[f"{key}_{split}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    return str(path.resolve())


def suite_data(task: str, root: Path | None, folder: Path) -> str | None:
    """The data source of a suite task (an .npz written into ``folder``, or the speech
    folder), or None where its files are not under ``root``."""
    if task == "noisy-frequency":
        return _save(folder / f"{task}.npz", {"train": noisy_frequency(900, 0),
                                              "valid": noisy_frequency(300, 1),
                                              "test": noisy_frequency(300, 2)},
                     ["f=0.05", "f=0.1", "f=0.2"])
    if task == "time-order":
        whole = time_order(1200, 0)  # one direction for every split
        parts = {name: {k: v[a:b] for k, v in whole.items()}
                 for name, (a, b) in (("train", (0, 600)), ("valid", (600, 900)),
                                      ("test", (900, 1200)))}
        return _save(folder / f"{task}.npz", parts, ["rising", "falling"])
    if root is None:
        return None
    if task == "google12":
        return str((root / SPEECH).resolve()) if (root / SPEECH).is_dir() else None
    mnist = root / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").exists():
        return None
    path = folder / f"{task}.npz"
    if not path.exists():
        images, labels = load_mnist(mnist, train=True)
        test_images, test_labels = load_mnist(mnist, train=False)
        x, y = images.numpy().astype(np.float32) / 255, labels.numpy()
        splits = {"train": {"x": x[:55000], "y": y[:55000]},
                  "valid": {"x": x[55000:], "y": y[55000:]},
                  "test": {"x": test_images.numpy().astype(np.float32) / 255,
                           "y": test_labels.numpy()}}
        _save(path, splits, [str(d) for d in range(10)])
    return str(path.resolve())


def cell_config(task: str, model: str, seed: int, data: str) -> TrainConfig:
    """A model's run on a suite task: the defaults, the task's budget."""
    epochs, layers = SUITE[task]
    if model == "convrnn":  # one layer by definition (paper 002 Appendix D)
        layers = 1
    return TrainConfig.from_dict({"task": "classification", "data": data, "model": model,
                                  "epochs": epochs, "num_layers": layers, "seed": seed})


def run_cell(task: str, model: str, seed: int, data: str, folder: str) -> dict:
    """Train (or reuse) one cell; its row of the table."""
    torch.set_num_threads(1)  # one core a worker
    try:
        metrics = train_run(cell_config(task, model, seed, data),
                            Path(folder) / task / seeded(model, seed))
    except (ValueError, RunError) as err:  # a model that does not fit the task's sizes
        return {"task": task, "model": model, "seed": seed, "accuracy": math.nan,
                "diverged": None, "best_epoch": None, "epochs": 0, "parameters": None,
                "train_seconds": None, "error": str(err)}
    epochs = metrics.get("epochs", [])
    return {"task": task, "model": model, "seed": seed,
            "accuracy": metrics["test"]["accuracy"], "diverged": metrics.get("diverged"),
            "best_epoch": metrics.get("best_epoch"), "epochs": len(epochs),
            "parameters": metrics.get("parameters"),
            "train_seconds": metrics.get("train_seconds"), "error": None}


def logistic_floor(data: str) -> float:
    """Test accuracy of a logistic regression on the flattened, normalised sequence (L-BFGS,
    weight decay ``FLOOR_L2``): what a model without recurrence reaches."""
    config = TrainConfig(task="classification", data=data, model="gru")
    train, _, test = ClassificationTask.load_data(config, progress=False)
    mean = train[0].reshape(-1, train[0].shape[-1]).mean(0)
    std = train[0].reshape(-1, train[0].shape[-1]).std(0).clamp(min=1e-6)

    def flat(split):
        return ((split[0] - mean) / std).reshape(len(split[0]), -1).double()

    x, y = flat(train), train[1]
    classes = int(max(y.max(), test[1].max())) + 1
    weights = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weights + bias, y) \
            + FLOOR_L2 * weights.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((flat(test) @ weights + bias).argmax(1) == test[1]).float().mean())


def run_learnability(data: str | None, out: str | Path, scale: str = "cpu",
                     progress: bool = True, workers: int = 1, models=None,
                     seeds: int | None = None, log=print) -> list[dict]:
    """Every (task, model, seed) cell in ``workers`` processes, then
    OUT/learnability/learnability.{md,csv,json}. One scale (``scale`` is reproduce's)."""
    started = time.perf_counter()
    folder = Path(out) / "learnability"
    root = Path(data) if data is not None else None
    sources = {task: suite_data(task, root, folder / "data") for task in SUITE}
    for task, source in sources.items():
        if source is None:
            log(f"[learnability] {task}: its files are not under --data {data}; left out")
    tasks = [t for t, source in sources.items() if source is not None]
    models = models or [m for m in MODEL_NAMES]
    cells = [(t, m, s) for t in tasks for m in models for s in seed_list(seeds, SEEDS)]
    args = [(t, m, s, sources[t], str(folder)) for t, m, s in cells]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(run_cell, *zip(*args, strict=True)))
    else:
        rows = []
        for cell in args:
            log(f"[learnability] {cell[0]} {cell[1]} seed {cell[2]}")
            rows.append(run_cell(*cell))
    floors = {t: logistic_floor(sources[t]) for t in tasks}
    seconds = time.perf_counter() - started
    write_table(rows, floors, folder, seconds, workers)
    return rows


def write_table(rows: list[dict], floors: dict, folder: Path, seconds: float,
                workers: int) -> None:
    """learnability.md (model x task, mean +- std of the test accuracy over seeds),
    .csv (every run) and .json (runs, cells, floors)."""
    tasks = list(floors)
    models = list(dict.fromkeys(r["model"] for r in rows))
    cells = {(t, m): mean_std(r["accuracy"] for r in rows if (r["task"], r["model"]) == (t, m))
             for t in tasks for m in models}
    diverged = {(t, m): sum(bool(r["diverged"]) for r in rows
                            if (r["task"], r["model"]) == (t, m)) for t in tasks for m in models}
    command = f"unfoldrnn reproduce learnability --data DATA --out OUT --workers {workers}"
    budget = ", ".join(f"{t}: {SUITE[t][0]} epochs, d = {SUITE[t][1]}" for t in tasks)
    lines = ["# Learnability: every model with its defaults on small sequence tasks", "",
             f"`{command}` ({seconds / 60:.1f} min wall). Test accuracy [%], mean +- std over "
             f"seeds; h = 100, batch 100, each model's default learning rate, no tuning. "
             f"Budget: {budget}.", "",
             "| model | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for m in models:
        row = []
        for t in tasks:
            mean, std, n = cells[t, m]
            failed = [r["error"] for r in rows if (r["task"], r["model"]) == (t, m)
                      and r.get("error")]
            text = f"{100 * mean:.1f} +- {100 * std:.1f}" if n else \
                f"n/a ({failed[0][:60]})" if failed else "-"
            if diverged[t, m]:
                text += f" ({diverged[t, m]} diverged)"
            row.append(text)
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(row) + " |")
    lines.append("| logistic regression (floor) | "
                 + " | ".join(f"{100 * floors[t]:.1f}" for t in tasks) + " |")
    late = [f"{r['task']}/{r['model']}-seed{r['seed']}" for r in rows
            if late_best({"epochs": [None] * r["epochs"], "best_epoch": r["best_epoch"]})]
    lines += ["", f"{len(late)} of {len(rows)} runs had their best validation epoch in the "
              "last 10% of the budget (still improving; the budget, not the model, limits "
              "them)" + (f": {', '.join(late)}." if late else ".")]
    params = {m: max((r["parameters"] or 0) for r in rows if r["model"] == m) for m in models}
    lines += ["", "Parameters (largest over the tasks): " + ", ".join(
        f"{LABELS.get(m, m)} {n:,}" for m, n in params.items()) + "."]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "learnability.md").write_text("\n".join(lines) + "\n")
    with open(folder / "learnability.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "learnability.json").write_text(json.dumps(
        {"command": command, "wall_seconds": seconds, "suite": SUITE, "floors": floors,
         "cells": {f"{t}/{m}": cells[t, m] for t, m in cells}, "runs": rows}, indent=1))
