"""Issue 28's first-week defects, each with the test that failed before its fix."""

import json

import numpy as np
import pytest
from scipy.io import wavfile

from unfoldrnn.cli import main
from unfoldrnn.tasks import ClassificationTask


def write_arrays(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.standard_normal((n, 5, 3)).astype(np.float32),
             y_train=rng.integers(0, 2, n))
    return str(path)


def trained_gru(tmp_path, name: str) -> str:
    """A one-epoch GRU run tmp_path/name on write_arrays' data; returns the data's path."""
    data = write_arrays(tmp_path / "x.npz")
    assert main(["train", "--task", "classification", "--data", data, "--model", "gru",
                 "--epochs", "1", "--hidden-size", "8", "--out", str(tmp_path / name),
                 "--quiet"]) == 0
    return data


def test_ties_in_validation_accuracy_go_to_the_lower_validation_loss(tmp_path, monkeypatch):
    scripted = iter([(0.5, 1.0), (0.8, 0.5), (0.8, 0.2), (0.8, 0.3)])  # (accuracy, loss)
    original = ClassificationTask.evaluate

    def evaluate(self, split, batch_size=512):
        if len(split[1]) == 6 and (step := next(scripted, None)) is not None:  # validation
            return {"accuracy": step[0], "loss": step[1]}
        return original(self, split, batch_size)

    monkeypatch.setattr(ClassificationTask, "evaluate", evaluate)
    data = write_arrays(tmp_path / "x.npz")  # 60 sequences: 6 cut for validation
    assert main(["train", "--task", "classification", "--data", data, "--model", "gru",
                 "--epochs", "4", "--hidden-size", "8", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 3  # not epoch 2, the first at 0.8
    assert len(metrics["test_outcomes"]) == 6 and set(metrics["test_outcomes"]) <= {"0", "1"}


def test_predict_top_is_checked_first_and_capped_at_the_classes(tmp_path, capsys):
    t = np.arange(16000) / 16000
    wavfile.write(tmp_path / "tone.wav", 16000, (8000 * np.sin(2 * np.pi * 440 * t))
                  .astype(np.int16))
    assert main(["predict", "speech-gru", str(tmp_path / "tone.wav"), "--top", "0"]) == 2
    assert "--top must be at least 1" in capsys.readouterr().err
    assert main(["predict", "speech-gru", str(tmp_path / "tone.wav"), "--top", "99"]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert header.endswith("top 12") and header.index("probability") == \
        row.index(row.split()[2]) + len(row.split()[2]) - len("probability")


def test_reproduce_refuses_zero_seeds(tmp_path, capsys):
    assert main(["reproduce", "paper001-table1", "--out", str(tmp_path), "--seeds", "0"]) == 2
    assert "--seeds must be a positive integer, got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_plain_rerun_of_the_same_command_continues_the_run(tmp_path, capsys):
    from unfoldrnn.config import TrainConfig
    from unfoldrnn.train import fit

    data = write_arrays(tmp_path / "x.npz")
    argv = ["train", "--task", "classification", "--data", data, "--model", "l1l1",
            "--epochs", "2", "--hidden-size", "8", "--out", str(tmp_path / "run")]
    config = TrainConfig(task="classification", data=data, model="l1l1", epochs=2,
                         hidden_size=8)
    fit(config, tmp_path / "run", progress=False, log=lambda *_: None, stop_after=1)
    assert main(argv) == 0  # no --resume
    out = capsys.readouterr().out
    assert "resuming" in out and "at epoch 2" in out
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]) == 2
    assert main(argv) == 0
    assert "is finished (2 epochs): nothing to train" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--delta", "2"], "--delta must lie in (0, 1), got 2.0"),
    (["--delta", "0.5", "--delta-prime", "0.6"], "--delta + --delta-prime must be below 1"),
    (["--samples", "0"], "--samples must be a positive integer"),
    (["--sigma-prior", "-1"], "--sigma-prior must be positive"),
])
def test_certify_checks_its_arguments_before_any_work(tmp_path, capsys, flags, message):
    """Refused in one line at once, before the run folder is even read (it does not exist)."""
    assert main(["certify", str(tmp_path / "no-run"), "--pac-bayes", *flags]) == 2
    assert message in capsys.readouterr().err


