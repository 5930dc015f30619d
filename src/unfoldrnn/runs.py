"""Run folders: their files, identity and errors, below the training loop.

A run folder holds ``config.json`` (what was asked: the run's identity), ``metrics.csv`` /
``metrics.json`` (one row per epoch, then the test metrics) and ``checkpoints/{last,best}.pt``,
each written atomically (a temporary file, then a rename). A diverged run is a result:
``record_divergence`` writes it down. One process at a time trains a folder
(``training_lock``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: no lock
    fcntl = None

import torch

from .config import (
    DATA_FROM_RUN,
    INITIAL_SETTINGS,
    RECORDS,
    ConfigError,
    TrainConfig,
    stored_run_config,
)
from .models import MODELS, UNFOLDING_MODELS
from .tasks import TASKS

CHECKPOINT_VERSION = 1
# a run has diverged once a batch's training loss, or an epoch's validation loss, is not
# finite or exceeds this many times the loss of the run's first batch (docs: "Divergence")
DIVERGENCE_FACTOR = 100.0


class RunError(RuntimeError):
    """A run folder or checkpoint cannot be used (other run, missing, corrupt)."""


class Diverged(RunError):
    """The loss became NaN or inf, or exploded (``exploded``) at epoch ``epoch``: a result
    of the run's settings."""

    def __init__(self, message: str, epoch: int | None = None):
        super().__init__(message)
        self.epoch = epoch


def exploded(loss: float, first_loss: float) -> bool:
    """Is ``loss`` a divergence: not finite, or above DIVERGENCE_FACTOR times the run's
    first batch loss ``first_loss``?"""
    return not math.isfinite(loss) or (first_loss > 0 and loss > DIVERGENCE_FACTOR * first_loss)


class Interrupted(RuntimeError):
    """Training was stopped by the user (Ctrl-C); what was saved is kept."""



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


def write_metrics(run_dir: Path, history: list[dict], extra: dict) -> None:
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


# keys that choose how a run executes, not what it computes: a run resumes under new values
EXECUTION_KEYS = ("device", "compile_prox", "cuda_graphs", "tensorboard")


def resolved_data(value: str | None) -> str | None:
    """A data source as an absolute path (``embedded`` and None stay as they are), so that a
    run made with ``--data data/ptb`` is found again from any working directory."""
    if value is None or value == "embedded":
        return value
    return str(Path(value).expanduser().resolve())


def initial_settings(config: TrainConfig) -> dict | None:
    """The defaults that ``config`` leaves to an unfolding model's code (its initialisation
    and initial thresholds, ``initial_settings`` of the model class), None for other models.
    A run's config.json records them under ``INITIAL_SETTINGS``."""
    if config.model not in UNFOLDING_MODELS:
        return None
    return MODELS[config.model].initial_settings(TASKS[config.task].unfolding_init(config))


def data_from_run(data: str | None, run_dir: Path) -> str | None:
    """Where a data file or folder lies seen from ``run_dir`` (a relative path, the
    folders' own names, symbolic links not followed), None for embedded data: a clone of
    a repository that keeps its runs and its data in the same places finds its runs again."""
    if data is None or data == "embedded":
        return None
    return os.path.relpath(os.path.abspath(os.path.expanduser(data)), os.path.abspath(run_dir))


def _identity(values: dict) -> dict:
    """What makes two configs the same run (defaults filled in, execution keys left out, the
    data source resolved, an unfolding model's initial settings as recorded when the run was
    made, or today's where the run predates the record)."""
    values = {k: v for k, v in values.items() if k != DATA_FROM_RUN}
    recorded = values.pop(INITIAL_SETTINGS, None)
    config = TrainConfig.from_dict(values)
    full = config.to_dict()
    full["data"] = resolved_data(full.get("data"))
    del full["preset"]  # what it changes: an unfolding model's initialisation
    if config.model in UNFOLDING_MODELS:
        full["init"] = recorded or initial_settings(config)
    return {k: v for k, v in full.items() if k not in EXECUTION_KEYS}


