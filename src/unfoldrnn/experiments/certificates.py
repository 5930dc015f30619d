"""``unfoldrnn reproduce certificates``: what can be guaranteed about trained classifiers
(issues 21 and 31), by both routes, per seed.

Two parts, each present where ``--data`` holds its files (``--data`` a folder like
``../shared/data``; any other source, an .npz or a Speech Commands folder, is the speech
part's data):

* ``speech``: Google-12, one layer, h = 100, ``MODELS``; the prior and bound parts split by
  speaker, a clip-level certificate (its assumption: clips i.i.d.) and a speaker-level one
  (a speaker's error rate is the loss, the speakers the i.i.d. sample). The unfolding
  models with this library's defaults, as ``reproduce learnability`` trains them (its
  Google-12 runs are reused); the gated RNNs 20 epochs at their rates;
* ``seq-mnist``: row-wise sequential MNIST (the official 55,000 / 5,000 / 10,000 split of
  ``reproduce learnability``, whose runs it reuses), ``MNIST_MODELS``; digits i.i.d.

For each model and seed:

* the trained run (full training split) and its held-out bound on the test split, which it
  never saw (``bounds.heldout``: binomial tail over the clips, kl over the test speakers
  where the run's per-clip outcomes are kept);
* the Rademacher route (paper 000 Prop. 3.4), for the run it was made for: the certified
  recipe's reweighted-RNN (``configs/certified_speech.toml``, ``OUT/certified/recipe``),
  eq. 18 on the test ramp loss at its least margin (paper 000's reading) and strictly;
* the PAC-Bayes route (``experiments.pac_bayes``): a certificate of the stochastic
  classifier Q whose prior is trained on half the training split (for speech, for as many
  optimisation steps as the run: twice its epochs on half the clips), its posterior on all
  of it, over a sigma grid declared here (``PAC_BAYES``) and paid for, with 10^4 weight
  draws; beside it the prior network's own held-out bound on the bound part.

Randomness: each certificate's split and draws come from seed ``CERT_SEED + seed``, used by
no certificate before issue 31's settings (all of which the union below counts). Choices
paid for: the speech settings were changed
while looking at earlier certificates on overlapping clips (issue 31: sigma, the posterior's
optimiser, epochs and rate, the draws, the prior's epochs); ``EARLIER_CHOICES`` counts them
(two values each of the first four, three of the prior's epochs: the steps-matched prior
came after the certificates of a prior trained for the run's epochs had been seen, on the
same splits) and divides delta and delta' beside the sigma grid. The sequential-MNIST
settings were fixed here before any of its certificates.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ..bounds.heldout import binomial_tail_bound, kl_heldout_bound
from ..bounds.pac_bayes import risk_certificate
from ..config import TrainConfig
from ..models import UNFOLDING_MODELS
from . import learnability
from .pac_bayes import PRIOR_FRACTION, group_risk
from .seeds import mean_std, seed_list, seeded, seeds_flag

MODELS = ("gru", "lstm", "fastgrnn", "reweighted", "l1l1")  # cheapest first
MNIST_MODELS = ("gru", "reweighted")
LABELS = {"reweighted": "reweighted-RNN", "l1l1": "l1-l1-RNN", "gru": "GRU", "lstm": "LSTM",
          "fastgrnn": "FastGRNN"}
SEEDS = (0, 1, 2)
CERT_SEED = 100  # the certificates' seeds are 100 + seed, new with issue 31's settings
# the recipe of configs/certified_speech.toml (the bound's norms as the regulariser)
RECIPE = {"num_layers": 1, "hidden_size": 100, "bound_lambda": 10.0, "bound_lambda_u": 10.0,
          "epochs": 400, "lr_step": 50, "lr_factor": 0.5}
# the gated RNNs: 20 epochs at paper 000's 3e-3 (FastGRNN: tune's 6.1e-3, results/tune)
GATED = {"num_layers": 1, "hidden_size": 100, "epochs": 20, "lr_step": 15, "lr": 3e-3}
LEARNING_RATES = {"fastgrnn": 6e-3}
# PAC-Bayes settings, declared before the certificates they make: the sigma grids (a
# recurrence over 99 frames drowns in weight noise much above 1e-3), the prior's epochs
# ("steps": as many optimisation steps as the run, i.e. the run's epochs / PRIOR_FRACTION;
# None: the run's epochs), the posterior's, 10^4 draws
PAC_BAYES = {"speech": {"prior_epochs": "steps", "sigma_prior": (5e-4, 1e-3, 2e-3)},
             "seq-mnist": {"prior_epochs": None, "sigma_prior": (1e-3, 3e-3, 1e-2),
                           "posterior_epochs": 2}}
COMMON = {"posterior_epochs": 5, "samples": 10_000, "posterior_data": "all"}
# speech: two values each of the posterior's optimiser, epochs and rate and of the draws,
# three of the prior's epochs (the run's epochs, an earlier value, "steps")
EARLIER_CHOICES = {"speech": 2 ** 4 * 3, "seq-mnist": 1}
DELTA, DELTA_PRIME = 0.025, 0.01
PAPER_BOUND_CLIPS = 42_500  # half of paper 000's ~85K Google-12 training clips
SPEECH = learnability.SPEECH


def sources(data: str | Path, folder: Path) -> dict[str, str]:
    """part -> its data: ``speech`` and ``seq-mnist`` under a root like ../shared/data (the
    MNIST arrays written once into ``folder``), else ``data`` itself as the speech part."""
    root = Path(data)
    found = {}
    if (root / SPEECH).is_dir():
        found["speech"] = str((root / SPEECH).resolve())
    if (root / "mnist").is_dir():
        found["seq-mnist"] = learnability.suite_data("seq-mnist", root, folder)
    return found or {"speech": str(root.resolve())}


SUITE_TASK = {"seq-mnist": "seq-mnist", "speech": "google12"}


def _suite(part: str, model: str) -> bool:
    """Is this cell's run one of ``reproduce learnability``'s (reused)?"""
    return part == "seq-mnist" or model in UNFOLDING_MODELS


def cell_config(part: str, model: str, seed: int, data: str) -> TrainConfig:
    """The run of one (part, model, seed) cell."""
    if _suite(part, model):
        return learnability.cell_config(SUITE_TASK[part], model, seed, data)
    return TrainConfig.from_dict({"task": "classification", "model": model, "data": data,
                                  "seed": seed, "preset": "paper", **GATED,
                                  "lr": LEARNING_RATES.get(model, GATED["lr"])})


def cell_dir(out: Path, part: str, model: str, seed: int) -> Path:
    if _suite(part, model):
        return out / "learnability" / SUITE_TASK[part] / seeded(model, seed)
    return out / "certificates" / f"{model}-seed{seed}"


def recipe_config(seed: int, data: str) -> TrainConfig:
    """The certified recipe's reweighted-RNN (``reproduce certified`` shares its runs)."""
    return TrainConfig.from_dict({"task": "classification", "model": "reweighted",
                                  "data": data, "seed": seed, "preset": "paper", **RECIPE})


