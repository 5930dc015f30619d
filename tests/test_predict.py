"""unfoldrnn predict on the three tasks, its wrong inputs, and the shipped models."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_language_model import tiny_corpus  # noqa: F401  (a fixture)
from test_own_data import time_order_task

from unfoldrnn.cli import main
from unfoldrnn.predict import next_words
from unfoldrnn.pretrained import PRETRAINED, folder_of, pretrained
from unfoldrnn.train import build_data

from shared_data import DATA, WHERE

SPEECH = DATA / "speech_commands" / "speech_commands_test_set_v0.02"


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("npz")
    x, y = time_order_task(200)
    np.savez(root / "x.npz", x_train=x, y_train=y, class_names=np.array(["up", "down"]))
    assert main(["train", "--task", "classification", "--data", str(root / "x.npz"),
                 "--model", "gru", "--hidden-size", "8", "--num-layers", "1", "--epochs", "2",
                 "--out", str(root / "run"), "--quiet"]) == 0
    return root


def test_predict_features_gives_class_probability_and_top(npz_run, capsys):
    x, _ = time_order_task(5, seed=1)
    np.save(npz_run / "new.npy", x)
    capsys.readouterr()
    assert main(["predict", str(npz_run / "run"), str(npz_run / "new.npy"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == [f"new.npy[{i}]" for i in range(5)]
    for r in rows:
        assert r["class"] == r["top"][0][0] and r["probability"] == r["top"][0][1]
        assert r["class"] in ("up", "down")
    assert main(["predict", str(npz_run / "run"), str(npz_run / "new.npy")]) == 0
    assert "input" in capsys.readouterr().out  # the table


@pytest.mark.parametrize("make, message", [
    (lambda d: np.save(d / "bad.npy", np.zeros((2, 20, 5), np.float32)), r"\[N, T, 4\]"),
    (lambda d: None, "input not found"),
    (lambda d: (d / "bad.wav").write_bytes(b"RIFF0000"), "trained on feature arrays"),
])
def test_wrong_inputs_exit_2_with_one_line(npz_run, capsys, make, message):
    make(npz_run)
    name = "bad.wav" if "arrays" in message else "bad.npy" if "N, T" in message else "none.npy"
    capsys.readouterr()
    assert main(["predict", str(npz_run / "run"), str(npz_run / name)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0])


def test_language_model_predicts_the_next_words(tmp_path, tiny_corpus, capsys):  # noqa: F811
    assert main(["train", "--task", "language_model", "--data", str(tiny_corpus), "--model",
                 "gru", "--epochs", "3", "--hidden-size", "16", "--set", "embedding_size=8",
                 "--set", "bptt=6", "--out", str(tmp_path / "lm"), "--quiet"]) == 0
    words = (tmp_path / "lm" / "vocabulary.txt").read_text().splitlines()
    assert set("the cat sat on mat".split()) <= set(words)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "lm"), "the", "cat", "--words", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prompt"] == ["the", "cat"] and len(out["next"]) == 4
    assert set(out["next"]) <= set(words)
    assert main(["predict", str(tmp_path / "lm"), "the", "zebra"]) == 2
    assert "zebra" in capsys.readouterr().err


def test_greedy_next_word_is_the_most_likely_one():
    class Fixed(torch.nn.Module):  # p(next) depends on the last word only: w -> w + 1
        bptt = 4

        def forward(self, window):
            return torch.nn.functional.one_hot((window + 1) % 5, 5).float() * 10, None

        def log_probs(self, codes):
            return codes.log_softmax(-1)

    words = ["a", "b", "c", "d", "e"]
    assert next_words(Fixed(), words, ["a"], 6) == ["b", "c", "d", "e", "a", "b"]
    drawn = next_words(Fixed(), words, ["a"], 6, sample=True, temperature=100.0, seed=1)
    assert len(drawn) == 6 and drawn != ["b", "c", "d", "e", "a", "b"]  # near uniform draws


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_each_shipped_model_is_small_and_loads(name):
    folder = folder_of(name)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 1_000_000
    task = pretrained(name)
    assert not task.training and task.metrics["shipped_test"]


def _reproduces(name, data=None):
    task = pretrained(name)
    if data is not None:
        task.config.data = str(data)  # wherever the data copy lives
    test = build_data(task.config, progress=False)[2]
    got, want = task.evaluate(test), task.metrics["shipped_test"]
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-4), key


def test_the_shipped_demo_model_reproduces_its_test_psnr():
    _reproduces("demo-reweighted")


@pytest.mark.skipif(not SPEECH.exists(), reason=f"no Speech Commands copy at {WHERE}")
@pytest.mark.parametrize("name", ["speech-certified", "speech-gru"])
def test_the_shipped_speech_models_reproduce_their_test_accuracy(name):
    _reproduces(name, SPEECH)


@pytest.mark.skipif(not SPEECH.exists(), reason=f"no Speech Commands copy at {WHERE}")
def test_predict_a_shipped_model_from_the_command_line(tmp_path):
    clip = sorted((SPEECH / "yes").iterdir())[0]
    done = subprocess.run([sys.executable, "-m", "unfoldrnn.cli", "predict", "speech-certified",
                           str(clip), "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)[0]
    assert row["class"] == "yes" and len(row["top"]) == 3


def test_the_shipped_demo_model_reconstructs_new_sequences(tmp_path, capsys):
    from unfoldrnn.data import moving_mnist

    frames = moving_mnist(4, seed=123, frame_size=16).numpy()  # [4, 20, 16, 16], unseen
    np.save(tmp_path / "new.npy", frames)
    capsys.readouterr()
    assert main(["predict", "demo-reweighted", str(tmp_path / "new.npy"), "--out",
                 str(tmp_path / "pred"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)[0]
    assert np.load(report["output"]).shape == frames.shape
    assert report["psnr"] > 28  # the shipped model's 33.4 dB test PSNR, on other sequences
    np.save(tmp_path / "wrong.npy", frames[:, :, :8])
    assert main(["predict", "demo-reweighted", str(tmp_path / "wrong.npy"), "--out",
                 str(tmp_path / "none")]) == 2
    assert "H W = 256" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # refused before anything is written