def test_split_takes_one_syntax_in_both_places():
    from unfoldrnn.cli import config_from_args, make_parser

    for argv in (["--set", "split=160,20,20"], ["--set", "split=[160,20,20]"],
                 ["--split", "160,20,20"]):
        args = make_parser().parse_args(["train", "--set", "num_sequences=200", *argv,
                                         "--out", "x"])
        assert config_from_args(args).split == (160, 20, 20)


def test_a_corrupt_metrics_file_and_an_unknown_run_are_named(tmp_path, capsys):
    data = write_arrays(tmp_path / "x.npz")
    run = tmp_path / "run"
    assert main(["train", "--task", "classification", "--data", data, "--model", "gru",
                 "--epochs", "1", "--hidden-size", "8", "--out", str(run), "--quiet"]) == 0
    (run / "metrics.json").write_text("{not json")
    assert main(["evaluate", str(run)]) == 2
    assert f"{run / 'metrics.json'} is corrupt" in capsys.readouterr().err
    assert main(["predict", "speech-grue", data]) == 2
    assert "neither a run folder nor a shipped model (shipped: demo-reweighted" in \
        capsys.readouterr().err


def test_predict_refuses_frames_outside_0_1_as_training_does(tmp_path, capsys):
    from unfoldrnn.data import moving_mnist

    frames = moving_mnist(2, seed=5, frame_size=16).numpy()
    np.save(tmp_path / "bright.npy", frames * 255.0)  # 0..255 floats: not frames in [0, 1]
    assert main(["predict", "demo-reweighted", str(tmp_path / "bright.npy"), "--out",
                 str(tmp_path / "none")]) == 2
    assert "must lie in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_shipped_model_names_work_in_evaluate_and_plot(tmp_path, monkeypatch, capsys):
    """Read from the package, written into ./NAME/ (the package folder is left alone)."""
    from unfoldrnn.pretrained import folder_of

    config = json.loads((folder_of("speech-gru") / "config.json").read_text())
    if not __import__("pathlib").Path(config["data"]).is_dir():
        pytest.skip(f"speech-gru's data folder {config['data']} is not on this machine")
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in folder_of("speech-gru").iterdir())
    assert main(["evaluate", "speech-gru", "--quiet"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "speech-gru" / "evaluation.json").read_text())["test"]
    assert main(["plot", "speech-gru"]) == 0
    assert (tmp_path / "speech-gru" / "plots" / "confusion.png").exists()
    assert sorted(p.name for p in folder_of("speech-gru").iterdir()) == before
    assert main(["evaluate", "speech-grue"]) == 2
    assert "shipped: demo-reweighted" in capsys.readouterr().err


def test_audio_edge_cases_are_said(tmp_path, capsys):
    from unfoldrnn.data.own import audio_features, load_audio_folder

    t = np.arange(16000 * 10) / 16000
    wavfile.write(tmp_path / "long.wav", 16000, (8000 * np.sin(2 * np.pi * 300 * t))
                  .astype(np.int16))
    wavfile.write(tmp_path / "low.wav", 100, (8000 * np.ones(100)).astype(np.int16))
    wavfile.write(tmp_path / "silent.wav", 16000, np.zeros(16000, np.int16))
    audio_features([tmp_path / n for n in ("long.wav", "low.wav", "silent.wav")])
    err = capsys.readouterr().err
    assert "1 clip(s) longer than 1 s: cut to their first second (e.g. long.wav: 10 s)" in err
    assert "sampled below 8000 Hz" in err and "low.wav: 100 Hz" in err
    assert "digitally silent" in err and "silent.wav" in err
    for name in ("a", "b"):
        (tmp_path / "clips" / name).mkdir(parents=True)
        for k in range(4):
            wavfile.write(tmp_path / "clips" / name / f"{k}.wav", 16000,
                          (3000 * np.sin(2 * np.pi * (200 + 300 * (name == "b")) * t[:16000]
                                         + k)).astype(np.int16))
    load_audio_folder(tmp_path / "clips", progress=False)
    err = capsys.readouterr().err
    assert "2 classes; split within each class into 4 training, 2 validation and 2 test " \
        "clips" in err and "a test split this small measures little" in err