def config_differences(old: dict, new: dict, run_dir: Path | None = None) -> dict[str, tuple]:
    """{key: (old value, new value)} of the keys in which two run configs differ. With the
    run folder given, the data are the same where they are the same file or folder, or lie
    in the same place seen from the run folder (``old`` records it under DATA_FROM_RUN)."""
    a, b = _identity(old), _identity(new)
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    if "data" in diffs and run_dir is not None:
        there = old.get(DATA_FROM_RUN) or data_from_run(old.get("data"), run_dir)
        if there is not None and there == data_from_run(new.get("data"), run_dir):
            del diffs["data"]
    return diffs


def describe_differences(diffs: dict[str, tuple]) -> str:
    return ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in diffs.items())


def _read_run_config(config_path: Path) -> dict:
    try:
        stored = json.loads(config_path.read_text())
        existing = stored_run_config(stored)
        if isinstance(stored, dict):
            existing.update({k: stored[k] for k in RECORDS if k in stored})
        _identity(existing)
    except (ValueError, ConfigError, TypeError):
        raise RunError(f"{config_path} is corrupt") from None
    return existing


def check_writable(folder: Path) -> None:
    """Refuse, before any data is loaded, a folder that cannot be created or written: its
    nearest existing parent is a file, read-only, or not a real file system."""
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise RunError(f"cannot write to {folder}: {existing} is a file, not a folder")
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".unfoldrnn-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RunError(f"cannot write to {folder}: {err.strerror or err}") from None
    finally:
        for p in created:  # leave the file system as it was (innermost first)
            try:
                p.rmdir()
            except OSError:
                pass


LOCK = ".training.lock"  # the file a run folder's training process holds locked
_held: set[Path] = set()  # the run folders this process holds


@contextlib.contextmanager
def training_lock(run_dir: Path, wait: bool):
    """Hold ``run_dir`` for one training process: an exclusive ``flock`` on RUN_DIR/LOCK,
    which the system releases however the process ends (a kill included). Another process
    waits for it (``wait``: a sweep's worker whose run another worker still trains) or is
    refused by name; this process may take it again. Where no run was written (a run
    refused before it wrote), the folder is left as it was found."""
    run_dir = Path(run_dir).resolve()
    if fcntl is None or run_dir in _held:
        yield
        return
    check_writable(run_dir)
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    made_lock = not (run_dir / LOCK).exists()
    fd = os.open(run_dir / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise RunError(f"{run_dir} is being trained by another process; wait for it to "
                           "end, or choose another --out") from None
        _held.add(run_dir)
        try:
            yield
        finally:
            _held.discard(run_dir)
            if made_lock and not (run_dir / "config.json").exists():
                (run_dir / LOCK).unlink(missing_ok=True)
                if made and not any(run_dir.iterdir()):
                    run_dir.rmdir()
    finally:
        os.close(fd)


def check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> str:
    """What ``run_dir`` allows for ``config``, checked before anything is loaded or written.

    Returns ``"new"`` (an empty or absent folder), ``"resume"`` (this run, with a checkpoint:
    a plain rerun of the same command continues it, as ``resume`` does), ``"extend"`` (the
    same, with ``epochs`` raised; ``resume`` given) or ``"restart"`` (a run
    that never finished an epoch: it left no results, so any config may take its place).
    Another run's folder is refused with the keys that differ."""
    config_path = run_dir / "config.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run folder")
    check_writable(run_dir)
    if not config_path.exists():
        if resume:
            raise RunError(f"nothing to resume: {config_path} not found")
        if run_dir.exists() and any(p.name != LOCK for p in run_dir.iterdir()):
            raise RunError(f"{run_dir} is not empty and holds no run; choose a new --out")
        return "new"
    existing = _read_run_config(config_path)
    has_weights = (run_dir / "checkpoints" / "last.pt").exists()
    if not has_weights and not (run_dir / "metrics.json").exists():
        return "restart"
    diffs = config_differences(existing, config.to_dict(), run_dir)
    if not has_weights and (resume or not diffs):
        raise RunError(f"{run_dir} holds {'this' if not diffs else 'a'} run's results without "
                       "its checkpoints (not kept): nothing to resume; choose a new --out")
    if not diffs:
        return "resume"
    if set(diffs) == {"epochs"}:
        before, now = diffs["epochs"]
        if now < before:
            raise RunError(f"{run_dir} holds a run of {before} epochs; it cannot be shortened "
                           f"to {now} (evaluate a checkpoint instead)")
        if not resume:
            raise RunError(f"{run_dir} holds this run with {before} epochs; pass --resume to "
                           f"extend it to {now}")
        return "extend"
    raise RunError(f"{run_dir} already holds another run ({describe_differences(diffs)}); "
                   "choose a new --out")


