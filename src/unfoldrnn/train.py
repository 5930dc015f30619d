"""One training loop: fit, evaluate, checkpoint atomically, resume exactly.

A run folder holds ``config.json``, ``metrics.csv`` / ``metrics.json`` (one row per epoch,
then the test metrics), and ``checkpoints/{last,best}.pt``. Every epoch shuffles with a
generator seeded by (seed, epoch), so a run resumed from its last checkpoint computes what
the uninterrupted run would have computed.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from .bounds import bound_regularizer, theorem_bound
from .config import ConfigError, TrainConfig
from .data import DataError, load_mnist, load_official, moving_mnist
from .metrics import psnr
from .models import UNFOLDING_MODELS
from .tasks import ReconstructionTask

CHECKPOINT_VERSION = 1


class RunError(RuntimeError):
    """A run folder or checkpoint cannot be used (other run, missing, corrupt)."""


# ---------------------------------------------------------------- data and task

@functools.lru_cache(maxsize=2)
def _frames(source: str, num_sequences: int, seed: int, frame_size: int) -> torch.Tensor:
    """Moving MNIST frames [N, T, s, s] of a data source (cached: sweeps reuse them)."""
    if source == "embedded":
        return moving_mnist(num_sequences, seed=seed, frame_size=frame_size)
    if source.endswith(".npy"):
        return load_official(source, frame_size)[:num_sequences]
    if not Path(source).is_dir():
        raise DataError(f"data {source!r} is neither 'embedded', a .npy file, nor a folder "
                        "with the MNIST idx files")
    digits = load_mnist(source, train=True)[0]
    return moving_mnist(num_sequences, seed=seed, digits=digits, frame_size=frame_size)


def build_data(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train / validation / test frames [N, T, n0] for the configured data source."""
    frames = _frames(config.data, config.num_sequences, config.data_seed, config.frame_size)
    if frames.shape[0] < sum(config.split):
        raise DataError(f"{config.data} holds {frames.shape[0]} sequences, the split needs "
                        f"{sum(config.split)}")
    flat = frames.flatten(start_dim=2)
    a, b, c = config.split
    return flat[:a], flat[a:a + b], flat[a + b:a + b + c]


def build_task(config: TrainConfig, seed: int | None = None) -> ReconstructionTask:
    kw = {}
    if config.model in UNFOLDING_MODELS:
        if config.lambda1 > 0:
            kw["lambda1"] = config.lambda1
        if config.lambda2 > 0:
            kw["lambda2"] = config.lambda2
        if config.compile_prox and config.model != "sista":
            kw["compile_prox"] = True
    return ReconstructionTask(config.model, config.frame_size ** 2, config.rate,
                              config.hidden_size, config.num_layers,
                              seed=config.seed if seed is None else seed, **kw)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate(task: ReconstructionTask, frames: torch.Tensor, batch_size: int = 256,
             device: torch.device | None = None) -> dict:
    """Mean loss (sum_t ||s_t - s_hat_t||^2 per sequence) and mean per-frame PSNR [dB]."""
    device = device or next(task.parameters()).device
    task.eval()
    loss, db, n = 0.0, 0.0, 0
    for chunk in frames.split(batch_size):
        s = chunk.to(device)
        est = task(s)
        loss += float(task.loss(est, s)) * len(s)
        db += float(psnr(est.clamp(0, 1), s)) * len(s)
        n += len(s)
    return {"loss": loss / n, "psnr": db / n}


def bound_of(task: ReconstructionTask, train: torch.Tensor) -> float | None:
    """Paper 000 Thm 3.3 bound on R_S of the task's unfolding model over the training set."""
    if task.model_name not in ("reweighted", "l1l1"):
        return None
    with torch.no_grad():
        return theorem_bound(task.model, task.measure(train.to(task.A.device)))


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    if not path.exists():
        raise RunError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # pickle, zip and torch errors all mean the same to a user
        raise RunError(f"checkpoint {path} is corrupt or unreadable: {err}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise RunError(f"checkpoint {path} is not an unfoldrnn checkpoint of version "
                       f"{CHECKPOINT_VERSION}")
    return state


