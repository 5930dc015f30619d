"""The (lambda1, lambda2) search of paper 001 Sec. 4 as an Optuna study.

Each trial draws lambda1, lambda2 log-uniformly in [1e-5, 3] (``RandomSampler``, the paper's
random search; ``sampler = "tpe"`` lets Optuna's TPE propose them instead), trains a fresh
model for ``lambda_search_steps`` optimizer steps and is scored by its validation loss. With
``pruner = "median"`` a trial reports its validation loss four times on the way and Optuna's
``MedianPruner`` stops those behind the median of earlier trials at the same step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .config import PRUNERS, SAMPLERS

__all__ = ["search_lambdas", "SAMPLERS", "PRUNERS"]
LOW, HIGH = 1e-5, 3.0  # paper 001 Sec. 4
REPORTS = 4  # validation losses a trial reports to the pruner


def _study(sampler: str, pruner: str, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = optuna.samplers.RandomSampler(seed=seed) if sampler == "random" else \
        optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    stopper = optuna.pruners.MedianPruner(n_startup_trials=2) if pruner == "median" else \
        optuna.pruners.NopPruner()
    return optuna.create_study(direction="minimize", sampler=chosen, pruner=stopper)


def search_lambdas(config, train, val, device, make_task: Callable, log=print) -> dict:
    """Run ``config.lambda_search_trials`` trials; returns {"best": trial, "trials": [...]},
    each trial {lambda1, lambda2, val_loss, steps, state} (state: complete | pruned).
    ``make_task(config)`` builds a fresh task for a trial's config; a trial that diverges
    scores inf."""
    import optuna

    from .config import TrainConfig

    study = _study(config.lambda_search_sampler, config.lambda_search_pruner, config.seed + 7919)
    total = config.lambda_search_steps
    report_at = {max(1, round(total * (k + 1) / REPORTS)) for k in range(REPORTS)}
    prune = config.lambda_search_pruner != "none"
    scored = val[: 4 * config.batch_size] if not isinstance(val, tuple) else \
        tuple(part[: 4 * config.batch_size] for part in val)
    records = []

    def objective(trial) -> float:
        l1 = trial.suggest_float("lambda1", LOW, HIGH, log=True)
        l2 = trial.suggest_float("lambda2", LOW, HIGH, log=True)
        task = make_task(TrainConfig.from_dict({**config.to_dict(), "lambda1": l1,
                                                "lambda2": l2})).to(device)
        opt = torch.optim.Adam(task.parameters(), lr=config.lr)
        record = {"lambda1": l1, "lambda2": l2, "val_loss": math.inf, "steps": 0,
                  "state": "complete"}
        records.append(record)
        try:
            while record["steps"] < total:
                for batch in task.batches(train, config.batch_size, torch.Generator()
                                          .manual_seed(config.seed + record["steps"])):
                    task.train()
                    loss = task.training_loss(batch)[0]
                    opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(task.parameters(), config.clip)
                    opt.step()
                    record["steps"] += 1
                    step = record["steps"]
                    if step == total or (prune and step in report_at):
                        record["val_loss"] = task.evaluate(scored)["loss"]
                        if prune and step < total:
                            trial.report(record["val_loss"], step)
                            if trial.should_prune():
                                record["state"] = "pruned"
                                raise optuna.TrialPruned()
                    if step == total:
                        break
        except ValueError:  # the trial diverged (NaN reached the model's input checks)
            record["val_loss"] = math.inf
        if not math.isfinite(record["val_loss"]):
            record["val_loss"] = math.inf
        return record["val_loss"]

    def tell(study, trial) -> None:
        r = records[-1]
        log(f"  lambda search: lambda1={r['lambda1']:.3g} lambda2={r['lambda2']:.3g} "
            f"val loss {r['val_loss']:.4f}" + ("  (pruned)" if r["state"] == "pruned" else ""))

    study.optimize(objective, n_trials=config.lambda_search_trials, callbacks=[tell])
    complete = [r for r in records if r["state"] == "complete"]
    best = min(complete, key=lambda r: r["val_loss"] if math.isfinite(r["val_loss"]) else 1e300)
    return {"best": best, "trials": records, "sampler": config.lambda_search_sampler,
            "pruner": config.lambda_search_pruner}
