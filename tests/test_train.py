import json
import math
from pathlib import Path

import pytest
import torch

from unfoldrnn.config import ConfigError, TrainConfig, read_config_file
from unfoldrnn.train import RunError, fit, load_checkpoint, load_run

TINY = dict(num_sequences=60, split=(40, 10, 10), hidden_size=32, num_layers=2, epochs=3,
            batch_size=16, lr=3e-3, frame_size=8)


def tiny(**kw):
    return TrainConfig.from_dict({**TINY, **kw})


@pytest.mark.parametrize("model", ["reweighted", "gru"])
def test_resume_equals_uninterrupted(tmp_path, model):
    config = tiny(model=model)
    full = fit(config, tmp_path / "full", progress=False, log=lambda *_: None)
    fit(config, tmp_path / "cut", progress=False, log=lambda *_: None, stop_after=1)
    assert "test" not in json.loads((tmp_path / "cut" / "metrics.json").read_text())
    resumed = fit(config, tmp_path / "cut", resume=True, progress=False, log=lambda *_: None)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["task"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in full["epochs"]] == [r["val_loss"] for r in resumed["epochs"]]
    assert full["test"] == resumed["test"]


def test_metrics_files_and_bound_tracking(tmp_path):
    metrics = fit(tiny(bound_lambda=0.01), tmp_path, progress=False, log=lambda *_: None)
    assert len(metrics["epochs"]) == 3 and metrics["test"]["psnr"] > 5
    assert all("rademacher_bound" in r for r in metrics["epochs"])
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_loss,val_loss,val_psnr") and len(csv_lines) == 4
    config, task, saved = load_run(tmp_path)
    assert config.model == "reweighted" and saved["best_epoch"] >= 1


def test_bound_lambda_u_lowers_the_input_norms(tmp_path):
    from unfoldrnn.bounds import model_norms

    betas = []
    for lam in (0.0, 1.0):
        fit(tiny(bound_lambda_u=lam, epochs=2), tmp_path / str(lam), progress=False,
            log=lambda *_: None)
        betas.append(sum(model_norms(load_run(tmp_path / str(lam), "last")[1].model)[1]))
    assert betas[1] < 0.9 * betas[0]


def test_training_lowers_the_loss(tmp_path):
    metrics = fit(tiny(model="l1l1", epochs=4), tmp_path, progress=False, log=lambda *_: None)
    losses = [r["val_loss"] for r in metrics["epochs"]]
    assert losses[-1] < losses[0]


def test_lambda_search_picks_the_best_trial(tmp_path):
    metrics = fit(tiny(epochs=1, lambda_search_trials=3, lambda_search_steps=2), tmp_path,
                  progress=False, log=lambda *_: None)
    search = metrics["lambda_search"]
    trials = search["trials"]
    assert len(trials) == 3 and search["sampler"] == "random"
    assert all(1e-5 <= t["lambda1"] <= 3 and 1e-5 <= t["lambda2"] <= 3 for t in trials)
    assert all(t["steps"] == 2 and t["state"] == "complete" for t in trials)
    assert len({t["lambda1"] for t in trials}) == 3  # fresh draws, not one repeated
    best = min(trials, key=lambda t: t["val_loss"])
    assert metrics["effective_config"]["lambda1"] == best["lambda1"]


def test_lambda_search_draws_are_seeded_and_log_uniform():
    import math

    from unfoldrnn.lambda_search import _study

    def draws(seed, n=400):
        study = _study("random", "none", seed)
        values = []
        for _ in range(n):
            trial = study.ask()
            values.append(trial.suggest_float("lambda1", 1e-5, 3.0, log=True))
            study.tell(trial, 0.0)
        return values

    first = draws(7)
    assert first == draws(7) and first != draws(8)
    logs = torch.tensor([math.log10(v) for v in first])
    # log-uniform on [-5, 0.477]: mean -2.26, and about half the draws below 1e-2.26
    assert abs(float(logs.mean()) + 2.261) < 0.25
    assert 0.4 < float((logs < -2.261).float().mean()) < 0.6


