"""One training loop: fit, evaluate, checkpoint atomically, resume exactly.

The run folder's files are ``unfoldrnn.runs``'s. Every epoch shuffles with a
generator seeded by (seed, epoch), so a run resumed from its last checkpoint computes what
the uninterrupted run would have computed.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from torch import nn

from .bounds import bound_regularizer, theorem_bound
from .config import ConfigError, TrainConfig, stored_run_config
from .distributed import Ranks
from .lambda_search import search_lambdas
from .models import UNFOLDING_MODELS
from .models.graphs import use_cuda_graphs
from .progress import bars_off
from .runs import (
    CHECKPOINT_VERSION,
    DIVERGENCE_FACTOR,
    EXECUTION_KEYS,
    Diverged,
    Interrupted,
    RunError,
    check_run_dir,
    check_writable,
    config_differences,
    describe_differences,
    exploded,
    finished_metrics,
    load_checkpoint,
    read_metrics,
    record_divergence,
    resolved_data,
    reusable_metrics,
    run_dir_epoch,
    save_checkpoint,
    training_lock,
    write_run_config,
    write_text,
)
from .runs import write_metrics as _write_metrics
from .tasks import TASKS, Task

__all__ = [  # the loop, and the run-folder names users reach through it
    "fit", "train_run", "load_run", "build_data", "build_task", "evaluate", "resolve_device",
    "CHECKPOINT_VERSION", "DIVERGENCE_FACTOR", "EXECUTION_KEYS", "Diverged", "Interrupted",
    "RunError", "check_run_dir", "check_writable", "config_differences",
    "describe_differences", "exploded", "finished_metrics", "load_checkpoint",
    "record_divergence", "resolved_data", "reusable_metrics", "run_dir_epoch",
    "save_checkpoint", "write_run_config",
]

# ---------------------------------------------------------------- data and task

def build_data(config: TrainConfig, progress: bool = True) -> tuple:
    """(train, valid, test) splits of the configured task and data source."""
    return TASKS[config.task].load_data(config, progress=progress)


def build_task(config: TrainConfig, train=None, seed: int | None = None) -> Task:
    """The task of ``config``: its model, head and loss (``train`` gives data statistics)."""
    kw = dict(config.model_options or {})
    if config.model in UNFOLDING_MODELS:
        if config.lambda1 > 0:
            kw["lambda1"] = config.lambda1
        if config.lambda2 > 0:
            kw["lambda2"] = config.lambda2
        if config.model != "sista":
            kw["compile_prox"] = config.compile_prox
    try:
        return TASKS[config.task].from_config(config, train, seed=seed, **kw)
    except TypeError as err:  # an option the model's constructor does not take
        if not config.model_options:
            raise
        raise ConfigError(f"model_options {config.model_options} do not fit {config.model}: "
                          f"{err}") from None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"device {name!r} asked for, but CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise RunError(f"unknown device {name!r}: {err}") from None


def evaluate(task: Task, split, batch_size: int = 256) -> dict:
    """The task's loss and metrics over a whole split (e.g. PSNR, accuracy)."""
    return task.evaluate(split, batch_size)


def bound_of(task: Task, train) -> float | None:
    """Paper 000 Thm 3.3 bound on R_S of the task's unfolding model over the training set."""
    if task.model_name not in ("reweighted", "l1l1"):
        return None
    with torch.no_grad():
        return theorem_bound(task.model, task.model_inputs(train))


def _check_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("tensorboard logging needs the tensorboard package: "
                          "pip install 'unfoldrnn[tensorboard]'") from None


class TensorBoard:
    """Per-epoch scalars (losses, the task's metric, learning rate, Rademacher bound) and the
    task's figures (reconstructions, learned activations) in RUN_DIR/tensorboard."""

    def __init__(self, folder: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder))

    def epoch(self, row: dict, task: Task, val, plots_dir: Path) -> None:
        import matplotlib.image

        step = row["epoch"]
        for key, value in row.items():
            if key not in ("epoch", "seconds"):
                split, _, name = key.partition("_")
                tag = f"{name}/{split}" if split in ("train", "val") else key
                self.writer.add_scalar(tag, value, step)
        for path in task.figures(val, plots_dir / "tensorboard"):
            image = matplotlib.image.imread(str(path))[..., :3]
            self.writer.add_image(path.stem, image, step, dataformats="HWC")
        self.writer.flush()