def test_confusion_headers_keep_whole_names_and_bars_stay_off_in_pipes(monkeypatch):
    import sys

    import torch

    from unfoldrnn.cli.run import confusion_text
    from unfoldrnn.progress import bars_off

    text = confusion_text(torch.tensor([[3, 1], [0, 12345]]), ["silence", "unknown_words"])
    header, first, second = text.splitlines()[1:]
    assert "silence" in header and "unknown_words" in header
    assert len(header) == len(first) == len(second)  # aligned columns
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert bars_off(True) and bars_off(False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not bars_off(True) and bars_off(False)


def test_a_table_plot_with_one_value_keeps_its_points_off_the_edges(tmp_path, monkeypatch):
    from unfoldrnn import plots

    seen = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: seen.append(fig.axes[0].get_xlim()))
    cells = [{"model": m, "num_layers": 3, "n": 3, "mean": v, "std": 1.0,
              "paper_accuracy": None} for m, v in (("gru", 88.0), ("rnn", 30.0))]
    plots.paper_table(cells, "num_layers", "accuracy", tmp_path / "t.png", "t")
    low, high = seen[0]
    assert low < -0.2 and high > 0.2  # the points, within 0.15 of x = 0, sit inside


def test_misleading_messages_now_name_the_problem(tmp_path, capsys):
    np.save(tmp_path / "obj.npy", np.zeros((4, 5, 3)))
    (tmp_path / "text.npz").write_text("not an archive\n")
    common = ["train", "--task", "classification", "--model", "gru", "--out",
              str(tmp_path / "run"), "--data"]
    assert main([*common, str(tmp_path / "obj.npy")]) == 2
    assert "classification takes a .npz of arrays" in capsys.readouterr().err
    assert main([*common, str(tmp_path / "text.npz")]) == 2
    err = capsys.readouterr().err
    assert "is not a NumPy .npz archive" in err and "pickle" not in err
    trained_gru(tmp_path, "ok")
    nan = np.full((2, 5, 3), np.nan, dtype=np.float32)
    np.save(tmp_path / "nan.npy", nan)
    assert main(["predict", str(tmp_path / "ok"), str(tmp_path / "nan.npy")]) == 2
    assert "nan.npy contains NaN or infinite values" in capsys.readouterr().err


def test_predict_warns_when_a_npy_looks_padded(tmp_path, capsys):
    trained_gru(tmp_path, "ok")
    x = np.random.default_rng(1).standard_normal((3, 5, 3)).astype(np.float32)
    x[1, 3:] = 0  # one sequence of 3 steps, padded to 5
    np.save(tmp_path / "padded.npy", x)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "ok"), str(tmp_path / "padded.npy")]) == 0
    assert "1 of 3 sequences end in all-zero frames" in capsys.readouterr().err
    np.savez(tmp_path / "with_lengths.npz", x=x, lengths=np.array([5, 3, 5]))
    assert main(["predict", str(tmp_path / "ok"), str(tmp_path / "with_lengths.npz")]) == 0
    assert "all-zero" not in capsys.readouterr().err


def test_evaluate_scores_new_labelled_data(tmp_path, capsys):
    from test_own_data import write_tones

    write_tones(tmp_path / "clips")
    assert main(["train", "--task", "classification", "--data", str(tmp_path / "clips"),
                 "--model", "gru", "--epochs", "3", "--hidden-size", "16", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    write_tones(tmp_path / "new", per_class=4, rates=(16000,))
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "(8 sequences)" in out and "confusion matrix" in out
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert result["data"] == str(tmp_path / "new")
    assert sum(map(sum, result["confusion"])) == 8
    (tmp_path / "new" / "other").mkdir()
    for k in range(3):
        wavfile.write(tmp_path / "new" / "other" / f"{k}.wav", 16000, np.zeros(800, np.int16))
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "new")]) == 2
    assert "class folders the model does not know: other" in capsys.readouterr().err


def test_evaluate_scores_a_labelled_npz(tmp_path, capsys):
    trained_gru(tmp_path, "run")
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "new.npz", x=rng.standard_normal((7, 5, 3)).astype(np.float32),
             y=np.array([0, 1, 0, 1, 1, 0, 0]))
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "new.npz")]) == 0
    assert "(7 sequences)" in capsys.readouterr().out
    np.savez(tmp_path / "bad.npz", x=rng.standard_normal((7, 5, 3)), y=np.full(7, 5))
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "bad.npz")]) == 2
    assert "class indices in 0..1" in capsys.readouterr().err
