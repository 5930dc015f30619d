"""``unfoldrnn tune``: hyperparameter search for any model on any task, as an Optuna study.

Every trial trains the base config with sampled values into OUT/trials/trial-<n>/ and is
scored by its best validation metric (accuracy maximised; loss and perplexity minimised);
it reports that metric after every epoch, and Optuna's median pruner stops trials behind the
median of earlier ones at the same epoch. Trial 0 is the base config itself (its values of
the searched keys, the task's and model's defaults where it leaves them), so that a search
never ends below the defaults at its own trial budget; then a few random trials (a third of
the budget, at most 10) and TPE-guided ones. The test split is never evaluated. The study lives
in OUT/study.db (SQLite) or in ``storage`` (PostgreSQL: workers on many machines), so that
``workers`` processes share one set of trials. OUT/best.toml is the base config with the
best trial's values (``unfoldrnn train --config OUT/best.toml``); OUT/summary.json has every
trial, the best value and Optuna's parameter importances.

A search space is a TOML table of config keys, each ``{low, high, log}`` (a float or, with
``int = true``, an integer range) or ``{choices = [...]}``; ``model_options.NAME`` searches
a constructor option (e.g. the unfolding models' ``c``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from .config import ConfigError, TrainConfig, read_config_file
from .models import MODELS, UNFOLDING_MODELS

# learning rate over two decades around the papers' 3e-4 / 3e-3, its decay (the step of the
# step schedule, the patience of the plateau schedule), the gradient clip
COMMON_SPACE = {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                "lr_factor": {"low": 0.1, "high": 0.9},
                "clip": {"low": 0.05, "high": 5.0, "log": True}}
SCHEDULE_SPACE = {"step": {"lr_step": {"choices": [5, 10, 20, 50]}},
                  "plateau": {"lr_patience": {"choices": [1, 2, 3, 5]}}}
# the unfolding models' own scalars, left free by the papers: the step 1/c (Sista: 1/alpha)
# and the initial lambda1, lambda2 (paper 000 Sec. 4.1 fixes c = 1, lambdas 0.003, 0.02)
UNFOLDING_SPACE = {"model_options.c": {"low": 0.3, "high": 3.0, "log": True},
                   "lambda1": {"low": 1e-4, "high": 0.3, "log": True},
                   "lambda2": {"low": 1e-4, "high": 0.3, "log": True}}


# the schedule of a search: its final runs take the same (``tuned_overrides``)
SCHEDULE_KEYS = ("epochs", "lr_schedule", "lr_step", "lr_patience", "lr_factor")


def default_space(base: TrainConfig) -> dict:
    """The search space for ``base``'s model and learning-rate schedule; the unfolding
    models' scalars where the task initialises them as its paper does (init="scaled" sets
    them relative to the codes' scale, which a search over absolute values would undo)."""
    from .tasks import TASKS

    space = {**COMMON_SPACE, **SCHEDULE_SPACE[base.lr_schedule]}
    if base.model in UNFOLDING_MODELS and TASKS[base.task].unfolding_init(base) == "paper":
        space.update(UNFOLDING_SPACE)
        if base.model == "sista":
            space["model_options.alpha"] = space.pop("model_options.c")
    return space


def read_space(path: str | Path) -> dict:
    """A search space from a TOML/JSON file, every entry checked (key, range, choices)."""
    space = read_config_file(path)
    known = set(TrainConfig.__dataclass_fields__)
    for key, spec in space.items():
        if not (key in known or key.startswith("model_options.")):
            raise ConfigError(f"search space {path}: unknown config key {key!r}")
        if not isinstance(spec, dict):
            raise ConfigError(f"search space {path}: {key} must be a table, e.g. "
                              "{low = 1e-4, high = 1e-2, log = true} or {choices = [...]}")
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise ConfigError(f"search space {path}: {key}.choices must be a list")
        elif not all(isinstance(spec.get(b), (int, float)) for b in ("low", "high")) or \
                not spec["low"] < spec["high"] or (spec.get("log") and spec["low"] <= 0):
            raise ConfigError(f"search space {path}: {key} needs low < high (positive with "
                              f"log = true), got {spec}")
    return space


