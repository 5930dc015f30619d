"""unfoldrnn tune: an Optuna study on the validation split (SQLite, workers, PostgreSQL),
its best config trains with train --config, and the test split is never evaluated."""

import json
import math
import os
import subprocess
import sys

import pytest

from unfoldrnn import tune
from unfoldrnn.cli import main
from unfoldrnn.config import ConfigError, TrainConfig, read_config_file

from postgres import postgres_cluster

BASE = ["--model", "reweighted", "--num-sequences", "40", "--split", "24,8,8",
        "--hidden-size", "8", "--num-layers", "1", "--epochs", "2", "--set", "frame_size=8",
        "--set", "track_bound=false", "--set", "compile_prox=false", "--quiet"]


def trials_of(out):
    return json.loads((out / "summary.json").read_text())["trials"]


def test_tune_end_to_end_and_the_best_config_trains(tmp_path, monkeypatch):
    from unfoldrnn.tasks import ReconstructionTask

    splits = {}
    load = ReconstructionTask.load_data.__func__
    evaluate = ReconstructionTask.evaluate

    def load_data(cls, config, progress=True):
        splits["test"] = load(cls, config, progress)[2]
        return load(cls, config, progress)[:2] + (splits["test"],)

    def guarded(self, split, batch_size=256):
        assert split is not splits["test"], "tune evaluated the test split"
        return evaluate(self, split, batch_size)

    monkeypatch.setattr(ReconstructionTask, "load_data", classmethod(load_data))
    monkeypatch.setattr(ReconstructionTask, "evaluate", guarded)
    out = tmp_path / "tune"
    assert main(["tune", *BASE, "--trials", "4", "--out", str(out)]) == 0
    trials = trials_of(out)
    assert len([t for t in trials if t["state"] in ("COMPLETE", "PRUNED")]) == 4
    defaults = {"lr": 3e-4, "lr_factor": 0.3, "clip": 0.25, "lr_patience": 5,
                "lambda1": 0.003, "lambda2": 0.02}  # c: the data's ||A D||^2, sampled
    assert {k: trials[0]["params"][k] for k in defaults} == defaults  # trial 0: the base
    summary = json.loads((out / "summary.json").read_text())
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert summary["best_value"] == min(t["value"] for t in complete)  # val loss: minimised
    assert summary["importances"] == {}  # 4 trials: too few to say what mattered
    seconds = [t["seconds"] for t in summary["trials"]]
    assert all(v > 0 for v in seconds) and summary["trial_seconds"] == sum(seconds)
    assert tune.MIN_TRIALS_FOR_IMPORTANCES > 4
    assert main(["tune", *BASE, "--trials", "4", "--out", str(out)]) == 0  # finished: a rerun
    assert len(trials_of(out)) == len(trials)  # trains no 5th trial
    (out / "study.db").unlink()  # a clean clone: the summary is committed, the study is not
    stamp = (out / "summary.json").stat().st_mtime_ns
    assert main(["tune", *BASE, "--trials", "4", "--out", str(out)]) == 0
    assert (out / "summary.json").stat().st_mtime_ns == stamp  # reused, nothing trained
    assert not (out / "study.db").exists()
    other = tmp_path / "other"  # another search (5 trials) is not that summary
    (other).mkdir()
    (other / "summary.json").write_text((out / "summary.json").read_text())
    assert main(["tune", *BASE, "--trials", "5", "--out", str(other)]) == 0
    assert (other / "study.db").exists() and len(trials_of(other)) >= 5
    for t in complete:  # the value is the trial's best validation loss
        run = out / "trials" / f"trial-{t['number']:04d}"
        rows = json.loads((run / "metrics.json").read_text())
        assert "test" not in rows
        assert t["value"] == pytest.approx(min(r["val_loss"] for r in rows["epochs"]))
    best = read_config_file(out / "best.toml")
    assert best["lr"] == summary["best_params"]["lr"]
    assert best["model_options"]["c"] == summary["best_params"]["model_options.c"]
    monkeypatch.undo()
    assert main(["train", "--config", str(out / "best.toml"), "--quiet", "--out",
                 str(tmp_path / "best")]) == 0
    assert "test" in json.loads((tmp_path / "best" / "metrics.json").read_text())


def test_two_workers_share_one_study(tmp_path):
    out = tmp_path / "tune"
    done = subprocess.run([sys.executable, "-m", "unfoldrnn", "tune", *BASE, "--trials", "4",
                           "--workers", "2", "--out", str(out)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "UNFOLDRNN_HEARTBEAT_S":
                                                       "5"})
    assert done.returncode == 0, done.stderr[-2000:]
    finished = [t for t in trials_of(out) if t["state"] in ("COMPLETE", "PRUNED")]
    assert 4 <= len(finished) <= 5  # the last trial can start on both workers at once
    assert len({t["number"] for t in finished}) == len(finished)
    assert done.stdout.count("wrote") == 1