def test_lambda_search_with_tpe_and_median_pruner(tmp_path):
    metrics = fit(tiny(epochs=1, lambda_search_trials=6, lambda_search_steps=4,
                       lambda_search_sampler="tpe", lambda_search_pruner="median"),
                  tmp_path, progress=False, log=lambda *_: None)
    trials = metrics["lambda_search"]["trials"]
    assert len(trials) == 6 and metrics["lambda_search"]["pruner"] == "median"
    assert trials[0]["state"] == trials[1]["state"] == "complete"  # the pruner's start-up
    assert any(t["state"] == "pruned" for t in trials)  # seeded: 4 of 6 trail the median
    for t in trials:  # a pruned trial stopped early; a complete one ran every step
        assert (t["steps"] < 4) if t["state"] == "pruned" else (t["steps"] == 4)
    best = min((t for t in trials if t["state"] == "complete"), key=lambda t: t["val_loss"])
    assert metrics["effective_config"]["lambda2"] == best["lambda2"]


@pytest.mark.parametrize("key", ["lambda_search_sampler", "lambda_search_pruner"])
def test_lambda_search_options_are_checked(key):
    with pytest.raises(ConfigError, match=key):
        tiny(**{key: "grid"})


def test_run_folder_protection(tmp_path):
    fit(tiny(epochs=1), tmp_path / "run", progress=False, log=lambda *_: None)
    with pytest.raises(RunError, match=r"another run \(lr: 0.003 there, 0.001 now\)"):
        fit(tiny(epochs=1, lr=1e-3), tmp_path / "run", progress=False)
    with pytest.raises(RunError, match="pass --resume to extend it to 2"):
        fit(tiny(epochs=2), tmp_path / "run", progress=False)
    again = fit(tiny(epochs=1), tmp_path / "run", progress=False, log=lambda *_: None)
    assert len(again["epochs"]) == 1  # a plain rerun of a finished run trains nothing
    with pytest.raises(RunError, match="nothing to resume"):
        fit(tiny(epochs=1), tmp_path / "other", resume=True, progress=False)


@pytest.mark.parametrize("model", ["reweighted", "gru"])
def test_resume_with_more_epochs_equals_the_longer_run(tmp_path, model):
    """5 + 5 epochs (``--resume --epochs 10``) is the 10-epoch run, weights and all."""
    quiet = dict(progress=False, log=lambda *_: None)
    long = fit(tiny(model=model, epochs=10), tmp_path / "long", **quiet)
    fit(tiny(model=model, epochs=5), tmp_path / "cut", **quiet)
    extended = fit(tiny(model=model, epochs=10), tmp_path / "cut", resume=True, **quiet)
    a = load_checkpoint(tmp_path / "long" / "checkpoints" / "last.pt")["task"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["task"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in long["epochs"]] == [r["val_loss"] for r in
                                                        extended["epochs"]]
    assert long["test"] == extended["test"] and long["best_epoch"] == extended["best_epoch"]
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["epochs"] == 10
    with pytest.raises(RunError, match="cannot be shortened to 4"):
        fit(tiny(model=model, epochs=4), tmp_path / "cut", resume=True, **quiet)


def test_a_run_that_never_finished_an_epoch_gives_way(tmp_path):
    """A folder whose run failed before its first checkpoint holds no result: a corrected
    config may take it (no --resume needed), and a wrong model option writes nothing."""
    quiet = dict(progress=False, log=lambda *_: None)
    with pytest.raises(ConfigError, match="model_options"):
        fit(tiny(model_options={"foo": 1}), tmp_path / "run", **quiet)
    assert not (tmp_path / "run" / "config.json").exists()
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "config.json").write_text(json.dumps(tiny(lr=5.0).to_dict()))
    metrics = fit(tiny(epochs=1), tmp_path / "run", **quiet)
    assert "test" in metrics
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == TINY["lr"]