def _write_metrics(run_dir: Path, history: list[dict], extra: dict) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = run_dir / "metrics.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, run_dir / "metrics.csv")
    tmp = run_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps({"epochs": history, **extra}, indent=1))
    os.replace(tmp, run_dir / "metrics.json")


def prepare_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse a folder that holds another run; with ``resume`` it must hold this one."""
    config_path = run_dir / "config.json"
    if config_path.exists():
        try:
            existing = json.loads(config_path.read_text())
        except ValueError:
            raise RunError(f"{config_path} is corrupt") from None
        if existing != json.loads(json.dumps(config.to_dict())):
            raise RunError(f"{run_dir} already holds another run (its config.json differs); "
                           "choose a new folder")
        if not resume:
            raise RunError(f"{run_dir} already holds this run; pass --resume to continue it")
    elif resume:
        raise RunError(f"nothing to resume: {config_path} not found")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} is not empty and holds no run; choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config.to_dict(), indent=1))


# ---------------------------------------------------------------- lambda search

def search_lambdas(config: TrainConfig, train, val, device, log=print) -> dict:
    """Paper 001 Sec. 4: (lambda1, lambda2) drawn log-uniformly in [1e-5, 3.0]; each trial
    trains ``lambda_search_steps`` steps and is scored by its validation loss."""
    gen = torch.Generator().manual_seed(config.seed + 7919)
    low, high = math.log(1e-5), math.log(3.0)
    trials = []
    for _ in range(config.lambda_search_trials):
        l1, l2 = (math.exp(low + (high - low) * float(u)) for u in torch.rand(2, generator=gen))
        trial = TrainConfig.from_dict({**config.to_dict(), "lambda1": l1, "lambda2": l2})
        task = build_task(trial).to(device)
        opt = torch.optim.Adam(task.parameters(), lr=config.lr)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.seed))
        try:
            for step in range(config.lambda_search_steps):
                idx = order[(step * config.batch_size) % len(train):][: config.batch_size]
                s = train[idx].to(device)
                loss = task.loss(task(s), s)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(task.parameters(), config.clip)
                opt.step()
            score = evaluate(task, val[: 4 * config.batch_size], device=device)["loss"]
        except ValueError:  # the trial diverged (NaN reached the model's input checks)
            score = math.inf
        trials.append({"lambda1": l1, "lambda2": l2, "val_loss": score})
        log(f"  lambda search: lambda1={l1:.3g} lambda2={l2:.3g} val loss {score:.4f}")
    best = min(trials, key=lambda r: r["val_loss"] if math.isfinite(r["val_loss"]) else 1e300)
    return {"best": best, "trials": trials}


# ---------------------------------------------------------------- the loop

def fit(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
        log=print, stop_after: int | None = None) -> dict:
    """Train ``config`` into ``run_dir``; returns the metrics dict also written to metrics.json.

    ``stop_after`` ends the run after that many epochs in this call (as an interrupt would).
    """
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, config, resume)
    device = resolve_device(config.device)
    train, val, test = build_data(config)
    extra: dict = {"config": config.to_dict()}
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") if resume else None

    if state is not None:
        extra = state["extra"]
        config = TrainConfig.from_dict(extra["effective_config"])
    elif config.model in UNFOLDING_MODELS and config.lambda_search_trials > 0:
        search = search_lambdas(config, train, val, device, log)
        extra["lambda_search"] = search
        config = TrainConfig.from_dict({**config.to_dict(), "lambda1": search["best"]["lambda1"],
                                        "lambda2": search["best"]["lambda2"]})
    extra["effective_config"] = config.to_dict()

    task = build_task(config).to(device)
    opt = torch.optim.Adam(task.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor,
                                                       patience=config.lr_patience)
    history, start, best_val, bad_epochs = [], 0, math.inf, 0
    if state is not None:
        task.load_state_dict(state["task"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"] + 1
        best_val, bad_epochs = state["best_val"], state["bad_epochs"]
        log(f"resuming {run_dir} at epoch {start + 1}")

    regularize = config.bound_lambda > 0 and config.model in ("reweighted", "l1l1", "sista")
    params = list(task.parameters())
    epochs_run = 0
    for epoch in range(start, config.epochs):
        if stop_after is not None and epochs_run >= stop_after:
            break
        if config.early_stopping and bad_epochs >= config.early_stopping:
            log(f"early stopping after {epoch} epochs")
            break
        started = time.perf_counter()
        task.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
            config.seed * 1_000_003 + epoch))
        batches = order.split(config.batch_size)
        total, seen = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False)
        for idx in bar:
            s = train[idx].to(device)
            loss = task.loss(task(s), s)
            value = loss.item()
            if not math.isfinite(value):  # stop before the step spoils the weights
                raise RunError(f"training diverged at epoch {epoch + 1}: the loss is {value}; "
                               "lower lr or clip, or change lambda1/lambda2")
            objective = loss + config.bound_lambda * bound_regularizer(task.model) \
                if regularize else loss
            opt.zero_grad(set_to_none=True)
            objective.backward()
            nn.utils.clip_grad_norm_(params, config.clip)
            opt.step()
            total += value * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        scores = evaluate(task, val, device=device)
        sched.step(scores["loss"])
        row = {"epoch": epoch + 1, "train_loss": total / seen, "val_loss": scores["loss"],
               "val_psnr": scores["psnr"], "lr": opt.param_groups[0]["lr"],
               "seconds": time.perf_counter() - started}
        if config.track_bound:
            bound = bound_of(task, train)
            if bound is not None:
                row["rademacher_bound"] = bound
        history.append(row)
        improved = scores["loss"] < best_val
        best_val, bad_epochs = (scores["loss"], 0) if improved else (best_val, bad_epochs + 1)
        checkpoint = {"version": CHECKPOINT_VERSION, "epoch": epoch, "task": task.state_dict(),
                      "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                      "history": history, "best_val": best_val, "bad_epochs": bad_epochs,
                      "extra": extra}
        if improved:
            save_checkpoint(run_dir / "checkpoints" / "best.pt", checkpoint)
        save_checkpoint(run_dir / "checkpoints" / "last.pt", checkpoint)
        _write_metrics(run_dir, history, extra)
        log(f"epoch {epoch + 1:3d}  train {row['train_loss']:.4f}  val {scores['loss']:.4f}  "
            f"PSNR {scores['psnr']:.2f} dB" + (f"  R_S bound {row['rademacher_bound']:.3g}"
                                               if "rademacher_bound" in row else ""))
        epochs_run += 1

    finished = len(history) >= config.epochs or (
        config.early_stopping and bad_epochs >= config.early_stopping)
    if finished and history:
        best = load_checkpoint(run_dir / "checkpoints" / "best.pt", map_location=device)
        task.load_state_dict(best["task"])
        extra["test"] = evaluate(task, test, device=device)
        extra["best_epoch"] = best["epoch"] + 1
        extra["parameters"] = sum(p.numel() for p in task.parameters())
        extra["train_seconds"] = sum(r["seconds"] for r in history)
        _write_metrics(run_dir, history, extra)
        log(f"test PSNR {extra['test']['psnr']:.2f} dB (best epoch {extra['best_epoch']})")
    return {"epochs": history, **extra}


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu"):
    """(config, task with the checkpoint's weights, metrics dict) of a finished run."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise RunError(f"{run_dir} is not a run folder: config.json not found")
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    state = load_checkpoint(run_dir / "checkpoints" / f"{which}.pt", map_location=device)
    try:
        config = TrainConfig.from_dict(state["extra"]["effective_config"])
    except ConfigError as err:
        raise RunError(f"{run_dir}: {err}") from None
    task = build_task(config)
    task.load_state_dict(state["task"])
    return config, task.to(device), metrics
