"""``unfoldrnn reproduce``: the papers' tables as sweeps of training runs.

Scales: ``paper`` is the papers' full setting (a GPU job); ``cpu`` is a reduced setting for
a laptop, documented in ``SCALES`` per task. Each run goes to
OUT/<folder>/<model>-<value>[-seed<k>]/; a finished run is reused only when its config is
the one the table would train now (a folder of other settings is refused by name), and
the table is written as Markdown, CSV and JSON (mean +- std over seeds) with the paper's
numbers and the exact command beside ours.
"""

from __future__ import annotations

import csv
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..models import MODELS
from ..tasks import TASKS
from ..train import RunError, finished_metrics, resolved_data, reusable_metrics, train_run
from .intervals import interval_lines, late_best
from .paper import ALIASES, LABELS, TABLES, Table
from .seeds import mean_std

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


@dataclass(frozen=True)
class Run:
    """One run of a table: a (model, value, seed) cell and the config it trains."""

    model: str
    value: object
    seed: int
    config: TrainConfig

    @property
    def name(self) -> str:
        """The run's folder, ``<model>-<value>``, with ``-seed<k>`` for every seed but 0."""
        return f"{self.model}-{self.value}" + (f"-seed{self.seed}" if self.seed else "")


def table_configs(table: Table, scale: str, models=None, data: str | None = None,
                  overrides: dict | None = None, values=None, seeds: int = 1) -> list[Run]:
    """Every run of ``table`` at ``scale``; ``values`` restricts the swept values,
    ``overrides`` sets config keys in every run (``"<model>:<key>"``: in that model's runs
    only, e.g. a tuned learning rate; ``"<model>@<value>:<key>"``: in one cell's), and each
    cell is trained with ``seeds`` seeds (the config's seed, default 0, and the ones after
    it)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be a positive integer, got {seeds}")
    first = int((overrides or {}).get("seed", 0))
    unknown = {k.partition(":")[0].partition("@")[0] for k in overrides or {} if ":" in k} \
        - set(MODELS)
    if unknown:
        raise ValueError(f"per-model key(s) for unknown model(s) {', '.join(sorted(unknown))}")
    runs = []
    for value in values or sweep_values(table, scale):
        for model in models or table.models:
            settings = {**SCALES[scale][table.task], **table.fixed, "task": table.task,
                        "model": model, table.key: value}
            if data is not None:
                settings["data"] = resolved_data(data)
            for key, setting in sorted((overrides or {}).items(),
                                       key=lambda item: "@" in item[0]):  # cell's last
                owner, _, name = key.rpartition(":")
                if owner in ("", model, f"{model}@{value}"):
                    settings[name] = setting
            if model == "lstm" and table.task == "reconstruction" and table.key != "num_layers":
                settings["num_layers"] = 2  # paper 001: the 2-layer LSTM is its default
            for seed in range(first, first + seeds):
                runs.append(Run(model, value, seed,
                                TrainConfig.from_dict({**settings, "seed": seed})))
    return runs


def check_reuse(runs: list[Run], folder: Path) -> list[Run]:
    """The runs already finished in ``folder`` with exactly their config (to be reused);
    a run folder of other settings is refused by name, before anything is trained."""
    return [run for run in runs if reusable_metrics(run.config, folder / run.name) is not None]


def run_table(table: str, scale: str, out: str | Path, models=None, progress=True,
              log=print, data: str | None = None, overrides: dict | None = None,
              values=None, seeds: int = 1, command: str | None = None) -> list[dict]:
    """Train every run of ``table`` at ``scale`` (reusing finished runs of the same config)
    and write <folder>.md / .csv / .json; ``overrides`` are config keys set in every run,
    ``command`` the command line written into the table (default: one rebuilt from the
    arguments)."""
    spec = resolve(table)
    runs = table_configs(spec, scale, models, data, overrides, values, seeds)
    folder = Path(out) / spec.folder
    reused = check_reuse(runs, folder)
    started = time.perf_counter()
    for run in runs:
        if run not in reused:
            log(f"[{spec.name}] {run.model} {spec.key}={run.value} seed={run.seed}")
        train_run(run.config, folder / run.name, progress)
    command = command or default_command(spec, scale, out, models, data, overrides, values,
                                         seeds)
    return write_table(spec, runs, folder, scale, command, time.perf_counter() - started,
                       len(reused))


def default_command(spec: Table, scale: str, out, models, data, overrides, values,
                    seeds: int) -> str:
    """The ``unfoldrnn reproduce`` command line of these arguments."""
    argv = ["unfoldrnn", "reproduce", spec.name, "--scale", scale, "--out", str(out)]
    argv += ["--models", *models] if models else []
    argv += ["--data", data] if data else []
    argv += ["--values", *map(str, values)] if values else []
    argv += ["--seeds", str(seeds)] if seeds != 1 else []
    for key, value in (overrides or {}).items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join(argv)


def _cells(rows: list[dict], key: str, metric: str) -> list[dict]:
    """Mean and sample standard deviation (ddof 1; 0 for one seed) of each (value, model)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r[key], r["model"]), []).append(r)
    cells = []
    for (value, model), group in groups.items():
        mean, std, n = mean_std(r[metric] for r in group)  # NaN: diverged, left out
        cells.append({"model": model, key: value, "n": n, "diverged": len(group) - n,
                      "mean": mean, "std": std,
                      "seeds": [r["seed"] for r in group],
                      f"paper_{metric}": group[0][f"paper_{metric}"],
                      "parameters": max(r["parameters"] for r in group)})
    return cells


