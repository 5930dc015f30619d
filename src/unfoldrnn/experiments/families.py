"""Paper 002's comparison of RNN families (Q.2, Sec. 5, Remark 1), on the speech task.

A vanilla tanh RNN (Thm 2), an MGU (Thm 4), an LSTM (Thm 5) and the convolutional RNN
(Thm 6), one layer each and without biases, trained on Google-12 with paper 000's features,
several seeds each. For each run: test accuracy, the measured gaps (test - train error, and
test - train ramp loss at a common margin gamma), the spectral norms and (beta, theta), and
its theorem's bound on the training set (inside O(), constant 1, + sqrt(log(1/delta) / m)).
Then the paper's claim itself: each trained model's bound with the sequence truncated to t
frames, and against the width (d_h for the RNN, MGU and LSTM; the feature size d, which is
its width, for the convolutional RNN).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from ..bounds import conv_rnn_bound, lstm_bound, mgu_bound, ramp_loss, rnn_bounds
from ..bounds.spectral import confidence
from ..config import TrainConfig
from ..train import build_data, load_run, train_run
from .seeds import mean_std, seed_list, seeds_flag

FAMILIES = {"rnn": "vanilla RNN (Thm 2)", "mgu": "MGU (Thm 4)", "lstm": "LSTM (Thm 5)",
            "convrnn": "conv RNN (Thm 6)"}
WIDTHS = (32, 64, 128)
WIDTH = 64  # the comparison's d_h
CONV_WIDTH = 32  # the conv RNN's: its width is the feature size, paper 000's 32 filters
TRUNCATIONS = (10, 25, 50, 99)
GAMMA, DELTA = 1.0, 0.05
SCALES = {"cpu": {"epochs": 20, "lr": 3e-3, "lr_step": 15, "seeds": (0, 1, 2)},
          "paper": {"epochs": 200, "lr": 3e-3, "lr_step": 50, "seeds": (0, 1, 2)}}


def family_config(model: str, width: int, seed: int, data: str, scale: str) -> TrainConfig:
    """One run: a single bias-free layer of ``width`` (the conv RNN: ``width`` features)."""
    setting = {k: v for k, v in SCALES[scale].items() if k != "seeds"}
    values = {"task": "classification", "data": data, "model": model, "num_layers": 1,
              "seed": seed, **setting}
    if model == "convrnn":
        values["num_filters"] = width
    else:
        values["hidden_size"] = width
        values["model_options"] = {"bias": False}
    return TrainConfig.from_dict(values)


def _bound(task, inputs: torch.Tensor, m: int) -> dict:
    """The family's theorem on ``inputs`` [m, t, n] (t the truncated length): a dict with
    "bound" (complexity + confidence) and the norms it read."""
    model, V = task.model, getattr(task.head, "weight", None)
    name = task.model_name
    if name == "rnn":
        report = rnn_bounds(model.rnn, V, inputs, GAMMA)
        return {**report, "bound": report["thm2"] + confidence(m, DELTA)}
    if name == "lstm":
        report = lstm_bound(model.rnn, V, inputs, GAMMA)
        return {**report, "bound": report["thm5"] + confidence(m, DELTA)}
    if name == "mgu":
        report = mgu_bound(model, V, inputs, GAMMA, DELTA)
        return {**report, "bound": report["thm4"]}
    report = conv_rnn_bound(model, inputs, GAMMA, DELTA, readout=task.head)
    return {**report, "bound": report["thm6"]}


@torch.no_grad()
def _scores(task, features: torch.Tensor) -> torch.Tensor:
    """The network's outputs y (the conv RNN's unscaled pool_K(V * h_T))."""
    codes = task.model(task.normalize(features))[0][:, -1]
    head = getattr(task.head, "unscaled", task.head)
    return head(codes)


def measure(run_dir: Path) -> dict:
    """Accuracy, gaps, norms and the bound (full t and truncated) of one finished run."""
    config, task, metrics = load_run(run_dir)
    task.eval()
    train, _, test = build_data(config, progress=False)
    inputs = task.model_inputs(train)
    m = len(train[1])
    row = {"model": config.model, "seed": config.seed, "width": config.hidden_size,
           "test_accuracy": metrics["test"]["accuracy"]}
    for split, (x, y) in (("train", train), ("test", test)):
        scores = _scores(task, x)
        row[f"{split}_error"] = float((scores.argmax(1) != y).float().mean())
        row[f"{split}_ramp"] = float(ramp_loss(scores, y, GAMMA).mean())
    row["error_gap"] = row["test_error"] - row["train_error"]
    row["ramp_gap"] = row["test_ramp"] - row["train_ramp"]
    with torch.no_grad():
        full = _bound(task, inputs, m)
        row.update({k: v for k, v in full.items() if isinstance(v, float)})
        row["bound_vs_t"] = {t: _bound(task, inputs[:, :t], m)["bound"] for t in TRUNCATIONS
                             if t <= inputs.shape[1]}
    return row


def run_families(data: str, out: str | Path, scale: str = "cpu", progress: bool = True,
                 log=print, seeds: int | None = None) -> list[dict]:
    """Train every family at the comparison width over the seeds (``seeds``: 0..N-1, default
    the scale's), and at every width with the first seed; measure each; write
    OUT/paper002-families/ (families.md, .json, .png)."""
    from .. import plots

    folder = Path(out) / "paper002-families"
    started = time.perf_counter()
    flag = seeds_flag(seeds)
    seeds = seed_list(seeds, SCALES[scale]["seeds"])
    runs = {}
    for model in FAMILIES:
        main = CONV_WIDTH if model == "convrnn" else WIDTH
        for seed in seeds:
            runs[(model, main, seed)] = family_config(model, main, seed, data, scale)
        for width in WIDTHS:
            runs.setdefault((model, width, seeds[0]),
                            family_config(model, width, seeds[0], data, scale))
    rows = []
    for (model, width, seed), config in runs.items():
        run_dir = folder / f"{model}-{width}-seed{seed}"
        log(f"[paper002-families] {model} width {width} seed {seed}")
        train_run(config, run_dir, progress)
        rows.append({**measure(run_dir), "run": run_dir.name,
                     "main": width == (CONV_WIDTH if model == "convrnn" else WIDTH)})
    summary = summarize(rows)
    folder.mkdir(parents=True, exist_ok=True)
    command = (f"unfoldrnn reproduce paper002-families --scale {scale} --out {folder.parent} "
               f"--data {data}{flag}")
    seconds = time.perf_counter() - started
    (folder / "families.json").write_text(json.dumps(
        {"command": command, "wall_seconds": seconds, "gamma": GAMMA, "delta": DELTA,
         "setting": {**SCALES[scale], "seeds": list(seeds)}, "runs": rows,
         "summary": summary}, indent=1))
    plots.families(rows, folder / "families.png")
    _write_md(rows, summary, folder, command, seconds)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Mean and sample std over the seeds of the comparison runs, per family."""
    keys = ("test_accuracy", "error_gap", "ramp_gap", "bound")
    out = {}
    for model in FAMILIES:
        group = [r for r in rows if r["model"] == model and r["main"]]
        out[model] = {k: mean_std(r[k] for r in group)[:2] for k in keys}
        out[model]["n"] = len(group)
    return out


def _write_md(rows, summary, folder: Path, command: str, seconds: float) -> None:
    fmt = "{:.3g}".format
    lines = ["# Paper 002: RNN families on Google-12 (mean +- std over seeds)", "",
             "| family | N | test accuracy [%] | test - train error | ramp gap (gamma = "
             f"{GAMMA:g}) | bound (inside O(), + confidence) |", "|---|---|---|---|---|---|"]
    for model, label in FAMILIES.items():
        s = summary[model]
        lines.append(f"| {label} | {s['n']} | {100 * s['test_accuracy'][0]:.1f} +- "
                     f"{100 * s['test_accuracy'][1]:.1f} | {s['error_gap'][0]:.3f} +- "
                     f"{s['error_gap'][1]:.3f} | {s['ramp_gap'][0]:.3f} +- "
                     f"{s['ramp_gap'][1]:.3f} | {fmt(s['bound'][0])} +- "
                     f"{fmt(s['bound'][1])} |")
    lines += ["", "Bound of each trained model against the sequence length t (the clip cut "
                  "to its first t frames; seed 0 at the comparison width):", "",
              "| family | " + " | ".join(f"t = {t}" for t in TRUNCATIONS) + " |",
              "|---" * (len(TRUNCATIONS) + 1) + "|"]
    for model, label in FAMILIES.items():
        row = next(r for r in rows if r["model"] == model and r["main"])
        lines.append(f"| {label} | " + " | ".join(
            fmt(row["bound_vs_t"].get(t, math.nan)) for t in TRUNCATIONS) + " |")
    lines += ["", "Against the width (seed 0; d_h, the conv RNN's feature size d):", "",
              "| family | " + " | ".join(f"{w}" for w in WIDTHS) + " | test accuracy [%] |",
              "|---" * (len(WIDTHS) + 2) + "|"]
    for model, label in FAMILIES.items():
        by = {r["width"]: r for r in rows if r["model"] == model and r["seed"] == rows[0]["seed"]}
        lines.append(f"| {label} | " + " | ".join(
            fmt(by[w]["bound"]) if w in by else "-" for w in WIDTHS) + " | " + ", ".join(
            f"{100 * by[w]['test_accuracy']:.1f}" for w in WIDTHS if w in by) + " |")
    lines += ["", f"Made by `{command}` in {seconds / 60:.1f} min (wall, this call; finished "
                  "runs are reused). One bias-free layer each, Adam, the setting in "
                  "families.json; the bounds are the theorems' terms inside O() with constant "
                  f"1 on the training set, delta = {DELTA}, gamma = {GAMMA:g} (the conv RNN's "
                  "margins on its unscaled outputs y).", "", "![families](families.png)"]
    (folder / "families.md").write_text("\n".join(lines) + "\n")
