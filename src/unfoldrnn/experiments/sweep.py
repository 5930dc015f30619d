"""``unfoldrnn reproduce``: the papers' tables as sweeps of training runs.

Scales: ``paper`` is the papers' full setting (10,000 sequences, h = 2^10, 200 epochs: a
GPU job); ``cpu`` is a reduced setting for a laptop, documented in ``SCALES``. Each run goes
to OUT/<table>/<model>-<value>/, already finished runs are reused, and the table is written
as Markdown and CSV with the paper's numbers beside ours.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from ..config import TrainConfig
from ..train import fit
from .paper import LABELS, MODELS, TABLES

# The settings a table overrides on top of each scale.
SWEEPS = {
    "table1": [0.1, 0.2, 0.3, 0.4, 0.5],
    "table2": [128, 256, 512, 1024, 2048, 4096],
    "table3": [1, 2, 3, 4, 5, 6],
}

SCALES = {
    "paper": {},  # TrainConfig defaults are paper 001's setting
    "cpu": {"num_sequences": 2000, "split": (1600, 200, 200), "hidden_size": 256,
            "epochs": 12, "batch_size": 32, "lr": 1e-3, "lr_patience": 2,
            "lambda_search_trials": 6},
}
CPU_TABLE2_HIDDEN = [64, 128, 256, 512]  # h <= 512 on a CPU


def sweep_values(table: str, scale: str) -> list:
    if table == "table2" and scale == "cpu":
        return CPU_TABLE2_HIDDEN
    return SWEEPS[table]


def run_table(table: str, scale: str, out: str | Path, models=MODELS, progress=True,
              log=print, data: str = "embedded") -> list[dict]:
    """Train every (model, value) of ``table`` at ``scale``; write table.md / table.csv."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    key, paper = TABLES[table]
    out = Path(out) / table
    rows = []
    trained = False
    started = time.perf_counter()
    for value in sweep_values(table, scale):
        for model in models:
            settings = {**SCALES[scale], "model": model, key: value, "data": data}
            if model == "lstm" and table != "table3":
                settings["num_layers"] = 2  # paper 001: the 2-layer LSTM is its default
            config = TrainConfig.from_dict(settings)
            run_dir = out / f"{model}-{value}"
            metrics_file = run_dir / "metrics.json"
            done = metrics_file.exists() and "test" in json.loads(metrics_file.read_text())
            if not done:
                log(f"[{table}] {model} {key}={value}")
                trained = True
                fit(config, run_dir, resume=(run_dir / "checkpoints" / "last.pt").exists(),
                    progress=progress, log=lambda *_: None)
            metrics = json.loads(metrics_file.read_text())
            rows.append({"model": model, key: value, "psnr": metrics["test"]["psnr"],
                         "paper_psnr": paper.get(value, {}).get(model),
                         "parameters": metrics["parameters"],
                         "train_seconds": metrics["train_seconds"]})
    write_table(rows, key, out, table, scale, time.perf_counter() - started, trained)
    return rows


def write_table(rows: list[dict], key: str, out: Path, table: str, scale: str,
                seconds: float, trained: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{table}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    values = list(dict.fromkeys(r[key] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cell = {(r[key], r["model"]): r for r in rows}
    lines = [f"# {table} at scale `{scale}`: test PSNR [dB], ours (paper 001)", "",
             f"| {key} | " + " | ".join(LABELS[m] for m in models) + " |",
             "|---" * (len(models) + 1) + "|"]
    for v in values:
        parts = []
        for m in models:
            r = cell[(v, m)]
            paper = f" ({r['paper_psnr']:.2f})" if r["paper_psnr"] is not None else ""
            parts.append(f"{r['psnr']:.2f}{paper}")
        lines.append(f"| {v} | " + " | ".join(parts) + " |")
    train_minutes = sum(r["train_seconds"] for r in rows) / 60
    depth = "d swept, every model with d layers" if table == "table3" else \
        "d = 3 (the LSTM with 2 layers)"
    lines += ["", f"Made by `unfoldrnn reproduce {table} --scale {scale} --out {out.parent}`.",
              f"Setting: {json.dumps({k: v for k, v in SCALES[scale].items() if k != key})}; "
              f"the rest as paper 001 ({depth}, Adam, "
              "gradient clip 0.25, learning rate x0.3 on plateau, lambda random search in "
              "[1e-5, 3] for the unfolding models).",
              f"Training time summed over the runs: {train_minutes:.1f} min"
              + (f"; wall time of this call: {seconds / 60:.1f} min." if trained else
                 " (all runs were reused from an earlier call).")
              + " In brackets: paper 001's number at its full setting."]
    (out / f"{table}.md").write_text("\n".join(lines) + "\n")