def write_text(path: Path, text: str) -> None:
    """Write atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_run_config(run_dir: Path, config: TrainConfig) -> None:
    values = config.to_dict()
    settings = initial_settings(config)
    if settings is not None:
        values[INITIAL_SETTINGS] = settings
    where = data_from_run(config.data, run_dir)
    if where is not None:
        values[DATA_FROM_RUN] = where
    write_text(run_dir / "config.json", json.dumps(values, indent=1))


def reusable_metrics(config: TrainConfig, run_dir: str | Path) -> dict | None:
    """The metrics of a finished run of exactly ``config`` in ``run_dir`` (None if none is
    finished); a finished or started run made with other settings is refused by name."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    metrics = finished_metrics(run_dir)  # (committed runs keep their metrics, no weights)
    started = metrics is not None or (run_dir / "checkpoints" / "last.pt").exists()
    if not config_path.exists() or not started:
        return None
    diffs = config_differences(_read_run_config(config_path), config.to_dict(), run_dir)
    if diffs:
        raise RunError(f"{run_dir} holds a run made with other settings "
                       f"({describe_differences(diffs)}); remove it or choose another --out")
    return metrics



def read_metrics(path: Path) -> dict:
    """A run's metrics.json; a corrupt one is refused naming the file."""
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is corrupt ({err}); remove the run folder or restore it") \
            from None
    if not isinstance(metrics, dict):
        raise RunError(f"{path} is corrupt (not a table of metrics)")
    return metrics


def finished_metrics(run_dir: str | Path) -> dict | None:
    """The metrics.json of a finished run (one with test scores), or None."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    metrics = read_metrics(path)
    return metrics if "test" in metrics else None



def record_divergence(config: TrainConfig, run_dir: Path, message: str,
                      epoch: int | None = None) -> None:
    """A run whose loss diverged is a result of its settings: its metrics.json gets
    ``"diverged"`` (the message), ``"diverged_epoch"`` and test scores of NaN, so that a
    table shows the cell as diverged instead of failing (and a rerun reuses it)."""
    path = run_dir / "metrics.json"
    metrics = read_metrics(path) if path.exists() else {"epochs": []}
    metrics.update({"config": config.to_dict(), "diverged": message, "diverged_epoch": epoch,
                    "test": {"loss": math.nan, TASKS[config.task].metric: math.nan},
                    "parameters": 0,
                    "train_seconds": sum(r["seconds"] for r in metrics.get("epochs", []))})
    metrics.setdefault("effective_config", config.to_dict())
    write_run_config(run_dir, config)
    write_text(path, json.dumps(metrics, indent=1))


def run_dir_epoch(run_dir: Path) -> int:
    """The last epoch saved in a run folder (0 if none)."""
    metrics = run_dir / "metrics.json"
    try:
        return len(json.loads(metrics.read_text())["epochs"]) if metrics.exists() else 0
    except (ValueError, KeyError):
        return 0

