"""``unfoldrnn reproduce``: the papers' tables as sweeps of training runs.

Scales: ``paper`` is the papers' full setting (a GPU job); ``cpu`` is a reduced setting for
a laptop, documented in ``SCALES`` per task. Each run goes to OUT/<folder>/<model>-<value>/,
finished runs are reused, and the table is written as Markdown and CSV with the paper's
numbers beside ours.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from ..config import TrainConfig
from ..train import finished_metrics, train_run
from .paper import ALIASES, LABELS, TABLES, Table

# What each scale overrides on top of the task's defaults (the papers' settings).
SCALES = {
    "paper": {"reconstruction": {}, "classification": {}, "language_model": {}},
    "cpu": {
        # paper 001 at CPU scale: 2,000 sequences, h = 256, 12 epochs
        "reconstruction": {"num_sequences": 2000, "split": (1600, 200, 200), "hidden_size": 256,
                           "epochs": 12, "batch_size": 32, "lr": 1e-3, "lr_patience": 2,
                           "lambda_search_trials": 6},
        # paper 000 at CPU scale: the papers' learning rates, 12 epochs (x0.3 after 8)
        "classification": {"epochs": 12, "lr_step": 8},
        # paper 000 Table 3 at CPU scale: 2 epochs over WikiText-2's first 40,000 training
        # words, validation and test on the first 20,000 words of each
        "language_model": {"epochs": 2, "max_train_tokens": 40_000,
                           "max_eval_tokens": 20_000},
    },
}
CPU_VALUES = {"paper001-table2": (64, 128, 256, 512),  # h <= 512 on a CPU
              "paper000-table1": (1, 3, 6), "paper000-table2": (1, 3, 6),
              "paper000-table3": (1, 3, 6)}
# estimated wall time of the CPU scale on 2 cores, for --help
CPU_MINUTES = {"paper001-table1": 14, "paper001-table2": 10, "paper001-table3": 16,
               "paper000-table1": 50, "paper000-table2": 50, "paper000-table3": 56}


def resolve(name: str) -> Table:
    """The table of a command-line name (today's or the older table1..table3)."""
    name = ALIASES.get(name, name)
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose one of "
                         f"{', '.join([*TABLES, *ALIASES])}")
    return TABLES[name]


def sweep_values(table: Table, scale: str) -> tuple:
    return CPU_VALUES.get(table.name, table.values) if scale == "cpu" else table.values


