import json
import subprocess
import sys

import pytest

from unfoldrnn.cli import main

TINY = ["--num-sequences", "40", "--set", "split=[24,8,8]", "--hidden-size", "16",
        "--num-layers", "2", "--epochs", "2", "--set", "frame_size=8", "--quiet"]


def test_help_reads_like_a_manual():
    out = subprocess.run([sys.executable, "-m", "unfoldrnn", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("train", "evaluate", "plot", "bound", "reproduce", "demo"):
        assert command in out


@pytest.mark.parametrize("args, message", [
    (["--model", "transformer"], "unknown model"),
    (["--rate", "1.5"], "rate must lie in"),
    (["--rate", "0"], "rate must lie in"),
    (["--set", "learning_rate=0.1"], "unknown config key"),
    (["--data", "/nonexistent/folder"], "neither"),
    (["--config", "/nonexistent.toml"], "not found"),
])
def test_train_errors_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", *TINY, *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_corrupt_data_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "mnist"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"nor this")
    assert main(["train", *TINY, "--data", str(bad), "--out", str(tmp_path / "run")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_train_evaluate_plot_bound_and_refuse_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text('model = "reweighted"\nlr = 0.003\n')
    assert main(["train", "--config", str(config), *TINY, "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["lr"] == 0.003 and saved["split"] == [24, 8, 8]
    before = (run / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", *TINY, "--lr", "0.1", "--out", str(run)]) == 2
    assert "another run" in capsys.readouterr().err
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "evaluation.json").read_text())["test"]["psnr"] > 0
    assert main(["plot", str(run)]) == 0
    for name in ("learning_curves", "reconstructions", "activations", "bound_vs_T"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000
    assert main(["bound", str(run)]) == 0
    report = json.loads((run / "bound.json").read_text())
    assert report["rademacher"] > 0 and len(report["alphas"]) == 2
    out = capsys.readouterr().out
    assert "Thm 3.3" in out
    assert "vacuous" in out and report["gap"] > report["eta"]  # said when the bound says nothing
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2


def test_reproduce_writes_the_table_with_the_papers_numbers(tmp_path, monkeypatch):
    from unfoldrnn.experiments import sweep

    monkeypatch.setitem(sweep.SCALES["cpu"], "reconstruction", {
        "num_sequences": 40, "split": (24, 8, 8), "hidden_size": 16, "epochs": 1,
        "frame_size": 8})
    monkeypatch.setattr(sweep, "sweep_values", lambda table, scale: (0.2, 0.5))
    args = ["reproduce", "table1", "--models", "rnn", "reweighted", "--out", str(tmp_path),
            "--quiet"]
    assert main(args) == 0
    table = (tmp_path / "table1" / "table1.md").read_text()
    assert "(34.19)" in table and "(31.14)" in table and "(48.70)" in table  # paper 001
    rows = (tmp_path / "table1" / "table1.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("model,rate,seed,psnr,paper_psnr")
    before = (tmp_path / "table1" / "reweighted-0.5" / "metrics.json").read_text()
    assert main(args) == 0  # finished runs are reused, not retrained
    assert (tmp_path / "table1" / "reweighted-0.5" / "metrics.json").read_text() == before


def test_demo_reports_the_winner_and_reruns_continue(tmp_path, monkeypatch, capsys):
    from unfoldrnn.cli import demo as cli

    monkeypatch.setattr(cli, "DEMO", {"num_sequences": 40, "split": (24, 8, 8),
                                      "hidden_size": 16, "num_layers": 2, "frame_size": 8,
                                      "rate": 0.2, "lambda_search_trials": 0})
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "wins by" in report and "PSNR is the peak signal-to-noise ratio" in report
    assert "![comparison](comparison.png)" in report
    assert (out / "comparison.png").stat().st_size > 5000
    for name in ("learning_curves", "reconstructions"):
        assert (out / "rnn" / "plots" / f"{name}.png").exists()
    assert (out / "reweighted" / "plots" / "activations.png").exists()
    before = (out / "rnn" / "metrics.json").read_text()
    assert main(["demo", "--out", str(out), "--epochs", "2", "--quiet"]) == 0  # reused
    assert (out / "rnn" / "metrics.json").read_text() == before