def sample(trial, space: dict) -> dict:
    """The trial's values of every key of ``space``, as config keys (model options nested)."""
    values, options = {}, {}
    for key, spec in space.items():
        if "choices" in spec:
            value = trial.suggest_categorical(key, spec["choices"])
        elif spec.get("int"):
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]),
                                      log=bool(spec.get("log")))
        else:
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]),
                                        log=bool(spec.get("log")))
        if key.startswith("model_options."):
            options[key.split(".", 1)[1]] = value
        else:
            values[key] = value
    return {**values, **({"model_options": options} if options else {})}


def with_params(base: TrainConfig, params: dict) -> TrainConfig:
    """``base`` with a trial's flat parameters (``model_options.X`` merged into the options)."""
    values = base.to_dict()
    options = dict(values.get("model_options") or {})
    for key, value in params.items():
        if key.startswith("model_options."):
            options[key.split(".", 1)[1]] = value
        else:
            values[key] = value
    if options:
        values["model_options"] = options
    return TrainConfig.from_dict(values)


def _in_space(value, spec: dict) -> bool:
    if "choices" in spec:
        return value in spec["choices"]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        spec["low"] <= value <= spec["high"]


def default_trial(base: TrainConfig, space: dict) -> dict:
    """The values a run of ``base`` uses for the keys of ``space`` (trial 0 of a search):
    the config's own, else (init="paper") the task's default step (``Task.unfolding_step``)
    for ``model_options.c``/``alpha`` and paper 000's lambdas where 0 leaves them to the
    model, else the model constructor's default. Keys whose default is unknown (init
    "scaled": set from the data's scale) or outside the space are left out (the sampler
    draws them)."""
    from .models.unfolding import PAPER_LAMBDAS
    from .tasks import TASKS

    paper = TASKS[base.task].unfolding_init(base) == "paper"
    options = base.model_options or {}
    signature = inspect.signature(MODELS[base.model].__init__).parameters
    trial = {}
    for key, spec in space.items():
        if key.startswith("model_options."):
            name = key.split(".", 1)[1]
            value = options.get(name)
            if value is None and name in ("c", "alpha") and paper:
                value = TASKS[base.task].unfolding_step
            if value is None and name in signature:
                value = signature[name].default
        else:
            value = getattr(base, key, None)
            if key in ("lambda1", "lambda2") and not value and paper:
                value = PAPER_LAMBDAS[key == "lambda2"]  # 0 leaves the model's default
        if value is not None and value is not inspect.Parameter.empty and \
                _in_space(value, spec):
            trial[key] = value
    return trial


def _direction(task: str) -> str:
    from .tasks import TASKS

    return "maximize" if TASKS[task].maximize else "minimize"


def _monitor(task: str) -> str:
    from .tasks import TASKS

    return f"val_{TASKS[task].monitor}"


MIN_TRIALS_FOR_IMPORTANCES = 8  # completed trials before parameter importances are reported


def study_name(base: TrainConfig) -> str:
    """One study per task, model and depth (a setting tuned at d = 3 is not d = 1's)."""
    return f"tune-{base.task}-{base.model}-d{base.num_layers}"


def sampler_seed(base: TrainConfig) -> int:
    """The sampler's seed: the base seed mixed with the study's name, so that two models'
    searches do not start from the same random trials."""
    digest = hashlib.sha256(f"{study_name(base)}:{base.seed}".encode()).hexdigest()
    return int(digest[:8], 16)