def recipe_cell(seed: int, data: str, out: str) -> dict:
    """Eq. 18 of the certified recipe's run of ``seed`` (trained if missing; seconds when
    its weights are there), both readings."""
    from ..train import train_run

    run_dir = Path(out) / "certified" / "recipe" / f"seed-{seed}"
    metrics = train_run(recipe_config(seed, data), run_dir)
    return {"seed": seed, "run": str(run_dir), "test_error": 1 - metrics["test"]["accuracy"],
            **rademacher_route(run_dir)}


def pac_bayes_settings(part: str, seed: int, epochs: int) -> dict:
    """The certificate's settings for a cell whose run trained ``epochs`` epochs."""
    settings = {**COMMON, **PAC_BAYES[part], "delta": DELTA, "delta_prime": DELTA_PRIME,
                "grid": EARLIER_CHOICES[part], "seed": CERT_SEED + seed}
    if settings["prior_epochs"] == "steps":
        settings["prior_epochs"] = round(epochs / PRIOR_FRACTION)
    return settings


def run_heldout(run_dir: Path, config: TrainConfig, metrics: dict) -> dict:
    """The trained run's held-out bounds on the test split (never seen: the run chose its
    epoch on the validation split): the binomial tail over the test clips, and where the
    test clips come in groups and the run kept its per-clip outcomes (or its weights), the
    kl bound over the test groups (``bounds.heldout``)."""
    import torch

    from ..tasks import TASKS
    from ..train import build_data, load_run

    test = build_data(config, progress=False)[2]
    n, error = len(test[1]), 1 - metrics["test"]["accuracy"]
    out = {"run_test_bound": binomial_tail_bound(round(error * n), n, DELTA)}
    groups = TASKS["classification"].test_groups(config)
    outcomes = metrics.get("test_outcomes")
    if groups is not None and outcomes is None and \
            (run_dir / "checkpoints" / "best.pt").exists():
        task = load_run(run_dir, "best")[1].eval()
        with torch.no_grad():
            right = task(*test[:1], *test[2:]).argmax(1) == test[1]
        outcomes = "".join("1" if r else "0" for r in right.tolist())
    if groups is not None and outcomes is not None:
        wrong = torch.tensor([c == "0" for c in outcomes], dtype=torch.float64)
        risk = group_risk(wrong, groups)
        out.update({"run_test_group_error": risk, "run_test_group_bound": kl_heldout_bound(
            risk, len(set(groups)), DELTA)})
    return out


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