def test_a_worker_whose_trial_another_worker_failed_goes_on(tmp_path, monkeypatch):
    """The race of a loaded machine, made without timing: while a trial trains, another
    worker fails it (its heartbeat went stale) and Optuna refuses to tell its result; the
    worker goes on until the study holds its trials, and other errors still surface."""
    import optuna
    from optuna.trial import TrialState

    import unfoldrnn.train

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    base = TrainConfig(model="gru", num_sequences=40, split=(24, 8, 8), hidden_size=8,
                       num_layers=1, epochs=1, frame_size=8, track_bound=False)
    calls = []

    def fit(config, run_dir, on_epoch, **_):
        calls.append(run_dir)
        on_epoch({"epoch": 1, "val_loss": 1.0 / len(calls)})
        if len(calls) == 1:  # another worker fails this trial under our feet
            study = optuna.load_study(study_name=tune.study_name(base), storage=storage)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            study._storage.set_trial_state_values(running[0]._trial_id, TrialState.FAIL)

    monkeypatch.setattr(unfoldrnn.train, "fit", fit)
    tune.work(base, {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}, tmp_path, 3, storage,
              log=lambda *_: None)
    study = optuna.load_study(study_name=tune.study_name(base), storage=storage)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states[0] == TrialState.FAIL and states.count(TrialState.COMPLETE) == 3

    def broken(config, run_dir, on_epoch, **_):
        raise AssertionError("a real bug")

    monkeypatch.setattr(unfoldrnn.train, "fit", broken)
    with pytest.raises(AssertionError, match="a real bug"):
        tune.work(base, {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}, tmp_path, 5,
                  storage, log=lambda *_: None)


def test_tune_on_postgresql(tmp_path):
    with postgres_cluster() as storage:
        out = tmp_path / "tune"
        assert main(["tune", *BASE, "--trials", "3", "--storage", storage, "--out",
                     str(out)]) == 0
        assert len(trials_of(out)) == 3