def ranking(cells: list[dict], higher_is_better: bool) -> str:
    """The cells of one swept value from best to worst, "A > B" where the gap between
    neighbours exceeds the sum of their standard deviations and "A ~ B" where it does not
    (diverged-only cells left out), e.g. "GRU 87.4 > FastGRNN 80.7 ~ LSTM 78.9"."""
    ranked = sorted((c for c in cells if c["n"]), key=lambda c: c["mean"],
                    reverse=higher_is_better)
    text = ""
    for before, cell in zip([None, *ranked], ranked, strict=False):
        if before is not None:
            gap = abs(before["mean"] - cell["mean"])
            text += " > " if gap > before["std"] + cell["std"] else " ~ "
        text += f"{LABELS.get(cell['model'], cell['model'])} {cell['mean']:.4g}"
    return text


def write_table(spec: Table, runs: list[Run], out: Path, scale: str, command: str,
                seconds: float, reused: int) -> list[dict]:
    """<folder>.csv (one row per run), <folder>.json (runs, cells, command), <folder>.md
    (mean +- std over seeds per cell, the paper's number beside it) and <folder>.png (the
    cells with error bars) from finished runs."""
    from .. import plots

    key, metric = spec.key, spec.metric
    rows, finished = [], {}
    for run in runs:
        metrics = finished_metrics(out / run.name)
        if metrics is None:
            raise RunError(f"run {out / run.name} is not finished")
        finished.setdefault((run.value, run.model), []).append(metrics)
        test = metrics["test"][metric]
        rows.append({"model": run.model, key: run.value, "seed": run.seed,
                     metric: 100 * test if metric == "accuracy" else test,
                     f"paper_{metric}": spec.numbers.get(run.value, {}).get(run.model),
                     "parameters": metrics["parameters"],
                     "train_seconds": metrics["train_seconds"], "run": run.name,
                     "late_best": late_best(metrics)})
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{spec.folder}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cells = _cells(rows, key, metric)
    n_seeds = sorted({c["n"] for c in cells})
    values = list(dict.fromkeys(r[key] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cell = {(c[key], c["model"]): c for c in cells}
    what = {"psnr": "test PSNR [dB]", "accuracy": "test accuracy [%]",
            "perplexity": "test perplexity"}[metric]
    spread = " (mean +- std over seeds)" if max(n_seeds) > 1 else " (one run per cell)"
    lines = [f"# {spec.source} at scale `{scale}`: {what}{spread}, ours "
             f"({spec.source.split(' Table')[0]})", "",
             f"| {key} | " + " | ".join(LABELS[m] for m in models) + " |",
             "|---" * (len(models) + 1) + "|"]
    for v in values:
        parts = []
        for m in models:
            c = cell[(v, m)]
            paper = f" ({c[f'paper_{metric}']:.2f})" if c[f"paper_{metric}"] is not None else ""
            text = f"{c['mean']:.2f} +- {c['std']:.2f}" if c["n"] > 1 else f"{c['mean']:.2f}"
            if c["diverged"]:  # the mean is over the seeds that did not diverge
                text = (f"{text} (N = {c['n']}; " if c["n"] else "(") + \
                    f"{c['diverged']} diverged)"
            parts.append(text + paper)
        lines.append(f"| {v} | " + " | ".join(parts) + " |")
    if max(n_seeds) > 1:
        lines += ["", "Best first; \">\" where two neighbours differ by more than the sum of "
                  "their standard deviations, \"~\" where the spread cannot tell them apart:",
                  ""]
        lines += [f"* {key} = {v}: " + ranking([c for c in cells if c[key] == v],
                                               metric != "perplexity") for v in values]
    if metric == "accuracy":
        groups = TASKS[spec.task].test_groups(runs[0].config)
        lines += ["", *interval_lines(finished, groups, LABELS, key)]
    late = [r["run"] for r in rows if r["late_best"]]
    lines += ["", (f"Not converged (best epoch in the last 10% of the schedule): "
                   f"{', '.join(late)}." if late else
                   "Every run's best epoch lies before the last 10% of its schedule.")]
    if spec.task != "reconstruction":
        counts = {c["model"]: c["parameters"] for c in cells if c[key] == 3}
        if counts:
            lines += ["", "Parameters at d = 3: " + ", ".join(
                f"{LABELS[m]} {n:,}" for m, n in counts.items()) + "."]
    train_minutes = sum(r["train_seconds"] for r in rows) / 60
    configs = [run.config.to_dict() for run in runs]
    keys = [k for k in sorted(set().union(*configs)) if k not in (key, "model", "seed", "data")
            and k not in ("device", "compile_prox", "cuda_graphs", "tensorboard")]
    common = [k for k in keys if all(c.get(k) == configs[0].get(k) for c in configs)]
    setting = {k: configs[0][k] for k in common if k in configs[0]}
    per_model = {}  # model -> cell value -> the keys that differ (--tuned, --set MODEL:KEY=)
    for run, config in zip(runs, configs, strict=True):
        per_model.setdefault(run.model, {}).setdefault(
            config[key], {k: config.get(k) for k in keys if k not in common})
    trained = len(runs) - reused
    lines += ["", f"Made by `{command}`.",
              f"Seeds per cell: {', '.join(map(str, n_seeds))} (std: the sample standard "
              "deviation over seeds; with one seed a cell is one run, and differences of a "
              "point or two between models are within what a reseed moves).",
              f"Setting of every run: {json.dumps(setting)}; {_rest(spec, runs)}."
              + ("" if not any(any(v.values()) for v in per_model.values()) else
                 " Per model: " + "; ".join(
                  _settings_text(LABELS[m], key, v) for m, v in per_model.items()) + "."),
              f"Training time summed over the {len(runs)} runs: {train_minutes:.1f} min; "
              f"{trained} trained by this call, {reused} reused from earlier calls "
              f"(wall time of this call: {seconds / 60:.1f} min)."
              f" In brackets: {spec.source}'s number at its full setting."]
    (out / f"{spec.folder}.md").write_text("\n".join(lines) + "\n")
    plots.paper_table(cells, key, metric, out / f"{spec.folder}.png",
                      f"{spec.source}, scale {scale}: mean +- std over seeds", LABELS)
    (out / f"{spec.folder}.json").write_text(json.dumps(
        {"command": command, "scale": scale, "metric": metric, "key": key, "runs": rows,
         "cells": cells, "trained": trained, "reused": reused}, indent=1, default=str))
    return rows


def _settings_text(label: str, key: str, by_value: dict) -> str:
    """A model's own settings: once where every cell of its row shares them, else per cell."""
    settings = list(by_value.values())
    if all(s == settings[0] for s in settings):
        return f"{label} {json.dumps(settings[0])}"
    return f"{label} " + ", ".join(f"({key} = {v}) {json.dumps(s)}" for v, s in by_value.items())


def _rest(spec: Table, runs: list[Run]) -> str:
    """The paper settings every run of ``spec`` keeps, in words."""
    if spec.task == "reconstruction":
        depth = "d swept, every model with d layers" if spec.key == "num_layers" else \
            "d = 3 (the LSTM with 2 layers)"
        return (f"the rest as paper 001 ({depth}, Adam, gradient clip 0.25, learning rate x0.3 "
                "on plateau, lambda random search in [1e-5, 3] for the unfolding models)")
    if spec.task == "classification":
        paper = all(r.config.preset == "paper" for r in runs)
        init = "c = 1" if paper else \
            "the unfolding models initialised as this library's defaults (init='scaled')"
        return (f"the rest as paper 000 Sec. 4.1 (h = 100, A = I, {init}, Adam with lr 3e-4, "
                "LSTM and GRU 3e-3, step decay x0.3, batch 100, gradient clip 0.25)")
    return ("the rest as paper 000 Sec. 4.1 (h = 100, embedding 100 = n = n0, A = I, "
            "c = 1, Adam with lr 3e-4, LSTM and GRU 3e-3, the full softmax unless "
            "adaptive_softmax) and PyTorch's "
            "word_language_model (batch 20, windows of 35 words, clip 0.25), "
            + ("the state carried from window to window" if spec.fixed.get("carry_state", True)
               else "every window from the initial state (paper 000 Sec. 4.3: the next "
               "word given a history of n words)"))
