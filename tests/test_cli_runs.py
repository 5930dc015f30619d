"""Runs a user can trust, as a user meets them: the CLI in a subprocess (exit code, one line,
files unchanged) on reuse, provenance, seeds, unwritable folders, extended and relative runs,
and every command on every task."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import WHERE
from speech import TEST_SET, tiny_test_set

RECON = ["--num-sequences", "40", "--split", "24,8,8", "--hidden-size", "8", "--num-layers",
         "1", "--set", "frame_size=8", "--set", "compile_prox=false", "--quiet"]
TABLE = ["reproduce", "table1", "--models", "rnn", "--values", "0.2", "--set",
         "num_sequences=40", "--set", "split=[24,8,8]", "--set", "hidden_size=8", "--set",
         "frame_size=8", "--set", "lambda_search_trials=0", "--set", "track_bound=false",
         "--quiet"]


def unfoldrnn(*args, cwd=None):
    env = {**os.environ, "UNFOLDRNN_HEARTBEAT_S": "1"}
    return subprocess.run([sys.executable, "-m", "unfoldrnn", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def refused(done, *words):
    """Exit 2 with one line on stderr that holds every word."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reproduce_refuses_runs_of_other_settings_and_says_what_it_did(tmp_path):
    first = unfoldrnn(*TABLE, "--set", "epochs=1", "--out", tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    table = (tmp_path / "table1" / "table1.md").read_text()
    assert "--models rnn --values 0.2 --set num_sequences=40" in table
    assert "--set epochs=1 --out" in table and "1 trained by this call, 0 reused" in table
    assert '"epochs": 1' in table  # the setting line is the runs' own, not the scale's
    assert first.stdout.count("wrote") == 1
    before = snapshot(tmp_path)
    for extra in ([], ["--collect"], ["--workers", "2"]):
        line = refused(unfoldrnn(*TABLE, "--set", "epochs=2", "--out", tmp_path, *extra),
                       str(tmp_path / "table1" / "rnn-0.2"), "epochs: 1 there, 2 now")
        assert "other settings" in line
    assert snapshot(tmp_path) == before  # the table and the run as they were
    again = unfoldrnn(*TABLE, "--set", "epochs=1", "--out", tmp_path, "--workers", "2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("wrote") == 1
    assert "0 trained by this call, 1 reused" in (tmp_path / "table1" / "table1.md").read_text()


def test_seeds_give_separate_runs_and_the_table_their_mean_and_std(tmp_path):
    done = unfoldrnn(*TABLE, "--set", "epochs=1", "--seeds", "3", "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    folders = ["rnn-0.2", "rnn-0.2-seed1", "rnn-0.2-seed2"]
    psnr = []
    for seed, name in enumerate(folders):
        run = tmp_path / "table1" / name
        assert json.loads((run / "config.json").read_text())["seed"] == seed
        psnr.append(json.loads((run / "metrics.json").read_text())["test"]["psnr"])
    assert len(set(psnr)) == 3  # three seeds, three different runs
    cells = json.loads((tmp_path / "table1" / "table1.json").read_text())["cells"]
    assert cells[0]["n"] == 3 and cells[0]["seeds"] == [0, 1, 2]
    assert cells[0]["mean"] == pytest.approx(statistics.fmean(psnr))
    assert cells[0]["std"] == pytest.approx(statistics.stdev(psnr))
    md = (tmp_path / "table1" / "table1.md").read_text()
    assert f"{statistics.fmean(psnr):.2f} +- {statistics.stdev(psnr):.2f}" in md
    rows = (tmp_path / "table1" / "table1.csv").read_text().splitlines()
    assert len(rows) == 4 and "seed" in rows[0].split(",")
    assert (tmp_path / "table1" / "table1.png").stat().st_size > 1000  # the error-bar plot
    assert f"* rate = 0.2: sRNN {statistics.fmean(psnr):.4g}" in md  # the ranking line
    again = unfoldrnn(*TABLE, "--set", "epochs=1", "--seeds", "3", "--out", tmp_path)
    assert "0 trained by this call, 3 reused" in (tmp_path / "table1" / "table1.md").read_text()
    assert again.returncode == 0


def test_the_table_plot_draws_each_cells_mean_and_std_as_error_bars(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from unfoldrnn import plots

    drawn, errorbar = [], Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar", lambda self, x, y, yerr=None, **kw: (
        drawn.append((kw["label"], list(y), list(yerr))), errorbar(self, x, y, yerr, **kw))[1])
    cell = {"n": 3, "paper_accuracy": None}
    cells = [{**cell, "model": "gru", "num_layers": 1, "mean": 80.0, "std": 1.5},
             {**cell, "model": "gru", "num_layers": 3, "mean": 85.0, "std": 0.5},
             {**cell, "model": "rnn", "num_layers": 1, "mean": 20.0, "std": 4.0},
             {**cell, "model": "rnn", "num_layers": 3, "n": 0, "mean": float("nan"),
              "std": 0.0}]  # every seed diverged: nothing to draw
    plots.paper_table(cells, "num_layers", "accuracy", tmp_path / "t.png", labels={
        "rnn": "sRNN"})
    assert drawn == [("gru", [80.0, 85.0], [1.5, 0.5]), ("sRNN", [20.0], [4.0])]
    assert (tmp_path / "t.png").exists()


@pytest.mark.parametrize("where", ["/sys/kernel/unfoldrnn-x", "a_file.bin/run",
                                   "/proc/unfoldrnn-x"])
def test_an_unwritable_output_folder_is_refused_before_the_data_loads(tmp_path, where):
    (tmp_path / "a_file.bin").write_bytes(b"x")
    before = snapshot(tmp_path)
    out = where if where.startswith("/") else tmp_path / where
    refused(unfoldrnn("train", *RECON, "--epochs", "1", "--out", out), "cannot write to",
            str(out))
    refused(unfoldrnn(*TABLE, "--out", out), "cannot write to")
    assert snapshot(tmp_path) == before and not Path(where).exists()


def test_a_mistake_leaves_the_folder_to_a_corrected_rerun(tmp_path):
    out = tmp_path / "run"
    refused(unfoldrnn("train", *RECON, "--epochs", "1", "--set", 'model_options={"foo": 1}',
                      "--out", out), "model_options")
    assert not (out / "config.json").exists()
    (out / "checkpoints").mkdir(parents=True)  # as a run that died in its first epoch leaves
    (out / "config.json").write_text(json.dumps({"lr": 100.0, "epochs": 1}))
    done = unfoldrnn("train", *RECON, "--epochs", "1", "--out", out)
    assert done.returncode == 0, done.stderr[-2000:]


def test_resume_extends_a_run_and_names_what_differs(tmp_path):
    out = tmp_path / "run"
    assert unfoldrnn("train", *RECON, "--epochs", "1", "--out", out).returncode == 0
    refused(unfoldrnn("train", *RECON, "--epochs", "1", "--lr", "0.5", "--resume", "--out",
                      out), "lr: ", "0.5 now")
    done = unfoldrnn("train", *RECON, "--epochs", "2", "--resume", "--out", out)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2 and "test" in metrics


def test_a_relative_data_path_is_stored_resolved(tmp_path):
    import numpy as np

    (tmp_path / "work" / "data").mkdir(parents=True)
    frames = np.random.default_rng(0).integers(0, 255, (20, 40, 16, 16), dtype=np.uint8)
    # the official [T, N, 64, 64] layout
    np.save(tmp_path / "work" / "data" / "mnist_test_seq.npy", frames)
    args = ["--num-sequences", "40", "--split", "24,8,8", "--hidden-size", "8",
            "--num-layers", "1", "--epochs", "1", "--set", "frame_size=8", "--quiet",
            "--set", "compile_prox=false"]
    done = unfoldrnn("train", *args, "--data", "data/mnist_test_seq.npy", "--out", "run",
                     cwd=tmp_path / "work")
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "work" / "run"
    assert json.loads((run / "config.json").read_text())["data"] == \
        str(tmp_path / "work" / "data" / "mnist_test_seq.npy")
    assert unfoldrnn("evaluate", run, cwd=tmp_path).returncode == 0
    resumed = unfoldrnn("train", *args, "--data", tmp_path / "work" / "data" / "mnist_test_seq.npy",
                        "--resume", "--out", run)  # the same run: nothing left to train
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_interrupted_before_the_run_started_says_so(tmp_path, monkeypatch):
    import unfoldrnn.train as train
    from unfoldrnn.config import TrainConfig

    def interrupt(*_args, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "build_data", interrupt)  # Ctrl-C while features load
    with pytest.raises(train.Interrupted, match="nothing was saved; rerun the same command"):
        train.fit(TrainConfig(num_sequences=40, split=(24, 8, 8), epochs=1), tmp_path / "run",
                  progress=False)
    assert not (tmp_path / "run").exists()


def _ptb(root: Path) -> Path:
    words = "the cat sat on the mat and the dog sat on the log".split()
    lines = [" ".join(words[i % 5:i % 5 + 6]) for i in range(80)]
    root.mkdir(parents=True)
    for name, part in (("train", lines), ("valid", lines[:20]), ("test", lines[20:40])):
        (root / f"ptb.{name}.txt").write_text("\n".join(part))
    return root


def task_runs(tmp_path):
    yield "reconstruction", ["--model", "reweighted", *RECON]
    yield "language_model", ["--task", "language_model", "--data", _ptb(tmp_path / "ptb"),
                             "--model", "reweighted", "--hidden-size", "8", "--num-layers",
                             "1", "--set", "embedding_size=8", "--set", "bptt=5",
                             "--batch-size", "4", "--quiet"]
    if TEST_SET.exists():
        yield "classification", ["--task", "classification", "--data",
                                 tiny_test_set(tmp_path / "speech"), "--model", "reweighted",
                                 "--hidden-size", "8", "--num-layers", "1", "--quiet"]
    else:
        print(f"classification skipped: no Speech Commands copy at {WHERE}")


def test_every_command_works_on_every_task_or_says_it_does_not(tmp_path):
    for task, args in task_runs(tmp_path):
        run = tmp_path / task
        done = unfoldrnn("train", *args, "--epochs", "1", "--out", run)
        assert done.returncode == 0, (task, done.stderr[-2000:])
        evaluated = unfoldrnn("evaluate", run)
        assert evaluated.returncode == 0, (task, evaluated.stderr[-2000:])
        assert ("tokens" in evaluated.stdout) == (task == "language_model")
        plotted = unfoldrnn("plot", run)
        assert plotted.returncode == 0, (task, plotted.stderr[-2000:])
        assert (run / "plots" / "learning_curves.png").exists()
        assert (run / "plots" / "activations.png").exists()
        certified = unfoldrnn("certify", run, "--pac-bayes", "--prior-epochs", "1",
                              "--posterior-epochs", "1", "--samples", "2")
        if task == "classification":
            assert certified.returncode == 0, certified.stderr[-2000:]
            report = json.loads((run / "pac_bayes.json").read_text())
            assert 0 <= report["certificate_error"] <= 1 and report["n_bound"] > 0
        else:
            refused(certified, "for classifiers")
        bound = unfoldrnn("bound", run)
        if task == "language_model":
            refused(bound, "no bound for a language model")
            assert not (run / "bound.json").exists()
        else:
            assert bound.returncode == 0, (task, bound.stderr[-2000:])
            assert (run / "plots" / "bound_vs_T.png").exists()
            report = json.loads((run / "bound.json").read_text())
            assert report["rademacher"] > 0


def test_a_ranking_is_called_only_where_the_gap_exceeds_the_spread():
    from unfoldrnn.experiments.sweep import ranking

    def cell(model, mean, std, n=3):
        return {"model": model, "mean": mean, "std": std, "n": n}

    cells = [cell("lstm", 78.9, 1.0), cell("gru", 87.4, 0.7), cell("fastgrnn", 80.7, 1.2),
             cell("sista", float("nan"), 0.0, 0)]  # every seed diverged: left out
    assert ranking(cells, True) == "GRU 87.4 > FastGRNN 80.7 ~ LSTM 78.9"  # 1.8 < 2.2
    assert ranking([cell("lstm", 1200.0, 50.0), cell("gru", 1100.0, 20.0)], False) == \
        "GRU 1100 > LSTM 1200"  # perplexity: lower first
    assert ranking([cell("lstm", 1200.0, 50.0), cell("gru", 1130.0, 20.0)], False) == \
        "GRU 1130 ~ LSTM 1200"  # 70 = 50 + 20: not more than the spread


def test_the_seed_helpers_of_the_special_tables():
    from unfoldrnn.experiments.seeds import mean_std, seed_list, seed_summary, seeded

    assert seed_list(None, (0, 1, 2)) == (0, 1, 2) and seed_list(2, (0,)) == (0, 1)
    with pytest.raises(ValueError, match="--seeds"):
        seed_list(0, (0,))
    assert (seeded("gru-3", 0), seeded("gru-3", 2)) == ("gru-3", "gru-3-seed2")
    mean, std, n = mean_std([1.0, 2.0, float("nan"), 6.0, float("inf")])
    assert (mean, n) == (3.0, 3) and std == pytest.approx(statistics.stdev([1.0, 2.0, 6.0]))
    assert mean_std([5.0]) == (5.0, 0.0, 1)
    rows = [{"m": "a", "seed": 0, "x": 1.0}, {"m": "b", "seed": 0, "x": 7.0},
            {"m": "a", "seed": 1, "x": 3.0}]
    assert seed_summary(rows, ("m",), ("x",)) == [
        {"m": "a", "seeds": [0, 1], "x": (2.0, statistics.stdev([1.0, 3.0]), 2)},
        {"m": "b", "seeds": [0], "x": (7.0, 0.0, 1)}]


def test_the_noise_experiment_refuses_one_seed(tmp_path):
    refused(unfoldrnn("reproduce", "paper003-noise", "--data", tmp_path, "--out", tmp_path,
                      "--seeds", "1"), "--seeds >= 2")


@pytest.mark.parametrize("extra", [["--collect"], ["--workers", "2"], ["--values", "1"]])
def test_special_tables_refuse_the_paper_tables_flags_in_one_line(tmp_path, extra):
    refused(unfoldrnn("reproduce", "certified", "--data", tmp_path, "--out", tmp_path, *extra),
            "certified", extra[0])


def test_version_and_help():
    done = unfoldrnn("--version")
    assert done.returncode == 0 and done.stdout.startswith("unfoldrnn ")
    assert "classification or language_model" in " ".join(unfoldrnn("--help").stdout.split())
    helped = unfoldrnn("train", "--help").stdout
    split_help = helped.split("  --split SPLIT")[1].split("  --data")[0]
    assert split_help.count("default") == 1


REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "results" / "certified" / "recipe"


@pytest.mark.skipif(not (REPO.parent / "shared" / "data" / "speech_commands").exists(),
                    reason="the committed runs read ../shared/data beside the repository")
def test_the_committed_certified_runs_reproduce_their_bounds(tmp_path, monkeypatch):
    """README: `unfoldrnn bound results/certified/recipe/seed-K --checkpoint last` works on a
    fresh clone and gives the committed bound.json; several runs give mean +- std."""
    import shutil

    from unfoldrnn.cli import main

    monkeypatch.chdir(REPO)  # the committed configs hold data paths relative to the repo
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"seed-{seed}"
        shutil.copytree(RECIPE / f"seed-{seed}", run)
        runs.append(run)
    assert main(["bound", *map(str, runs), "--checkpoint", "last", "--summary",
                 str(tmp_path / "summary.json")]) == 0
    for seed, run in enumerate(runs):
        committed = json.loads((RECIPE / f"seed-{seed}" / "bound.json").read_text())
        now = json.loads((run / "bound.json").read_text())
        for key in ("rademacher", "least_bound", "least_gamma", "strict_bound",
                    "test_accuracy"):
            assert now[key] == pytest.approx(committed[key], rel=1e-5), key
    summary = json.loads((tmp_path / "summary.json").read_text())
    values = summary["values"]["least_bound"]
    assert summary["mean_std"]["least_bound"] == pytest.approx(
        [statistics.fmean(values), statistics.stdev(values)])


def test_plot_and_bound_on_a_gated_baseline(tmp_path):
    """The MGU has effective_weights() too, but no unfolding bound: plot draws what applies,
    bound refuses in one line, and the TensorBoard figures are none."""
    run = tmp_path / "mgu"
    assert unfoldrnn("train", *RECON, "--model", "mgu", "--epochs", "1", "--out",
                     run).returncode == 0
    plotted = unfoldrnn("plot", run)
    assert plotted.returncode == 0, plotted.stderr[-2000:]
    assert (run / "plots" / "reconstructions.png").exists()
    assert not (run / "plots" / "activations.png").exists()
    refused(unfoldrnn("bound", run), "not an unfolding RNN")
    import torch

    from unfoldrnn.train import load_run

    figures = load_run(run)[1].figures(torch.rand(2, 20, 64), tmp_path)
    assert [p.name for p in figures] == ["reconstructions.png"]  # no activations


def test_a_per_model_setting_reaches_that_models_runs_and_the_table_lists_it(tmp_path):
    args = list(TABLE)
    args[args.index("--models") + 1:args.index("--models") + 2] = ["rnn", "gru"]
    done = unfoldrnn(*args, "--set", "epochs=1", "--set", "gru:lr=0.002", "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lr = {m: json.loads((tmp_path / "table1" / f"{m}-0.2" / "config.json").read_text())["lr"]
          for m in ("rnn", "gru")}
    assert lr == {"rnn": 1e-3, "gru": 0.002}  # the scale's 1e-3 for the other model
    md = (tmp_path / "table1" / "table1.md").read_text()
    assert 'Per model: sRNN {"lr": 0.001}; GRU {"lr": 0.002}.' in md
    assert '"lr"' not in md.split("Setting of every run:")[1].split(";")[0]
    from unfoldrnn.experiments import run_table  # a cell's own settings (as --tuned sets)

    run_table("table1", "cpu", tmp_path, models=["rnn", "gru"], progress=False,
              log=lambda *_: None, values=[0.2, 0.4], overrides={
                  "num_sequences": 40, "split": [24, 8, 8], "hidden_size": 8, "frame_size": 8,
                  "lambda_search_trials": 0, "track_bound": False, "epochs": 1,
                  "gru:lr": 0.002, "gru@0.4:lr": 0.004})
    md = (tmp_path / "table1" / "table1.md").read_text()
    assert 'Per model: sRNN {"lr": 0.001}; GRU (rate = 0.2) {"lr": 0.002}, ' \
           '(rate = 0.4) {"lr": 0.004}.' in md
    bad = unfoldrnn(*args, "--set", "epochs=1", "--set", "grux:lr=0.002", "--out", tmp_path)
    refused(bad, "unknown model 'grux'")