def test_space_files_and_their_mistakes(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text('lr = {low = 1e-3, high = 1e-2, log = true}\n'
                     'hidden_size = {choices = [8, 12]}\n')
    out = tmp_path / "tune"
    assert main(["tune", *BASE, "--trials", "2", "--space", str(space), "--out",
                 str(out)]) == 0
    for t in trials_of(out):
        assert set(t["params"]) == {"lr", "hidden_size"}
        assert 1e-3 <= t["params"]["lr"] <= 1e-2 and t["params"]["hidden_size"] in (8, 12)
    for text, word in (('nonsense = {low = 1, high = 2}', "unknown config key"),
                       ('lr = {low = 1e-2, high = 1e-3}', "low < high"),
                       ('lr = {low = 0, high = 1, log = true}', "positive"),
                       ('lr = 3', "must be a table"), ('lr = {choices = 3}', "list")):
        space.write_text(text + "\n")
        with pytest.raises(ConfigError, match=word):
            tune.read_space(space)
    assert main(["tune", *BASE, "--trials", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--trials" in capsys.readouterr().err


def test_a_sampled_trial_is_the_base_config_with_its_values():
    import optuna

    base = TrainConfig(model="l1l1", model_options={"signal_size": 256})
    trial = optuna.trial.FixedTrial({"lr": 2e-3, "lr_factor": 0.5, "clip": 1.0,
                                     "lr_patience": 3, "model_options.c": 1.5,
                                     "lambda1": 0.01, "lambda2": 0.02})
    sampled = tune.sample(trial, tune.default_space(base))
    assert sampled["model_options"] == {"c": 1.5} and sampled["lr_patience"] == 3
    config = tune.with_params(base, trial.params)
    assert config.model_options == {"signal_size": 256, "c": 1.5}  # merged, not replaced
    assert config.lr == 2e-3 and config.lambda1 == 0.01 and math.isclose(config.clip, 1.0)
    assert "alpha" in str(tune.default_space(TrainConfig(model="sista")))


def test_trial_zero_is_what_the_base_config_would_train_with():
    def default(model, space=None, **keys):
        base = TrainConfig(task="classification", model=model, data="x", preset="paper",
                           **keys)
        return tune.default_trial(base, space or tune.default_space(base))

    assert default("reweighted") == {"lr": 3e-4, "lr_factor": 0.3, "clip": 0.25,
                                     "lr_step": 50, "model_options.c": 1.0,
                                     "lambda1": 0.003, "lambda2": 0.02}  # paper 000 Sec. 4.1
    assert default("sista")["model_options.alpha"] == 1.0
    assert default("gru") == {"lr": 3e-3, "lr_factor": 0.3, "clip": 0.25, "lr_step": 50}
    own = default("l1l1", lr=0.5, lambda1=0.1, model_options={"c": 2.0})
    assert own["model_options.c"] == 2.0 and own["lambda1"] == 0.1
    assert "lr" not in own  # outside the space: the sampler draws it
    assert default("gru", {"lr_step": {"choices": [5, 10]}}) == {}
    # this library's preset: the scalars follow the data's scale, and are not searched
    scaled = TrainConfig(task="classification", model="reweighted", data="x")
    assert tune.default_trial(scaled, tune.default_space(scaled)) == {
        "lr": 3e-4, "lr_factor": 0.3, "clip": 0.25, "lr_step": 50}
    assert tune.default_trial(scaled, tune.UNFOLDING_SPACE) == {}  # left to the sampler


def test_reproduce_tuned_takes_each_models_best_trial_and_set_wins(tmp_path):
    import json

    from unfoldrnn.cli import make_parser
    from unfoldrnn.cli.sweeps import _reproduce_overrides
    from unfoldrnn.experiments import resolve
    from unfoldrnn.experiments.sweep import table_configs

    for model, params in (("gru", {"lr": 0.002, "clip": 0.5}),
                          ("sista", {"lr": 0.004, "model_options.alpha": 2.0})):
        (tmp_path / model).mkdir()
        (tmp_path / model / "summary.json").write_text(json.dumps({"best_params": params}))
    args = make_parser().parse_args(["reproduce", "paper000-table1", "--data", "x",
                                     "--models", "gru", "sista", "--tuned", str(tmp_path),
                                     "--set", "sista:lr=0.001", "--set", "epochs=2"])
    overrides, _ = _reproduce_overrides(args)
    runs = table_configs(resolve("paper000-table1"), "cpu", ["gru", "sista"], "x", overrides,
                         [1])
    by = {r.model: r.config for r in runs}
    assert (by["gru"].lr, by["gru"].clip, by["gru"].epochs) == (0.002, 0.5, 2)
    assert (by["sista"].lr, by["sista"].model_options, by["sista"].clip) == (0.001, {"alpha": 2.0},
                                                                            0.25)
    args.models = ["gru", "lstm"]
    with pytest.raises(ConfigError, match="no search for .*lstm"):
        _reproduce_overrides(args)


def test_a_search_per_depth_sets_its_own_cells_and_its_schedule_is_kept(tmp_path):
    """Table 1 tuned at each depth: <folder>/num_layers=<d>/<model>/summary.json sets the
    runs of that depth only, with the search's epochs and decay; a --set that changes the
    schedule the trials trained with is refused by name."""
    import json

    from unfoldrnn.cli import make_parser
    from unfoldrnn.cli.sweeps import _reproduce_overrides
    from unfoldrnn.experiments import resolve
    from unfoldrnn.experiments.sweep import table_configs

    for depth, lr in ((1, 0.002), (3, 0.0005)):
        folder = tmp_path / f"num_layers={depth}" / "gru"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({
            "best_params": {"lr": lr, "lr_step": 10}, "schedule": {"epochs": 30,
                                                                  "lr_factor": 0.3}}))
    argv = ["reproduce", "paper000-table1", "--data", "x", "--models", "gru", "--tuned",
            str(tmp_path), "--values", "1", "3"]
    overrides, values = _reproduce_overrides(make_parser().parse_args(argv))
    runs = table_configs(resolve("paper000-table1"), "cpu", ["gru"], "x", overrides, values)
    by = {r.value: r.config for r in runs}
    assert (by[1].lr, by[3].lr) == (0.002, 0.0005)
    assert by[1].epochs == by[3].epochs == 30 and by[3].lr_step == 10
    for bad in ("lr_step=20", "epochs=12", "gru:epochs=12"):
        with pytest.raises(ConfigError, match="schedule their search"):
            _reproduce_overrides(make_parser().parse_args([*argv, "--set", bad]))
    assert _reproduce_overrides(make_parser().parse_args([*argv, "--set", "epochs=30"]))


def test_each_study_has_its_depth_its_own_sampler_seed_and_a_patient_pruner():
    gru1 = TrainConfig(task="classification", model="gru", num_layers=1, epochs=30, data="x")
    gru3 = TrainConfig(task="classification", model="gru", num_layers=3, epochs=30, data="x")
    lstm3 = TrainConfig(task="classification", model="lstm", num_layers=3, epochs=30, data="x")
    assert tune.study_name(gru1) != tune.study_name(gru3)
    assert len({tune.sampler_seed(c) for c in (gru1, gru3, lstm3)}) == 3
    assert tune.sampler_seed(gru3) == tune.sampler_seed(
        TrainConfig(task="classification", model="gru", num_layers=3, epochs=30, data="x"))
    pruner = tune.pruner_of(gru3)
    assert pruner._n_warmup_steps == 15 and pruner._n_startup_trials == 4