def run_cell(part: str, model: str, seed: int, data: str, out: str) -> dict:
    """Train (or reuse) one cell's run, then its certificates; cached in RUN_DIR/certificate.json
    under its PAC-Bayes settings (the PAC-Bayes report in pac_bayes.json, the prior and
    posteriors in pac_bayes.pt beside it, for ``certify --pac-bayes --verify``), so that a
    rerun resumes where it stopped."""
    import torch

    from ..train import train_run
    from .pac_bayes import pac_bayes_certificate

    torch.set_num_threads(1)  # one core per cell: --workers decides the parallelism
    config, run_dir = cell_config(part, model, seed, data), cell_dir(Path(out), part, model,
                                                                      seed)
    settings = pac_bayes_settings(part, seed, config.epochs)
    cache = run_dir / "certificate.json"
    if cache.exists():
        row = json.loads(cache.read_text())
        if row.get("settings") == json.loads(json.dumps(settings)):  # (tuples as lists)
            return row
    metrics = train_run(config, run_dir)
    row = {"part": part, "model": model, "seed": seed, "run": str(run_dir),
           "settings": settings, "test_error": 1 - metrics["test"]["accuracy"],
           **run_heldout(run_dir, config, metrics)}
    report = pac_bayes_certificate(config, log=lambda *_: None,
                                   save_to=run_dir / "pac_bayes.pt", **settings)
    _write_json(run_dir / "pac_bayes.json", report)
    for key in ("prior_indices", "bound_indices", "bound_groups"):
        report.pop(key, None)  # kept in pac_bayes.json
    row["pac_bayes"] = report
    row["certificate_at_paper_n"] = risk_certificate(
        report["empirical_error_mc"], report["samples"], report["kl"], PAPER_BOUND_CLIPS,
        report["delta"], report["delta_prime"]) if part == "speech" else None
    _write_json(cache, row)
    return json.loads(cache.read_text())  # as a rerun reads it (tuples as lists)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.replace(path)