def test_a_committed_run_without_weights_is_reused_never_overwritten(tmp_path):
    """results/ keeps config.json and metrics.json, not checkpoints: the sweeps reuse such a
    run, and neither train nor another config may write over it."""
    import shutil

    from unfoldrnn.train import train_run

    quiet = dict(progress=False, log=lambda *_: None)
    metrics = fit(tiny(epochs=1), tmp_path / "run", **quiet)
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    assert train_run(tiny(epochs=1), tmp_path / "run")["test"] == metrics["test"]
    with pytest.raises(RunError, match="another run"):
        fit(tiny(epochs=1, lr=1e-2), tmp_path / "run", **quiet)
    for resume in (False, True):
        with pytest.raises(RunError, match="without its checkpoints"):
            fit(tiny(epochs=1), tmp_path / "run", resume=resume, **quiet)
    with pytest.raises(RunError, match="other settings"):
        train_run(tiny(epochs=2), tmp_path / "run")


def test_a_run_made_under_other_model_defaults_is_not_reused(tmp_path, monkeypatch):
    """config.json records the thresholds an unfolding model took from the code: after a
    default changes, a sweep refuses the old run by name instead of reusing it."""
    import shutil

    from unfoldrnn.models import unfolding
    from unfoldrnn.train import train_run

    config = tiny(model="l1l1", epochs=1)  # video reconstruction: paper 000's initialisation
    metrics = fit(config, tmp_path / "run", progress=False, log=lambda *_: None)
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["initial_settings"]
    assert recorded == {"init": "paper", "lambdas": [0.003, 0.02]}
    assert unfolding.L1L1RNN.initial_settings("scaled") == {
        "init": "scaled", "lambdas_over_step": list(unfolding.L1L1_THRESHOLDS)}
    assert train_run(config, tmp_path / "run")["test"] == metrics["test"]
    monkeypatch.setattr(unfolding, "PAPER_LAMBDAS", (0.01, 0.02))
    with pytest.raises(RunError, match=r"init: .*0.003, 0.02\]\} there, .*0.01, 0.02\]\} now"):
        train_run(config, tmp_path / "run")
    assert TrainConfig.from_dict(read_config_file(tmp_path / "run" / "config.json")) == config


def test_a_relative_data_path_is_the_same_run_from_another_folder(tmp_path, monkeypatch):
    from unfoldrnn.train import config_differences, resolved_data

    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    here = tiny(data="data/mnist_test_seq.npy").to_dict()
    there = tiny(data=str(tmp_path / "data" / "mnist_test_seq.npy")).to_dict()
    assert config_differences(here, there) == {}
    assert resolved_data("data/mnist_test_seq.npy") == str(tmp_path / "data" / "mnist_test_seq.npy")
    assert resolved_data("embedded") == "embedded"
    monkeypatch.chdir(tmp_path / "data")
    assert "data" in config_differences(here, there)  # relative to another folder: another


def test_a_run_moved_with_its_data_is_reused(tmp_path, monkeypatch):
    """A clone of a repository elsewhere finds its committed runs again: the data are the same
    where they lie in the same place seen from the run folder (config.json records it)."""
    import shutil

    import numpy as np

    from unfoldrnn.train import train_run

    rng = np.random.default_rng(0)
    (tmp_path / "a" / "data").mkdir(parents=True)
    np.savez(tmp_path / "a" / "data" / "x.npz", y_train=rng.integers(0, 2, 60),
             x_train=rng.standard_normal((60, 5, 3)).astype(np.float32))
    monkeypatch.chdir(tmp_path / "a")
    config = TrainConfig.from_dict({"task": "classification", "model": "gru", "epochs": 1,
                                    "data": str(tmp_path / "a/data/x.npz"), "hidden_size": 8})
    metrics = fit(config, "results/run", progress=False, log=lambda *_: None)
    shutil.rmtree("results/run/checkpoints")
    assert json.loads(Path("results/run/config.json").read_text())["data_from_run"] == \
        "../../data/x.npz"
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    monkeypatch.chdir(tmp_path / "b")
    moved = TrainConfig.from_dict({**config.to_dict(), "data": str(tmp_path / "b/data/x.npz")})
    assert train_run(moved, "results/run")["test"] == metrics["test"]
    shutil.copytree("data", "other")
    elsewhere = TrainConfig.from_dict({**config.to_dict(), "data": "other/x.npz"})
    with pytest.raises(RunError, match="other settings .data: "):
        train_run(elsewhere, "results/run")


