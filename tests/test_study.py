"""Sweeps on Optuna: real worker processes on a real SQLite study (PostgreSQL when a server
can be started here)."""

import json
import os
import subprocess
import sys

import pytest

from postgres import postgres_cluster

optuna = pytest.importorskip("optuna")

TINY = ["reproduce", "table1", "--models", "rnn", "reweighted", "--values", "0.2", "0.5",
        "--set", "num_sequences=40", "--set", "split=[24,8,8]", "--set", "hidden_size=8",
        "--set", "frame_size=8", "--set", "lambda_search_trials=0", "--set",
        "track_bound=false", "--set", "compile_prox=false", "--quiet"]
RUNS = {"rnn-0.2", "rnn-0.5", "reweighted-0.2", "reweighted-0.5"}
KILLER = """
import os, signal, sys
import unfoldrnn.train as train
write = train._write_metrics
def write_then_die(run_dir, history, extra):
    write(run_dir, history, extra)
    if len(history) == 1:
        os.kill(os.getpid(), signal.SIGKILL)   # dies mid-run, after its first epoch's files
train._write_metrics = write_then_die
from unfoldrnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def env():
    return {**os.environ, "UNFOLDRNN_HEARTBEAT_S": "1", "PYTHONUNBUFFERED": "1"}


def trials(storage: str, prefix: str):
    """The trials of the one study whose name starts with ``prefix`` (the rest of the name
    is a hash of the runs' settings)."""
    names = [n for n in optuna.get_all_study_names(storage) if n.startswith(prefix + "-")]
    assert len(names) == 1, names
    study = optuna.load_study(study_name=names[0], storage=storage)
    return study.get_trials(deepcopy=False)


def test_two_workers_complete_the_grid_each_run_once(tmp_path):
    args = [*TINY, "--set", "epochs=1", "--out", str(tmp_path), "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "unfoldrnn", *args], env=env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    storage = f"sqlite:///{tmp_path.resolve() / 'table1' / 'study.db'}"
    complete = [t.params["run"] for t in trials(storage, "paper001-table1-cpu")
                if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(complete) == sorted(RUNS)  # every run once, no run twice
    table = (tmp_path / "table1" / "table1.csv").read_text().splitlines()
    assert len(table) == 1 + 4
    for run in RUNS:
        assert len(json.loads((tmp_path / "table1" / run / "metrics.json").read_text())
                   ["epochs"]) == 1


def test_a_deleted_run_of_a_completed_study_is_trained_again(tmp_path):
    """A run folder removed to be retrained (its code's defaults changed) is trained again by
    the same command, though the study holds its completed trial."""
    import shutil

    args = [*TINY, "--set", "epochs=1", "--out", str(tmp_path), "--workers", "2"]
    for attempt in range(2):
        done = subprocess.run([sys.executable, "-m", "unfoldrnn", *args], env=env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        if attempt == 0:
            shutil.rmtree(tmp_path / "table1" / "rnn-0.2")
    assert (tmp_path / "table1" / "rnn-0.2" / "metrics.json").exists()
    storage = f"sqlite:///{tmp_path.resolve() / 'table1' / 'study.db'}"
    complete = [t.params["run"] for t in trials(storage, "paper001-table1-cpu")
                if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(complete) == sorted([*RUNS, "rnn-0.2"])  # that run twice, the rest once


def test_a_killed_worker_leaves_its_run_to_be_resumed(tmp_path):
    args = [*TINY, "--set", "epochs=2", "--out", str(tmp_path)]
    storage = f"sqlite:///{tmp_path.resolve() / 'study.db'}"
    killed = subprocess.run([sys.executable, "-c", KILLER, *args, "--storage", storage],
                            env=env(), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9  # SIGKILL
    first = next(d for d in (tmp_path / "table1").iterdir() if d.is_dir())
    epoch_one = json.loads((first / "metrics.json").read_text())["epochs"][0]
    survivor = subprocess.run([sys.executable, "-m", "unfoldrnn", *args, "--storage", storage],
                              env=env(), capture_output=True, text=True, timeout=300)
    assert survivor.returncode == 0, survivor.stderr[-2000:]
    metrics = json.loads((first / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2 and "test" in metrics
    assert metrics["epochs"][0] == epoch_one  # resumed from its checkpoint, not from scratch
    states = [t.state for t in trials(storage, "paper001-table1-cpu")]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the dead worker's trial
    assert (tmp_path / "table1" / "table1.md").exists()


def test_collect_names_what_is_missing(tmp_path, capsys):
    from unfoldrnn.cli import main

    assert main([*TINY, "--out", str(tmp_path), "--collect"]) == 2
    assert "4 run(s) of paper001-table1 not finished" in capsys.readouterr().err


def test_the_same_grid_on_postgresql(tmp_path):
    """A throwaway PostgreSQL cluster on a unix socket (Debian's postgresql package)."""
    with postgres_cluster() as storage:
        out = tmp_path / "out"
        args = [*TINY, "--set", "epochs=1", "--out", str(out), "--storage", storage,
                "--workers", "2"]
        done = subprocess.run([sys.executable, "-m", "unfoldrnn", *args], env=env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        complete = [t.params["run"] for t in trials(storage, "paper001-table1-cpu")
                    if t.state == optuna.trial.TrialState.COMPLETE]
        assert sorted(complete) == sorted(RUNS)
        assert (out / "table1" / "table1.md").exists()