def pruner_of(base: TrainConfig):
    """The median pruner, patient: it waits for 4 finished trials and, within a trial, for
    half of the schedule, so that models that start slowly (LSTM, SpectralRNN, FastGRNN
    under a cut at epoch 2 lost 9-10 of 12 trials) are judged on what they reach."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=4,
                                       n_warmup_steps=max(1, base.epochs // 2))


def study_of(base: TrainConfig, storage: str, sampler: str = "tpe", trials: int = 30):
    """The study of the base config's task, model and depth (created once); TPE starts
    guiding after a third of ``trials`` (3 to 10: Optuna's default start-up is 10)."""
    import optuna

    from .experiments.study import _storage

    startup = max(3, min(10, trials // 3))
    seed = sampler_seed(base)
    chosen = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup) \
        if sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    return optuna.create_study(
        study_name=study_name(base), storage=_storage(storage),
        direction=_direction(base.task), sampler=chosen, load_if_exists=True,
        pruner=pruner_of(base))


def work(base: TrainConfig, space: dict, out: Path, trials: int, storage: str,
         sampler: str = "tpe", progress: bool = False, log=print) -> None:
    """One worker: run trials until the study holds ``trials`` finished ones."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from .experiments.study import lost_to_stale_heartbeat
    from .train import RunError, fit

    study = study_of(base, storage, sampler, trials)
    monitor, maximize = _monitor(base.task), _direction(base.task) == "maximize"

    def objective(trial) -> float:
        sample(trial, space)
        config = with_params(base, trial.params)
        scores: list[float] = []

        def report(row: dict) -> None:
            value = row[monitor]
            scores.append(value if math.isfinite(value) else (-math.inf if maximize
                                                              else math.inf))
            trial.report(max(scores) if maximize else min(scores), row["epoch"])
            if trial.should_prune():
                log(f"  trial {trial.number}: pruned after epoch {row['epoch']} ({monitor} "
                    f"{scores[-1]:.4g}, behind the median)  {trial.params}")
                raise optuna.TrialPruned()

        try:
            fit(config, out / "trials" / f"trial-{trial.number:04d}", progress=progress,
                log=lambda *_: None, on_epoch=report, evaluate_test=False)
        except (RunError, ValueError) as err:  # diverged: the worst score, not a crash
            log(f"  trial {trial.number}: {err}")
            return -math.inf if maximize else math.inf
        best = max(scores) if maximize else min(scores)
        log(f"  trial {trial.number}: {monitor} {best:.4g}  {trial.params}")
        return best

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    # a rerun of a finished search trains nothing more
    while len(study.get_trials(deepcopy=False, states=finished)) < trials:
        try:
            study.optimize(objective, callbacks=[MaxTrialsCallback(trials, states=finished)])
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError,
                AssertionError) as err:  # another worker failed our trial: go on
            if not lost_to_stale_heartbeat(err):
                raise


def _seconds(trial) -> float | None:
    """How long a trial ran (None: it never finished)."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def summarize(base: TrainConfig, storage: str, out: Path, command: str,
              seconds: float, space: dict | None = None, trials: int | None = None) -> dict:
    """Write OUT/best.toml and OUT/summary.json from the study; return the summary."""
    import optuna
    from optuna.trial import TrialState

    study = study_of(base, storage)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not done:
        raise ConfigError(f"no trial of {study.study_name} completed")
    best = study.best_trial
    importances = {}
    if len(done) >= MIN_TRIALS_FOR_IMPORTANCES:  # fewer: a random forest on noise
        try:
            importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError):  # one value everywhere
            importances = {}
    best_config = with_params(base, best.params)
    write_toml(best_config.to_dict(), out / "best.toml",
               header=f"best of {len(done)} completed trials ({len(study.trials)} in all, "
                      f"the rest pruned or failed) of `{command}`: "
                      f"{_monitor(base.task)} = {best.value:.6g} (trial {best.number})")
    schedule = {k: getattr(base, k) for k in SCHEDULE_KEYS if k not in best.params}
    trials_run = [{"number": t.number, "state": t.state.name, "value": t.value,
                   "params": t.params, "seconds": _seconds(t)}
                  for t in study.get_trials(deepcopy=False)]
    # wall_seconds: this invocation's; trial_seconds: every trial's own time, summed over
    # all invocations of a resumed search (with several workers, more than the wall time)
    summary = {"command": command, "wall_seconds": seconds,
               "trial_seconds": sum(t["seconds"] or 0.0 for t in trials_run),
               "direction": study.direction.name,
               "schedule": schedule, "base": base.to_dict(), "space": space,
               "trials_asked": trials,
               "metric": _monitor(base.task), "best_value": best.value,
               "best_params": best.params, "best_trial": best.number,
               "importances": importances, "trials": trials_run}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def write_toml(values: dict, path: Path, header: str = "") -> None:
    """A flat config as TOML (inline tables for model_options) that read_config_file reads."""
    lines = [f"# {header}"] if header else []
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def run(base: TrainConfig, space: dict, out: str | Path, trials: int, storage: str | None,
        workers: int, sampler: str, command: str, argv: list[str], progress: bool) -> dict:
    """The whole search: ``workers`` processes (or this one), then the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if storage is None and not (out / "study.db").exists():
        finished = finished_summary(out, base, space, trials)
        if finished is not None:  # a committed search, its study not kept: nothing to run
            return finished
    storage = storage or f"sqlite:///{out.resolve() / 'study.db'}"
    started = time.perf_counter()
    study = study_of(base, storage, sampler, trials)  # once, before the workers race to it
    if not study.trials:
        study.enqueue_trial(default_trial(base, space))
    if workers > 1:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        procs = [subprocess.Popen([sys.executable, "-m", "unfoldrnn", *argv, "--storage",
                                   storage, "--workers", "1", "--quiet", "--worker-of-parent"],
                                  env=env)
                 for _ in range(workers)]
        if max(p.wait() for p in procs):
            raise ConfigError("a tune worker failed (its error is above)")
    else:
        work(base, space, out, trials, storage, sampler, progress)
    return summarize(base, storage, out, command, time.perf_counter() - started, space,
                     trials)


def finished_summary(out: Path, base: TrainConfig, space: dict, trials: int) -> dict | None:
    """OUT/summary.json if it is this very search (base config, space and trials) finished:
    a rerun from a clean clone, where the study's database was not kept, reuses it."""
    path = out / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        return None
    same = json.loads(json.dumps({"base": base.to_dict(), "space": space,
                                  "trials_asked": trials}, default=str))
    return summary if all(summary.get(k) == v for k, v in same.items()) else None