def test_corrupt_checkpoint_is_named(tmp_path):
    fit(tiny(epochs=1), tmp_path, progress=False, log=lambda *_: None)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(RunError, match="corrupt"):
        load_checkpoint(ckpt)


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown config key"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="unknown model"):
        TrainConfig(model="transformer")
    with pytest.raises(ConfigError, match="rate"):
        TrainConfig(rate=1.5)
    with pytest.raises(ConfigError, match="split"):
        TrainConfig(num_sequences=100, split=(80, 10, 20))


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    config = tiny(model="gru", epochs=3)
    fit(config, tmp_path, progress=False, log=lambda *_: None, stop_after=1)
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    import unfoldrnn.tasks as train_module

    original = train_module.ReconstructionTask.loss
    try:
        train_module.ReconstructionTask.loss = staticmethod(lambda e, t: original(e, t) * math.nan)
        with pytest.raises(RunError, match="diverged at epoch 2"):
            fit(config, tmp_path, resume=True, progress=False, log=lambda *_: None)
    finally:
        train_module.ReconstructionTask.loss = staticmethod(original)
    kept = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert kept["epoch"] == saved["epoch"] == 0
    assert all(torch.equal(kept["task"][k], saved["task"][k]) for k in saved["task"])


def test_ctrl_c_is_one_line_and_resume_finishes_the_same_run(tmp_path, monkeypatch, capsys):
    from unfoldrnn.cli import main
    from unfoldrnn.tasks import ReconstructionTask

    args = ["train", "--num-sequences", "60", "--split", "40,10,10", "--hidden-size", "16",
            "--num-layers", "2", "--epochs", "3", "--set", "frame_size=8", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    original = ReconstructionTask.evaluate
    calls = {"n": 0}

    def interrupt_in_epoch_2(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *a, **kw)

    monkeypatch.setattr(ReconstructionTask, "evaluate", interrupt_in_epoch_2)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "cut")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["unfoldrnn: interrupted after epoch 1; rerun with --resume to continue"]
    monkeypatch.setattr(ReconstructionTask, "evaluate", original)
    assert main([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["task"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_killed_before_its_first_checkpoint_starts_afresh_under_resume(tmp_path):
    config = tiny(epochs=1)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(config.to_dict()))
    metrics = fit(config, tmp_path / "run", resume=True, progress=False, log=lambda *_: None)
    assert len(metrics["epochs"]) == 1 and "test" in metrics
    again = fit(config, tmp_path / "run", progress=False, log=lambda *_: None)
    assert again["test"] == metrics["test"]  # the same run, rerun: nothing more to train


def test_split_defaults_to_80_10_10_of_num_sequences():
    assert TrainConfig(num_sequences=300).split == (240, 30, 30)
    assert TrainConfig().split == (8000, 1000, 1000)


def test_tensorboard_logs_scalars_and_figures_that_tensorboard_reads_back(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    metrics = fit(tiny(tensorboard=True), tmp_path, progress=False, log=lambda *_: None)
    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"),
                                                size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/train", "loss/val", "psnr/val", "lr", "rademacher_bound"} <= \
        set(tags["scalars"])
    psnr = [e.value for e in events.Scalars("psnr/val")]
    assert psnr == pytest.approx([r["val_psnr"] for r in metrics["epochs"]], rel=1e-6)
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2, 3]
    assert {"reconstructions", "activations"} <= set(tags["images"])


def test_execution_keys_do_not_change_a_runs_identity(tmp_path):
    quiet = {"progress": False, "log": lambda *_: None}
    fit(tiny(epochs=2, compile_prox=False, device="cpu"), tmp_path, stop_after=1, **quiet)
    resumed = fit(tiny(epochs=2, compile_prox="auto"), tmp_path, resume=True, **quiet)
    assert len(resumed["epochs"]) == 2
    with pytest.raises(RunError, match="another run"):
        fit(tiny(epochs=2, lr=1e-2), tmp_path, resume=True, **quiet)


def test_a_diverged_run_is_recorded_as_a_result_and_reused(tmp_path, monkeypatch):
    import unfoldrnn.train as train_module
    from unfoldrnn.experiments.sweep import _cells

    calls = []

    def diverging(config, run_dir, **kw):
        calls.append(run_dir)
        raise train_module.Diverged("training diverged at epoch 4: the loss is nan; lower lr")

    monkeypatch.setattr(train_module, "fit", diverging)
    config = tiny()
    metrics = train_module.train_run(config, tmp_path / "run")
    assert "diverged at epoch 4" in metrics["diverged"]
    assert math.isnan(metrics["test"]["psnr"])
    assert math.isnan(train_module.train_run(config, tmp_path / "run")["test"]["psnr"])
    assert len(calls) == 1  # the second call reused the recorded divergence
    with pytest.raises(RunError, match="holds"):  # another config: refused as any run
        train_module.train_run(tiny(lr=1e-4), tmp_path / "run")
    rows = [{"model": "rnn", "rate": 0.2, "seed": s, "psnr": v, "paper_psnr": None,
             "parameters": 1} for s, v in enumerate([20.0, math.nan, 22.0])]
    cell = _cells(rows, "rate", "psnr")[0]
    assert (cell["n"], cell["diverged"], cell["mean"]) == (2, 1, 21.0)


def test_other_run_errors_are_not_taken_for_divergence(tmp_path, monkeypatch):
    import unfoldrnn.train as train_module

    def failing(config, run_dir, **kw):
        raise RunError("cuda_graphs needs a CUDA device")

    monkeypatch.setattr(train_module, "fit", failing)
    with pytest.raises(RunError, match="cuda_graphs"):
        train_module.train_run(tiny(), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_one_process_at_a_time_trains_a_run_folder(tmp_path):
    """While another process holds a run folder (runs.training_lock), ``fit`` is refused by
    name and a sweep's ``train_run`` waits, then trains; a run refused before it wrote
    leaves no folder behind."""
    import subprocess
    import sys
    import threading

    from unfoldrnn.runs import LOCK
    from unfoldrnn.train import train_run

    pytest.importorskip("fcntl")
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
         "os.O_CREAT | os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True);"
         " sys.stdin.read()", str(run / LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match="being trained by another process"):
            fit(tiny(epochs=1), run, progress=False, log=lambda *_: None)
        result = {}
        waiter = threading.Thread(target=lambda: result.update(train_run(tiny(epochs=1), run)))
        waiter.start()
        waiter.join(3.0)
        assert waiter.is_alive() and not (run / "config.json").exists()  # it waits
    finally:
        holder.communicate("")  # the holder ends: its lock is released
    waiter.join(120)
    assert "psnr" in result["test"] and (run / "metrics.json").exists()
    assert fit(tiny(epochs=1), run, progress=False, log=lambda *_: None)["test"] == result["test"]
    with pytest.raises(RunError, match="nothing to resume"):
        fit(tiny(epochs=1), tmp_path / "refused", resume=True, progress=False)
    assert not (tmp_path / "refused").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty and holds no run"):
        fit(tiny(epochs=1), tmp_path / "taken", progress=False)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
