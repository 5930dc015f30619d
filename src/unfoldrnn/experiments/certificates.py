"""``unfoldrnn reproduce certificates``: what can be guaranteed about each trained speech
classifier (issue 21), by both routes, over seeds.

For each model and seed (Google-12, one layer, h = 100):

* the trained run (full training split) and its test error;
* the Rademacher route (paper 000 Prop. 3.4, unfolding models only): eq. 18 on the test ramp
  loss at the margin where it is least, as paper 000 reads it, and the strict reading
  (``bounds.strict``: margin and norm-level grids declared in advance, delta split over both);
* the PAC-Bayes route (``experiments.pac_bayes``, Perez-Ortiz et al. 2021): a certificate on
  the 0-1 test error of a stochastic classifier whose prior is trained on half the training
  split, and the same certificate computed for the paper's training-set size (what-if: the
  same empirical error and KL at n = ``PAPER_BOUND_CLIPS``).

The reweighted-RNN's runs are the certified recipe's (``OUT/certified/recipe/seed-k``,
``configs/certified_speech.toml``), the l1-l1-RNN takes the same recipe; the GRU, LSTM and
FastGRNN train without a regulariser (no route but PAC-Bayes exists for them here).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ..bounds.pac_bayes import risk_certificate
from ..config import TrainConfig
from ..models import UNFOLDING_MODELS
from .seeds import mean_std, seed_list, seeds_flag

MODELS = ("gru", "lstm", "fastgrnn", "reweighted", "l1l1")  # cheapest first
LABELS = {"reweighted": "reweighted-RNN", "l1l1": "l1-l1-RNN", "gru": "GRU", "lstm": "LSTM",
          "fastgrnn": "FastGRNN"}
SEEDS = (0, 1, 2)
# the recipe of configs/certified_speech.toml (the bound's norms as the regulariser)
RECIPE = {"num_layers": 1, "hidden_size": 100, "bound_lambda": 10.0, "bound_lambda_u": 10.0,
          "epochs": 400, "lr_step": 50, "lr_factor": 0.5}
# the gated RNNs: 20 epochs at paper 000's 3e-3 (FastGRNN: tune's 6.1e-3, results/tune)
GATED = {"num_layers": 1, "hidden_size": 100, "epochs": 20, "lr_step": 15, "lr": 3e-3}
LEARNING_RATES = {"fastgrnn": 6e-3}
# PAC-Bayes settings (results/certificates/README.md: sigma_0 larger than ~1e-3 drowns a
# recurrence over 99 frames in weight noise)
PAC_BAYES = {"unfolding": {"prior_epochs": 100, "sigma_prior": 5e-4, "samples": 500},
             "gated": {"prior_epochs": None, "sigma_prior": 1e-3, "samples": 500}}
DELTA, DELTA_PRIME = 0.025, 0.01
PAPER_BOUND_CLIPS = 42_500  # half of paper 000's ~85K Google-12 training clips


def cell_config(model: str, seed: int, data: str) -> TrainConfig:
    """The run of one (model, seed) cell."""
    setting = RECIPE if model in UNFOLDING_MODELS else \
        {**GATED, "lr": LEARNING_RATES.get(model, GATED["lr"])}
    return TrainConfig.from_dict({"task": "classification", "model": model, "data": data,
                                  "seed": seed, "preset": "paper", **setting})


def cell_dir(out: Path, model: str, seed: int) -> Path:
    if model == "reweighted":  # shared with `reproduce certified`
        return out / "certified" / "recipe" / f"seed-{seed}"
    return out / "certificates" / f"{model}-seed{seed}"


def pac_bayes_settings(model: str, seed: int) -> dict:
    kind = "unfolding" if model in UNFOLDING_MODELS else "gated"
    return {**PAC_BAYES[kind], "delta": DELTA, "delta_prime": DELTA_PRIME, "seed": seed}


def rademacher_route(run_dir: Path) -> dict:
    """eq. 18 (paper's reading, strict) of the run's last weights on its training split."""
    from ..bounds import certify
    from ..train import build_data, load_run

    config, task, _ = load_run(run_dir, "last")
    train = build_data(config, progress=False)[0]
    report = certify(task.model, task.model_inputs(train), task.head, train[1])
    return {"eq18_paper": report.least_bound, "eq18_paper_gamma": report.least_gamma,
            "eq18_strict": report.strict_bound, "eq18_strict_gamma": report.strict_gamma,
            "rademacher": report.rademacher}


def run_cell(model: str, seed: int, data: str, out: str) -> dict:
    """Train (or reuse) one cell's run, then both routes; cached in RUN_DIR/certificate.json
    under its PAC-Bayes settings, so that a rerun resumes where it stopped."""
    import torch

    from ..train import train_run
    from .pac_bayes import pac_bayes_certificate

    torch.set_num_threads(1)  # one core per cell: --workers decides the parallelism
    config, run_dir = cell_config(model, seed, data), cell_dir(Path(out), model, seed)
    settings = pac_bayes_settings(model, seed)
    cache = run_dir / "certificate.json"
    if cache.exists():
        row = json.loads(cache.read_text())
        if row.get("settings") == settings:
            return row
    metrics = train_run(config, run_dir)
    row = {"model": model, "seed": seed, "run": str(run_dir), "settings": settings,
           "test_error": 1 - metrics["test"]["accuracy"]}
    row.update(rademacher_route(run_dir) if model in UNFOLDING_MODELS else {})
    report = pac_bayes_certificate(config, log=lambda *_: None, **settings)
    report.pop("prior_indices"), report.pop("bound_indices")  # kept in pac_bayes.json
    row["pac_bayes"] = report
    row["certificate_at_paper_n"] = risk_certificate(
        report["empirical_error_mc"], report["samples"], report["kl"], PAPER_BOUND_CLIPS,
        DELTA, DELTA_PRIME)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(row, indent=1))
    tmp.replace(cache)
    return row


SUMMARY_KEYS = {"test_error": lambda r: r["test_error"],
                "certificate": lambda r: r["pac_bayes"]["certificate_error"],
                "stochastic_test_error": lambda r: r["pac_bayes"]["stochastic_test_error"],
                "empirical_error": lambda r: r["pac_bayes"]["empirical_error_mc"],
                "kl": lambda r: r["pac_bayes"]["kl"],
                "certificate_at_paper_n": lambda r: r["certificate_at_paper_n"],
                "eq18_paper": lambda r: r.get("eq18_paper"),
                "eq18_strict": lambda r: r.get("eq18_strict")}


def summarize(rows: list[dict]) -> dict:
    """Per model: N and (mean, sample std) of every ``SUMMARY_KEYS`` entry over its seeds."""
    out = {}
    for model in MODELS:
        group = [r for r in rows if r["model"] == model]
        if not group:
            continue
        out[model] = {"n": len(group), "chance_error": group[0]["pac_bayes"]["chance_error"]}
        for key, get in SUMMARY_KEYS.items():
            values = [get(r) for r in group]
            out[model][key] = mean_std(values)[:2] if None not in values else None
    return out


def run_certificates(data: str, out: str | Path, scale: str = "cpu", progress: bool = True,
                     workers: int = 1, models=MODELS, seeds: int | tuple = SEEDS,
                     log=print) -> list[dict]:
    """Every cell (in ``workers`` processes), then OUT/certificates/certificates.{md,json,png}.
    ``seeds``: the seeds, or their number N (0..N-1; ``reproduce --seeds N``). One scale
    (``scale`` is taken for reproduce's interface)."""
    from .. import plots

    started = time.perf_counter()
    out = Path(out)
    folder = out / "certificates"
    folder.mkdir(parents=True, exist_ok=True)
    data = str(Path(data).resolve())
    flag = seeds_flag(seeds if isinstance(seeds, int) else None)
    seeds = seed_list(seeds, ()) if isinstance(seeds, int) else tuple(seeds)
    cells = [(m, s) for m in models for s in seeds]
    rows = []
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_cell, m, s, data, str(out)): (m, s) for m, s in cells}
            for future, (m, s) in futures.items():
                rows.append(future.result())
                log(f"[certificates] {m} seed {s} done")
    else:
        for m, s in cells:
            log(f"[certificates] {m} seed {s}")
            rows.append(run_cell(m, s, data, str(out)))
    summary = summarize(rows)
    seconds = time.perf_counter() - started
    command = (f"unfoldrnn reproduce certificates --out {out} --data {data} --workers "
               f"{workers}{flag}")
    (folder / "certificates.json").write_text(json.dumps(
        {"command": command, "wall_seconds": seconds, "delta": DELTA, "delta_prime":
         DELTA_PRIME, "paper_bound_clips": PAPER_BOUND_CLIPS, "summary": summary,
         "runs": rows}, indent=1))
    plots.certificates(summary, folder / "certificates.png")
    write_markdown(summary, folder / "certificates.md", command, seconds)
    return rows