SUMMARY_KEYS = {"test_error": lambda r: r["test_error"],
                "certificate": lambda r: r["pac_bayes"]["certificate_error"],
                "stochastic_test_error": lambda r: r["pac_bayes"]["stochastic_test_error"],
                "empirical_error": lambda r: r["pac_bayes"]["empirical_error_mc"],
                "kl": lambda r: r["pac_bayes"]["kl"],
                "prior_heldout": lambda r: r["pac_bayes"]["prior_heldout_bound"],
                "certificate_at_paper_n": lambda r: r["certificate_at_paper_n"]}


def summarize(rows: list[dict], models=MODELS) -> dict:
    """Per model: N and (mean, sample std) of every ``SUMMARY_KEYS`` entry over its seeds
    (the plot's bars; the tables give every seed's certificate)."""
    out = {}
    for model in models:
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
    """Every cell of every part found under ``data`` (in ``workers`` processes), then
    OUT/certificates/certificates.{md,json,png}. ``seeds``: the seeds, or their number N
    (0..N-1; ``reproduce --seeds N``). One scale (``scale`` is reproduce's)."""
    from .. import plots

    started = time.perf_counter()
    out = Path(out)
    folder = out / "certificates"
    folder.mkdir(parents=True, exist_ok=True)
    parts = sources(data, out / "learnability" / "data")
    flag = seeds_flag(seeds if isinstance(seeds, int) else None)
    seeds = seed_list(seeds, ()) if isinstance(seeds, int) else tuple(seeds)
    cells = [(part, m, s) for part in parts
             for m in (models if part == "speech" else MNIST_MODELS) for s in seeds]
    rows = []
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_cell, part, m, s, parts[part], str(out)): (part, m, s)
                       for part, m, s in cells}
            for future, (part, m, s) in futures.items():
                rows.append(future.result())
                log(f"[certificates] {part} {m} seed {s} done")
    else:
        for part, m, s in cells:
            log(f"[certificates] {part} {m} seed {s}")
            rows.append(run_cell(part, m, s, parts[part], str(out)))
    recipe = [recipe_cell(s, parts["speech"], str(out)) for s in seeds] \
        if "speech" in parts else []
    seconds = time.perf_counter() - started
    command = (f"unfoldrnn reproduce certificates --out {out} --data "
               f"{Path(data).resolve()} --workers {workers}{flag}")
    summary = {part: summarize([r for r in rows if r["part"] == part]) for part in parts}
    (folder / "certificates.json").write_text(json.dumps(
        {"command": command, "wall_seconds": seconds, "delta": DELTA, "delta_prime":
         DELTA_PRIME, "paper_bound_clips": PAPER_BOUND_CLIPS, "summary": summary,
         "runs": rows, "certified_recipe": recipe}, indent=1))
    first = next(iter(summary))
    plots.certificates(summary[first], folder / "certificates.png", {
        key: mean_std([r[key] for r in recipe])[:2] for key in ("eq18_paper", "eq18_strict")}
        if recipe else None)
    write_markdown(rows, folder / "certificates.md", command, seconds, recipe)
    return rows


def _seeds(values, digits: int = 3) -> str:
    """Every seed's value, in seed order: "0.370 / 0.384 / 0.370"."""
    if any(v is None for v in values):
        return "-"
    return " / ".join(f"{v:.{digits}f}" if abs(v) < 100 else f"{v:.3g}" for v in values)