def _epoch_generator(config: TrainConfig, epoch: int, stream: int = 0) -> torch.Generator:
    """Every epoch's shuffle (stream 0) and input noise (stream 1) are seeded by
    (seed, epoch): a resumed run repeats them exactly."""
    return torch.Generator().manual_seed(config.seed * 1_000_003 + epoch + stream * 7_919_000)


# ---------------------------------------------------------------- the loop

def _scheduler(config: TrainConfig, opt):
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, config.lr_step, gamma=config.lr_factor)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor,
                                                      patience=config.lr_patience)


def fit(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
        log=print, stop_after: int | None = None,
        interrupt_hint: str = "rerun with --resume to continue", on_epoch=None,
        evaluate_test: bool = True) -> dict:
    """Train ``config`` into ``run_dir``; returns the metrics dict also written to metrics.json.

    Data and device are checked before anything is written. ``stop_after`` ends the run
    after that many epochs in this call (as an interrupt would). Ctrl-C raises
    ``Interrupted`` naming the last saved epoch and ``interrupt_hint``. ``on_epoch(row)`` is
    called after each epoch is saved (an exception from it stops the run there: a tuner's
    pruning); ``evaluate_test=False`` never evaluates the test split (model selection).
    """
    ranks = Ranks()
    try:
        with training_lock(run_dir, wait=False) if ranks.main else contextlib.nullcontext():
            return _fit(config, Path(run_dir), resume, progress if ranks.main else False,
                        log if ranks.main else (lambda *_: None), stop_after, ranks,
                        on_epoch, evaluate_test)
    except KeyboardInterrupt:
        if not (Path(run_dir) / "checkpoints" / "last.pt").exists():
            raise Interrupted("interrupted before the first epoch ended: nothing was saved; "
                              "rerun the same command to start again") from None
        saved = run_dir_epoch(Path(run_dir))
        raise Interrupted(f"interrupted after epoch {saved}; {interrupt_hint}") from None
    finally:
        ranks.stop()


def train_run(config: TrainConfig, run_dir: str | Path, progress: bool = False) -> dict:
    """A finished run's metrics, if ``run_dir`` holds this very config finished; otherwise
    train it quietly (resuming what an interrupted call left) and return its metrics. A run
    of other settings in ``run_dir`` is refused (``reusable_metrics``). The sweeps' unit: a
    run that another process is training is waited for (``training_lock``), then reused."""
    with training_lock(run_dir, wait=True):
        metrics = reusable_metrics(config, run_dir)
        if metrics is None:
            try:
                fit(config, run_dir, resume=(Path(run_dir) / "checkpoints" / "last.pt").exists(),
                    progress=progress, log=lambda *_: None)
            except Diverged as err:
                record_divergence(config, Path(run_dir), str(err), err.epoch)
            metrics = finished_metrics(run_dir)
    return metrics