def table_configs(table: Table, scale: str, models=None, data: str | None = None,
                  overrides: dict | None = None, values=None) -> list:
    """(model, value, TrainConfig) of every run of ``table`` at ``scale``; ``values``
    restricts the swept values, ``overrides`` sets config keys in every run."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    runs = []
    for value in values or sweep_values(table, scale):
        for model in models or table.models:
            settings = {**SCALES[scale][table.task], **table.fixed, "task": table.task,
                        "model": model, table.key: value}
            if data is not None:
                settings["data"] = data
            settings.update(overrides or {})
            if model == "lstm" and table.task == "reconstruction" and table.key != "num_layers":
                settings["num_layers"] = 2  # paper 001: the 2-layer LSTM is its default
            runs.append((model, value, TrainConfig.from_dict(settings)))
    return runs


def run_table(table: str, scale: str, out: str | Path, models=None, progress=True,
              log=print, data: str | None = None, overrides: dict | None = None,
              values=None) -> list[dict]:
    """Train every (model, value) of ``table`` at ``scale``; write <folder>.md / .csv.
    ``overrides`` are config keys set in every run (e.g. tensorboard)."""
    spec = resolve(table)
    runs = table_configs(spec, scale, models, data, overrides, values)
    folder = Path(out) / spec.folder
    rows, trained = [], False
    started = time.perf_counter()
    for model, value, config in runs:
        run_dir = folder / f"{model}-{value}"
        if finished_metrics(run_dir) is None:
            log(f"[{spec.name}] {model} {spec.key}={value}")
            trained = True
        metrics = train_run(config, run_dir, progress)
        test = metrics["test"][spec.metric]
        rows.append({"model": model, spec.key: value,
                     spec.metric: 100 * test if spec.metric == "accuracy" else test,
                     f"paper_{spec.metric}": spec.numbers.get(value, {}).get(model),
                     "parameters": metrics["parameters"],
                     "train_seconds": metrics["train_seconds"]})
    write_table(rows, spec, folder, scale, time.perf_counter() - started, trained, data,
                overrides, values)
    return rows


def write_table(rows: list[dict], spec: Table, out: Path, scale: str, seconds: float,
                trained: bool = True, data: str | None = None,
                overrides: dict | None = None, values_run=None) -> None:
    key, metric = spec.key, spec.metric
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{spec.folder}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    values = list(dict.fromkeys(r[key] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cell = {(r[key], r["model"]): r for r in rows}
    what = {"psnr": "test PSNR [dB]", "accuracy": "test accuracy [%]",
            "perplexity": "test perplexity"}[metric]
    lines = [f"# {spec.source} at scale `{scale}`: {what}, ours ({spec.source.split(' Table')[0]})",
             "", f"| {key} | " + " | ".join(LABELS[m] for m in models) + " |",
             "|---" * (len(models) + 1) + "|"]
    for v in values:
        parts = []
        for m in models:
            r = cell[(v, m)]
            paper = f" ({r[f'paper_{metric}']:.2f})" if r[f"paper_{metric}"] is not None else ""
            parts.append(f"{r[metric]:.2f}{paper}")
        lines.append(f"| {v} | " + " | ".join(parts) + " |")
    if spec.task != "reconstruction":
        counts = {r["model"]: r["parameters"] for r in rows if r[key] == 3}
        if counts:
            lines += ["", "Parameters at d = 3: " + ", ".join(
                f"{LABELS[m]} {n:,}" for m, n in counts.items()) + "."]
    train_minutes = sum(r["train_seconds"] for r in rows) / 60
    setting = {k: v for k, v in {**SCALES[scale][spec.task], **(overrides or {})}.items()
               if k != key}
    if spec.task == "reconstruction":
        depth = "d swept, every model with d layers" if key == "num_layers" else \
            "d = 3 (the LSTM with 2 layers)"
        rest = (f"the rest as paper 001 ({depth}, Adam, gradient clip 0.25, learning rate x0.3 "
                "on plateau, lambda random search in [1e-5, 3] for the unfolding models)")
    elif spec.task == "classification":
        rest = ("the rest as paper 000 Sec. 4.1 (h = 100, A = I, c = 1, Adam with lr 3e-4, "
                "LSTM and GRU 3e-3, step decay x0.3, batch 100, gradient clip 0.25)")
    else:
        rest = ("the rest as paper 000 Sec. 4.1 (h = 100, embedding 100 = n = n0, A = I, "
                "c = 1, Adam with lr 3e-4, LSTM and GRU 3e-3, full softmax) and PyTorch's "
                "word_language_model (batch 20, windows of 35 words, clip 0.25), "
                + ("the state carried from window to window" if spec.fixed.get("carry_state", True)
                   else "every window from the initial state (paper 000 Sec. 4.3: the next "
                   "word given a history of n words)"))
    lines += ["", f"Made by `unfoldrnn reproduce {spec.name} --scale {scale} "
                  f"--out {out.parent}" + (f" --data {data}" if data else "")
                  + (" --values " + " ".join(map(str, values_run)) if values_run else "")
                  + "`.",
              f"Setting: {json.dumps(setting)}; {rest}.",
              f"Training time summed over the runs: {train_minutes:.1f} min"
              + (f"; wall time of this call: {seconds / 60:.1f} min." if trained else
                 " (all runs were reused from an earlier call).")
              + f" In brackets: {spec.source}'s number at its full setting."]
    (out / f"{spec.folder}.md").write_text("\n".join(lines) + "\n")
