"""A table's runs as an Optuna study, so that many processes and machines share them.

Every (model, value) run of a table is one trial, enqueued once by whichever process
creates the study; workers pop waiting trials (a trial is claimed by exactly one worker),
train the run into its folder (resuming from its last checkpoint if a dead worker left
one) and report the test metric. A worker killed mid-run stops sending heartbeats; once its
trial is stale, the next worker that looks fails it and Optuna's
``RetryHeartbeatStaleTrialCallback`` enqueues it again, to be resumed by another worker.
The table is written by whichever worker finds every run complete, or by ``collect``.

Storage: any Optuna storage URL; ``sqlite:///OUT/<table>/study.db`` by default, or
``postgresql://user@host/db`` for workers on several machines.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from ..train import finished_metrics, train_run
from .paper import Table
from .sweep import check_reuse, default_command, resolve, table_configs, write_table

# a worker records a heartbeat this often; 3x this without one is dead
HEARTBEAT_S = int(os.environ.get("UNFOLDRNN_HEARTBEAT_S", "5"))


def _storage(url: str, attempts: int = 5):
    """The storage, with heartbeats; workers that start together on a fresh database race to
    create its tables, so a failed creation is retried after a short random pause."""
    import random

    import optuna
    import sqlalchemy.exc
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Optuna marks heartbeats and fail_stale_trials experimental: a warning each worker loop
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for attempt in range(attempts):
        try:
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=3 * HEARTBEAT_S,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                                  max_retry=5))
        except sqlalchemy.exc.DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())


def lost_to_stale_heartbeat(err: Exception) -> bool:
    """Did Optuna refuse to finish our trial because another worker failed it first? A
    loaded machine let our heartbeat go stale, and the other worker failed the trial and
    enqueued it again. Optuna says so in one of three ways: UpdateFinishedTrialError,
    "Cannot tell a FAIL (or COMPLETE) trial", or its "Should not reach" after that tell."""
    import optuna

    return isinstance(err, optuna.exceptions.UpdateFinishedTrialError) or (
        isinstance(err, (ValueError, AssertionError))
        and any(m in str(err) for m in ("Cannot tell a", "Should not reach")))


def default_storage(out: str | Path, spec: Table) -> str:
    folder = Path(out).resolve() / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'study.db'}"


def study_name(spec: Table, scale: str, runs) -> str:
    """The study of exactly these runs: other settings (epochs, seeds, values) make another
    study, never a queue of runs already completed under different settings."""
    identity = json.dumps(sorted((r.name, r.config.to_dict()) for r in runs), default=str)
    return f"{spec.name}-{scale}-{hashlib.sha1(identity.encode()).hexdigest()[:10]}"


def _open_study(storage: str, name: str, runs: list[str]):
    """Create the study and enqueue every run once, or load it if another process did."""
    import optuna
    import sqlalchemy.exc

    store = _storage(storage)
    try:
        study = optuna.create_study(study_name=name, storage=store, direction="maximize")
    except (optuna.exceptions.DuplicatedStudyError, sqlalchemy.exc.IntegrityError):
        return optuna.load_study(study_name=name, storage=store)
    for run in runs:  # the run's name also as a user attribute: retried copies keep it
        study.enqueue_trial({"run": run}, user_attrs={"run": run})
    study.set_user_attr("runs", runs)
    return study


def _requeue_deleted(study, names: list[str], folder: Path) -> None:
    """Enqueue again every run that no trial waits for or runs and whose folder holds no
    finished run (deleted to be retrained: its completed trial would otherwise stand)."""
    from optuna.trial import TrialState

    pending = {t.user_attrs.get("run") for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.WAITING, TrialState.RUNNING)}
    for name in names:
        if name not in pending and finished_metrics(folder / name) is None:
            study.enqueue_trial({"run": name}, user_attrs={"run": name})


def work(table: str, scale: str, out: str | Path, storage: str | None = None,
         models=None, data: str | None = None, progress: bool = False, log=print,
         overrides: dict | None = None, values=None, seeds: int = 1,
         command: str | None = None, write: bool = True) -> bool:
    """One worker: run waiting trials until none is waiting or running; write the table if
    every run is complete (and ``write``: workers started by ``run_workers`` leave it to
    their parent). Returns whether the table is complete."""
    import optuna
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    started = time.perf_counter()
    spec = resolve(table)
    listed = table_configs(spec, scale, models, data, overrides, values, seeds)
    runs = {run.name: run.config for run in listed}
    folder = Path(out) / spec.folder
    reused = check_reuse(listed, folder)
    storage = storage or default_storage(out, spec)
    study = _open_study(storage, study_name(spec, scale, listed), list(runs))
    _requeue_deleted(study, list(runs), folder)

    def objective(trial) -> float:
        if "run" not in trial.user_attrs:  # not an enqueued run (the queue emptied meanwhile)
            raise optuna.TrialPruned()
        name = trial.suggest_categorical("run", list(runs))
        if finished_metrics(folder / name) is None:
            log(f"[{spec.name}] {name} (trial {trial.number})")
        return train_run(runs[name], folder / name, progress)["test"][spec.metric]

    while True:
        fail_stale_trials(study)  # a dead worker's trial -> FAIL -> enqueued again
        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            try:
                study.optimize(objective, n_trials=1)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError,
                    AssertionError) as err:
                # its run folder is finished (or trained by the retry) and will be reused
                if not lost_to_stale_heartbeat(err):
                    raise
        elif any(t.state == TrialState.RUNNING for t in trials):
            time.sleep(HEARTBEAT_S)  # another worker's run: it finishes or goes stale
        else:
            break
    done = {t.params.get("run") for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE}
    complete = set(runs) <= done
    if complete and write:
        write_table(spec, listed, folder, scale, command or default_command(
            spec, scale, out, models, data, overrides, values, seeds),
            time.perf_counter() - started, len(reused))
    return complete


def collect(table: str, scale: str, out: str | Path, models=None, data: str | None = None,
            overrides: dict | None = None, values=None, seeds: int = 1,
            command: str | None = None) -> None:
    """Write the table from finished runs of exactly these settings; name the runs that are
    not finished (a run folder of other settings is refused by name)."""
    spec = resolve(table)
    folder = Path(out) / spec.folder
    runs = table_configs(spec, scale, models, data, overrides, values, seeds)
    reused = check_reuse(runs, folder)
    missing = [run.name for run in runs if run not in reused]
    if missing:
        raise ValueError(f"{len(missing)} run(s) of {spec.name} not finished: "
                         f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    write_table(spec, runs, folder, scale, command or default_command(
        spec, scale, out, models, data, overrides, values, seeds), 0.0, len(runs))


def prepare(table: str, scale: str, storage: str, models=None, data: str | None = None,
            overrides: dict | None = None, values=None, seeds: int = 1,
            out: str | Path | None = None) -> list:
    """Create the study and its queue before workers start (no race on a fresh database);
    refuse run folders of other settings in ``out`` first. Returns the runs already
    finished (reused)."""
    spec = resolve(table)
    runs = table_configs(spec, scale, models, data, overrides, values, seeds)
    reused = check_reuse(runs, Path(out) / spec.folder) if out is not None else []
    study = _open_study(storage, study_name(spec, scale, runs), [run.name for run in runs])
    if out is not None:
        _requeue_deleted(study, [run.name for run in runs], Path(out) / spec.folder)
    return reused


def run_workers(argv: list[str], workers: int) -> int:
    """Start ``workers`` local worker processes of the same reproduce command; wait. Each
    gets cores / workers threads (unless OMP_NUM_THREADS is set): oversubscribed OpenMP
    threads spin and slow every worker down. The workers leave the table to the caller."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    procs = [subprocess.Popen([sys.executable, "-m", "unfoldrnn", *argv, "--workers", "1",
                               "--worker-of-parent"], env=env) for _ in range(workers)]
    return max(p.wait() for p in procs)