def _fit(config: TrainConfig, run_dir: Path, resume: bool, progress: bool, log,
         stop_after: int | None, ranks: Ranks, on_epoch=None, evaluate_test: bool = True
         ) -> dict:
    """The loop of ``fit`` (one rank of it under torchrun: see ``distributed``)."""
    from tqdm.auto import tqdm

    device = ranks.device(resolve_device(config.device))
    if config.cuda_graphs and device.type != "cuda":
        raise RunError(f"cuda_graphs needs a CUDA device; this run's device is {device}")
    if config.tensorboard:
        _check_tensorboard()
    ranks.start(device)  # one rank checks (and probes) the folder: two would race
    mode = ranks.decide(lambda: check_run_dir(run_dir, config, resume))  # before the data:
    train, val, test = build_data(config, progress)  # nothing is loaded, cached or written
    extra: dict = {"config": config.to_dict()}  # what was asked: the run's identity
    settings = TASKS[config.task].data_settings(config, (train, val, test))
    if settings:  # what the data decided (own data's sizes): in the effective config only
        config = TrainConfig.from_dict({**config.to_dict(), **settings})
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt") \
        if mode in ("resume", "extend") else None

    if state is not None:
        extra = state["extra"]
        for key in ("test", "best_epoch", "parameters", "train_seconds"):
            extra.pop(key, None)
        # the run's own settings; how it executes, and (extend) its epochs, from this call
        now = {k: v for k, v in config.to_dict().items() if k in (*EXECUTION_KEYS, "epochs")}
        config = TrainConfig.from_dict({**stored_run_config(extra["effective_config"]), **now})
        extra["config"] = {**extra["config"], "epochs": config.epochs}
    elif config.model in UNFOLDING_MODELS and config.lambda_search_trials > 0:
        search = search_lambdas(config, train, val, device,
                                lambda trial: build_task(trial, train), log)
        extra["lambda_search"] = search
        config = TrainConfig.from_dict({**config.to_dict(), "lambda1": search["best"]["lambda1"],
                                        "lambda2": search["best"]["lambda2"]})
    extra["effective_config"] = config.to_dict()

    task = build_task(config, train).to(device)  # a wrong model option fails here, unwritten
    if ranks.main and mode != "resume":
        write_run_config(run_dir, TrainConfig.from_dict(extra["config"]))
        for name, text in TASKS[config.task].run_files(config).items():
            write_text(run_dir / name, text)
    ranks.barrier()
    if config.cuda_graphs:  # the whole task: a parameter shared across the graph's border
        use_cuda_graphs(task)  # (the sensing matrix A) would break the backward's capture
    opt = torch.optim.Adam(task.parameters(), lr=config.lr)
    sched = _scheduler(config, opt)
    sign = -1.0 if task.maximize else 1.0  # best_val is minimised: -accuracy, loss
    history, start, best_val, bad_epochs = [], 0, math.inf, 0
    best_loss = math.inf  # breaks ties of the monitored metric (two epochs of one accuracy)
    if state is not None:
        task.load_state_dict(state["task"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"] + 1
        best_val, bad_epochs = state["best_val"], state["bad_epochs"]
        best_loss = state.get("best_loss", math.inf)
        log(f"{run_dir} is finished ({start} epochs): nothing to train" if start >= config.epochs
            else f"resuming {run_dir} at epoch {start + 1}")

    board = TensorBoard(run_dir / "tensorboard") if config.tensorboard and ranks.main \
        else None
    regularize = (config.bound_lambda > 0 or config.bound_lambda_u > 0) \
        and config.model in UNFOLDING_MODELS
    params = list(task.parameters())
    training_loss = ranks.training_loss(task, device)
    epochs_run = 0
    for epoch in range(start, config.epochs):
        if stop_after is not None and epochs_run >= stop_after:
            break
        if config.early_stopping and bad_epochs >= config.early_stopping:
            log(f"early stopping after {epoch} epochs")
            break
        started = time.perf_counter()
        task.train()
        sums: dict[str, float] = {"loss": 0.0}
        seen = 0
        batches = task.batches(train, config.batch_size, _epoch_generator(config, epoch))
        noise = _epoch_generator(config, epoch, stream=1) if config.input_noise else None
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=bars_off(progress),
                   leave=False, total=task.num_batches(train, config.batch_size))
        for batch in bar:
            if noise is not None:
                batch = task.with_input_noise(batch, config.input_noise, noise)
            loss, stats, count = training_loss(ranks.shard(batch))
            value = loss.item()
            extra.setdefault("first_loss", value)
            if ranks.any(exploded(value, extra["first_loss"])):  # before the step spoils
                raise Diverged(f"training diverged at epoch {epoch + 1}: the loss is "  # it
                               f"{value:.4g}, the first batch's {extra['first_loss']:.4g}; "
                               "lower lr or clip, or change lambda1/lambda2", epoch + 1)
            objective = loss * ranks.loss_weight(count, loss.device)
            if regularize:
                objective = objective + bound_regularizer(task.model, config.bound_lambda,
                                                          config.bound_lambda_u)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            nn.utils.clip_grad_norm_(params, config.clip)
            opt.step()
            for key, v in {"loss": value, **stats}.items():
                sums[key] = sums.get(key, 0.0) + v * count
            seen += count
            bar.set_postfix(loss=f"{sums['loss'] / seen:.3f}")
        sums, seen = ranks.sum_stats(sums, seen)
        scores = task.evaluate(val)
        if exploded(scores["loss"], extra["first_loss"]):
            raise Diverged(f"training diverged at epoch {epoch + 1}: the validation loss is "
                           f"{scores['loss']:.4g}, the first batch's {extra['first_loss']:.4g}",
                           epoch + 1)
        if config.lr_schedule == "plateau":
            sched.step(scores["loss"])
        else:
            sched.step()
        row = {"epoch": epoch + 1, **{f"train_{k}": v / seen for k, v in sums.items()},
               **{f"val_{k}": v for k, v in scores.items()},
               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - started}
        if config.track_bound:
            bound = bound_of(task, train)
            if bound is not None:
                row["rademacher_bound"] = bound
        history.append(row)
        score = sign * scores[task.monitor]
        improved = score < best_val or best_val == math.inf or (  # (inf: diverged metric)
            score == best_val and scores["loss"] < best_loss)  # a tie: the lower loss wins
        if improved:
            best_val, best_loss, bad_epochs = score, scores["loss"], 0
        else:
            bad_epochs += 1
        checkpoint = {"version": CHECKPOINT_VERSION, "epoch": epoch, "task": task.state_dict(),
                      "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                      "history": history, "best_val": best_val, "best_loss": best_loss,
                      "bad_epochs": bad_epochs, "extra": extra}
        if ranks.main:
            if improved:
                save_checkpoint(run_dir / "checkpoints" / "best.pt", checkpoint)
            save_checkpoint(run_dir / "checkpoints" / "last.pt", checkpoint)
            _write_metrics(run_dir, history, extra)
        ranks.barrier()
        if board is not None:
            board.epoch(row, task, val, run_dir / "plots")
        log(f"epoch {epoch + 1:3d}  train {row['train_loss']:.4f}  val {scores['loss']:.4f}  "
            f"{task.describe(scores)}" + (f"  R_S bound {row['rademacher_bound']:.3g}"
                                          if "rademacher_bound" in row else ""))
        epochs_run += 1
        if on_epoch is not None:
            on_epoch(row)

    finished = len(history) >= config.epochs or (
        config.early_stopping and bad_epochs >= config.early_stopping)
    if finished and history and evaluate_test:
        best = load_checkpoint(run_dir / "checkpoints" / "best.pt", map_location=device)
        task.load_state_dict(best["task"])
        extra["test"] = task.evaluate(test)
        outcomes = task.outcomes(test)
        if outcomes is not None:  # per example, for intervals over the test sampling
            extra["test_outcomes"] = outcomes
        extra["best_epoch"] = best["epoch"] + 1
        extra["parameters"] = sum(p.numel() for p in task.parameters())
        extra["train_seconds"] = sum(r["seconds"] for r in history)
        if ranks.main:
            _write_metrics(run_dir, history, extra)
        log(f"test {task.describe(extra['test'])} (best epoch {extra['best_epoch']})")
    return {"epochs": history, **extra}


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu"):
    """(config, task with the checkpoint's weights, metrics dict) of a finished run."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise RunError(f"{run_dir} is not a run folder: config.json not found")
    metrics_path = run_dir / "metrics.json"
    metrics = read_metrics(metrics_path) if metrics_path.exists() else {}
    state = load_checkpoint(run_dir / "checkpoints" / f"{which}.pt", map_location=device)
    try:
        config = TrainConfig.from_dict(stored_run_config(state["extra"]["effective_config"]))
    except ConfigError as err:
        raise RunError(f"{run_dir}: {err}") from None
    task = build_task(config)
    task.load_state_dict(state["task"])
    return config, task.to(device), metrics