COLUMNS = (  # (header, the value of a row, digits)
    ("trained run's test error", lambda r: r["test_error"], 3),
    ("its held-out bound: test clips", lambda r: r["run_test_bound"], 3),
    ("test speakers", lambda r: r.get("run_test_group_bound"), 3),
    ("prior's held-out bound: bound clips", lambda r: r["pac_bayes"]["prior_heldout_bound"], 3),
    ("bound speakers", lambda r: r["pac_bayes"].get("prior_heldout_group_bound"), 3),
    ("Q's empirical error", lambda r: r["pac_bayes"]["empirical_error_mc"], 3),
    ("KL(Q || P)", lambda r: r["pac_bayes"]["kl"], 2),
    ("sigma_0", lambda r: r["pac_bayes"]["sigma_prior"] * 1e3, 2),
    ("**PAC-Bayes: clips**", lambda r: r["pac_bayes"]["certificate_error"], 3),
    ("**PAC-Bayes: speakers**", lambda r: r["pac_bayes"].get("group_certificate_error"), 3),
    ("Q's test error", lambda r: r["pac_bayes"]["stochastic_test_error"], 3))


def write_markdown(rows: list[dict], path: Path, command: str, seconds: float,
                   recipe: list[dict] = ()) -> None:
    """One table per part: a row per model, every seed's value in each cell; then eq. 18
    of the certified recipe's runs."""
    confidence = 1 - DELTA - DELTA_PRIME
    lines = ["# Certificates of trained classifiers, every seed (seed 0 / 1 / 2)", "",
             f"Each PAC-Bayes certificate holds on its own with probability >= {confidence:.3f}"
             f" (delta {DELTA}, delta' {DELTA_PRIME}, each split over the settings it was "
             "chosen among) and bounds the 0-1 test error of the stochastic classifier Q (a "
             "Gaussian around a prior network trained on half the training split), not the "
             f"trained run's weights. Each held-out bound holds with probability >= "
             f"{1 - DELTA:.3f} on its own. Several at once hold jointly with probability at "
             f"least 1 minus the sum of their failure probabilities: one model's three "
             f"clip-level certificates >= {1 - 3 * (DELTA + DELTA_PRIME):.3f}. sigma_0 in "
             "units of 1e-3.", ""]
    for part in dict.fromkeys(r["part"] for r in rows):
        mine = [r for r in rows if r["part"] == part]
        keep = [c for c in COLUMNS if any(c[1](r) is not None for r in mine)]
        report = mine[0]["pac_bayes"]
        unit = ("clips i.i.d. for the clip-level columns; speakers i.i.d. for the speaker "
                "columns" if part == "speech" else "digits i.i.d.")
        lines += [f"## {part}", "",
                  f"n = {report['n_bound']:,} bound examples"
                  + (f" ({report['n_bound_groups']} speakers)" if "n_bound_groups" in report
                     else "") + f", {report['n_prior']:,} prior examples, "
                  f"{report['samples']:,} weight draws per empirical risk; assumption: {unit}; "
                  f"chance error {report['chance_error']:.3f}.", "",
                  "| model | " + " | ".join(c[0] for c in keep) + " |",
                  "|---" * (len(keep) + 1) + "|"]
        for model in dict.fromkeys(r["model"] for r in mine):
            group = sorted((r for r in mine if r["model"] == model), key=lambda r: r["seed"])
            lines.append(f"| {LABELS[model]} | " + " | ".join(
                _seeds([get(r) for r in group], digits) for _, get, digits in keep) + " |")
        lines.append("")
    if recipe:
        lines += ["## eq. 18 (paper 000 Prop. 3.4) of the certified recipe's reweighted-RNN",
                  "", "The bound on the test ramp loss of the trained weights themselves "
                  "(`configs/certified_speech.toml`; above 1: vacuous; only the strict reading "
                  "is a guarantee).", "",
                  "| seed | test error | eq. 18, paper's reading | eq. 18, strict |",
                  "|---|---|---|---|"]
        lines += [f"| {r['seed']} | {r['test_error']:.3f} | {r['eq18_paper']:.3f} | "
                  f"{r['eq18_strict']:.3f} |" for r in recipe]
        lines.append("")
    lines += [f"Made by `{command}` in {seconds / 60:.1f} min (wall, this call; finished "
              "cells are reused). Every setting: certificates.json.", "",
              "![certificates](certificates.png)"]
    path.write_text("\n".join(lines) + "\n")