def _cell(stat, scale: float = 1.0, digits: int = 3) -> str:
    if stat is None:
        return "-"
    mean, std = stat
    if abs(mean) >= 100:  # a vacuous bound: its size, not its digits
        return f"{scale * mean:.3g} +- {scale * std:.2g}"
    return f"{scale * mean:.{digits}f} +- {scale * std:.{digits}f}"


def write_markdown(summary: dict, path: Path, command: str, seconds: float) -> None:
    lines = ["# Certificates of the speech classifiers (Google-12, mean +- std over seeds)", "",
             f"PAC-Bayes certificates hold with probability >= {1 - DELTA - DELTA_PRIME:.3f} "
             f"(delta {DELTA}, delta' {DELTA_PRIME}) on the 0-1 test error of the stochastic "
             "classifier Q; eq. 18 bounds the test ramp loss of the trained weights (values "
             "above 1 are vacuous; only the strict reading is a guarantee).", "",
             "| model | N | test error (trained run) | PAC-Bayes certificate | guaranteed "
             "accuracy [%] | Q's test error | empirical error (MC) | KL | certificate at "
             f"n = {PAPER_BOUND_CLIPS:,} (what-if) | eq. 18, paper's reading | eq. 18, strict |",
             "|---" * 11 + "|"]
    for model, s in summary.items():
        cert = s["certificate"]
        lines.append(
            f"| {LABELS[model]} | {s['n']} | {_cell(s['test_error'])} | **{_cell(cert)}** | "
            f"{100 * (1 - cert[0]):.1f} | {_cell(s['stochastic_test_error'])} | "
            f"{_cell(s['empirical_error'])} | {_cell(s['kl'], digits=2)} | "
            f"{_cell(s['certificate_at_paper_n'])} | {_cell(s['eq18_paper'])} | "
            f"{_cell(s['eq18_strict'])} |")
    lines += ["", f"Made by `{command}` in {seconds / 60:.1f} min (wall, this call; finished "
              "cells are reused). Chance error "
              f"{next(iter(summary.values()))['chance_error']:.3f}. Settings: "
              "certificates.json.", "",
              "![certificates](certificates.png)"]
    path.write_text("\n".join(lines) + "\n")