def tuned_overrides(folder: str | Path, models, key: str | None = None, values=()) -> dict:
    """Per-model config keys ``"<model>:<key>"`` from the searches in ``folder``
    (``<folder>/<model>/summary.json``, as ``unfoldrnn tune --out <folder>/<model>`` writes
    them), or, searched per value of a table's swept ``key`` (a depth), per-cell keys
    ``"<model>@<value>:<key>"`` from ``<folder>/<key>=<value>/<model>/summary.json``. Each
    holds the best trial's values and the search's own schedule (epochs and the decay it
    did not tune), so that the final runs train as the trials did; for ``reproduce
    --tuned``."""
    folder = Path(folder)
    searches = {}  # owner -> summary file
    for model in models:
        if (folder / model / "summary.json").exists() or key is None:
            searches[model] = folder / model / "summary.json"
        else:
            for value in values:
                searches[f"{model}@{value}"] = folder / f"{key}={value}" / model / "summary.json"
    missing = [str(path.relative_to(folder)) for path in searches.values() if not path.exists()]
    if missing:
        raise ConfigError(f"--tuned {folder}: no search for {', '.join(missing)} (run unfoldrnn "
                          f"tune --out {folder}/<model>, or {folder}/{key or 'key'}=<value>/"
                          "<model> for a search per value, or restrict --models)")
    out = {}
    for owner, path in searches.items():
        try:
            summary = json.loads(path.read_text())
            params = summary["best_params"]
        except (ValueError, KeyError) as err:
            raise ConfigError(f"{path} is corrupt: {err}") from None
        options = {}
        for name, value in {**summary.get("schedule", {}), **params}.items():
            if name.startswith("model_options."):
                options[name.split(".", 1)[1]] = value
            else:
                out[f"{owner}:{name}"] = value
        if options:
            out[f"{owner}:model_options"] = options
    return out


def schedule_conflicts(tuned: dict, overrides: dict) -> list[str]:
    """The ``--set`` schedule keys that differ from a search's own (``tuned_overrides``):
    a final run decayed at other epochs than its trials is not the setting that was chosen."""
    found = []
    for key, value in overrides.items():
        name = key.split(":", 1)[-1]
        if name not in SCHEDULE_KEYS:
            continue
        for tuned_key, tuned_value in tuned.items():
            owner, tuned_name = tuned_key.split(":", 1)
            model = owner.partition("@")[0]
            if tuned_name == name and tuned_value != value and \
                    key.partition(":")[0] in ("", name, model, owner):
                found.append(f"{key}={value} (the {owner} search: {tuned_value})")
    return found
