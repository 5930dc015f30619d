"""Your own data: .npz arrays and folders of wav clips (classification), .npy sequences
(reconstruction), each wrong array refused in one line."""

import json

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from unfoldrnn.cli import main
from unfoldrnn.config import TrainConfig
from unfoldrnn.data import DataError
from unfoldrnn.data.own import (
    audio_features,
    load_audio_folder,
    load_classification_arrays,
    load_sequences,
)
from unfoldrnn.experiments.learnability import time_order
from unfoldrnn.tasks import ClassificationTask
from unfoldrnn.train import load_run


def time_order_task(n: int, seed: int = 0, T: int = 20, features: int = 4):
    """Two classes with the same frames in opposite order (the learnability suite's task):
    a bag of frames (any function of the time average) cannot tell them apart."""
    data = time_order(n, seed, T, features)
    return data["x"], data["y"]


def write_tones(root, per_class=12, rates=(16000, 22050)):
    """class_name/*.wav: 300 Hz and 2 kHz tones of 0.5-1.2 s at alternating sample rates."""
    rng = np.random.default_rng(0)
    for name, f in (("low", 300.0), ("high", 2000.0)):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            rate = rates[k % len(rates)]
            t = np.arange(int(rate * rng.uniform(0.5, 1.2))) / rate
            x = 8000 * np.sin(2 * np.pi * f * t) + 300 * rng.standard_normal(len(t))
            wavfile.write(root / name / f"clip{k}.wav", rate, x.astype(np.int16))
    return root


def test_an_npz_task_separable_only_through_time_order_trains_above_90(tmp_path, capsys):
    x, y = time_order_task(600)
    means = x.mean(axis=1)  # the time average carries no class information
    assert np.abs(means[y == 0].mean(0) - means[y == 1].mean(0)).max() < 0.1
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y, class_names=np.array(["up", "down"]))
    code = main(["train", "--task", "classification", "--data", str(tmp_path / "x.npz"),
                 "--model", "reweighted", "--epochs", "6", "--hidden-size", "32",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "no valid split: cut 60 sequences" in err and "no test split: cut 60" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9
    effective = metrics["effective_config"]
    assert effective["num_filters"] == 4 and effective["class_names"] == ["up", "down"]
    assert "class_names" not in json.loads((tmp_path / "run" / "config.json").read_text())
    config, task, _ = load_run(tmp_path / "run")  # rebuilt from the effective config alone
    assert task.class_names == ["up", "down"] and task.mean.shape == (4,)


def test_missing_splits_are_cut_by_a_seeded_permutation(tmp_path):
    x, y = time_order_task(100)
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y, x_test=x[:7], y_test=y[:7])
    a = load_classification_arrays(tmp_path / "x.npz", seed=3).splits
    b = load_classification_arrays(tmp_path / "x.npz", seed=3).splits
    c = load_classification_arrays(tmp_path / "x.npz", seed=4).splits
    assert [len(s[1]) for s in a] == [90, 10, 7]  # the given test split is kept
    assert torch.equal(a[1][0], b[1][0]) and not torch.equal(a[1][0], c[1][0])
    together = torch.cat([a[0][0], a[1][0]])  # train and valid partition x_train
    assert sorted(together.sum((1, 2)).tolist()) == sorted(torch.from_numpy(x).sum((1, 2)).tolist())


@pytest.mark.parametrize("model", ["reweighted", "gru", "lstm"])
def test_lengths_read_each_sequence_at_its_last_valid_step(model):
    torch.manual_seed(0)
    task = ClassificationTask(model, input_size=3, num_classes=4, hidden_size=8, num_layers=2)
    x = torch.randn(5, 9, 3)
    lengths = torch.tensor([9, 1, 4, 7, 2])
    padded = x.clone()
    for i, L in enumerate(lengths):
        padded[i, L:] = 100.0  # whatever follows a sequence's end must not matter
    batch = task(padded, lengths)
    for i, L in enumerate(lengths):
        alone = task(x[i:i + 1, :L])
        assert torch.allclose(batch[i], alone[0], atol=1e-5)


def test_normalisation_ignores_the_padding():
    task = ClassificationTask("gru", input_size=2, num_classes=2, hidden_size=4, num_layers=1)
    x = torch.zeros(2, 4, 2)
    x[0, :2], x[1, :3] = 1.0, 3.0
    x[:, 3] = 1e6
    task.set_normalization(x, torch.tensor([2, 3]))
    assert torch.allclose(task.mean, torch.full((2,), (2 * 1 + 3 * 3) / 5))


def test_variable_length_npz_trains(tmp_path):
    x, y = time_order_task(120, T=12)
    lengths = np.random.default_rng(0).integers(6, 13, len(y))
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y, lengths_train=lengths)
    assert main(["train", "--task", "classification", "--data", str(tmp_path / "x.npz"),
                 "--model", "gru", "--epochs", "1", "--hidden-size", "8", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0


def _bad(tmp_path, **arrays):
    x, y = time_order_task(40)
    values = {"x_train": x, "y_train": y, **arrays}
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in values.items() if v is not None})
    return tmp_path / "bad.npz"


@pytest.mark.parametrize("arrays, message", [
    (dict(x_train=np.zeros((40, 20))), r"x_train must be \[N, T, n\]"),
    (dict(x_train=np.full((40, 20, 4), np.nan)), "x_train contains NaN"),
    (dict(y_train=np.zeros(39)), "y_train must be"),
    (dict(y_train=np.full(40, 0.5)), "y_train must hold integer"),
    (dict(y_train=-np.ones(40, dtype=int)), "y_train has negative labels"),
    (dict(class_names=np.array(["only"])), "class_names has 1 entries"),
    (dict(x_valid=np.zeros((5, 19, 4), np.float32), y_valid=np.zeros(5, int)),
     "x_valid is .* where x_train is"),
    (dict(x_test=np.zeros((5, 20, 4), np.float32)), "only one of x_test and y_test"),
    (dict(y_train=None), "lacks the array y_train"),
    (dict(lengths_train=np.full(40, 21)), "lengths_train must lie in 1..20"),
])
def test_every_wrong_array_is_refused_naming_it(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_classification_arrays(_bad(tmp_path, **arrays))


def test_a_class_with_one_example_is_refused(tmp_path):
    x, y = time_order_task(40)
    y[:] = 0
    y[5] = 1
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y)
    with pytest.raises(DataError, match="1 example"):
        load_classification_arrays(tmp_path / "x.npz")


def test_the_cli_gives_one_line_and_exit_2_for_a_wrong_array(tmp_path, capsys):
    path = _bad(tmp_path, x_train=np.zeros((40, 20)))
    assert main(["train", "--task", "classification", "--data", str(path), "--epochs", "1",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x_train" in err[0]


def test_resampled_clips_match_clips_at_16_khz(tmp_path):
    for name, rate in (("a", 16000), ("b", 44100)):
        t = np.arange(rate) / rate
        wavfile.write(tmp_path / f"{name}.wav", rate,
                      (8000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16))
    a, b = audio_features([tmp_path / "a.wav", tmp_path / "b.wav"])
    assert a.shape == b.shape == (99, 32)
    assert np.argmax(a[50]) == np.argmax(b[50])  # the tone's Mel band
    assert np.abs(a[10:90] - b[10:90]).max() < 0.5  # log energies agree closely


def test_an_audio_folder_is_split_within_each_class_and_trains_and_predicts(tmp_path, capsys):
    root = write_tones(tmp_path / "tones")
    data = load_audio_folder(root, seed=0, progress=False)
    assert data.class_names == ["high", "low"]
    assert [len(s[1]) for s in data.splits] == [20, 2, 2]
    assert all(sorted(s[1].tolist()) == [0] * (len(s[1]) // 2) + [1] * (len(s[1]) // 2)
               for s in data.splits)
    assert main(["train", "--task", "classification", "--data", str(root), "--model", "gru",
                 "--num-layers", "1", "--hidden-size", "16", "--batch-size", "4",
                 "--epochs", "8", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["effective_config"]["class_names"] == ["high", "low"]
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(root / "low" / "clip0.wav"),
                 str(root / "high"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 + 12 and {r["class"] for r in rows} <= {"high", "low"}
    assert all(abs(sum(p for _, p in r["top"]) - 1) < 1e-5 for r in rows)  # 2 classes: all


def test_reconstruction_from_your_own_frames_and_sensing_matrix(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (30, 5, 6, 6)).astype(np.float32)  # n0 = 36, not 16 x 16
    np.save(tmp_path / "frames.npy", frames)
    A = rng.standard_normal((9, 36)).astype(np.float32)
    np.save(tmp_path / "A.npy", A)
    assert main(["train", "--task", "reconstruction", "--data", str(tmp_path / "frames.npy"),
                 "--model", "reweighted", "--hidden-size", "40", "--num-layers", "2",
                 "--epochs", "1", "--set", f"measurement={tmp_path / 'A.npy'}",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    config, task, metrics = load_run(tmp_path / "run")
    assert metrics["effective_config"]["split"] == [24, 3, 3]
    assert config.signal_size == 36 and "A" not in dict(task.named_parameters())
    assert torch.equal(task.A, torch.from_numpy(A))  # the user's A, kept fixed
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "frames.npy"),
                 "--out", str(tmp_path / "pred"), "--json"]) == 0
    out = np.load(tmp_path / "pred" / "frames.reconstructed.npy")
    assert out.shape == frames.shape and (tmp_path / "pred" / "frames.png").exists()
    expected = task(torch.from_numpy(frames.reshape(30, 5, 36))).clamp(0, 1)
    assert np.allclose(out.reshape(30, 5, 36), expected.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 4)), r"must be \[N, T, H, W\]"),
    (np.full((3, 4, 5), 2.0), r"scale them to \[0, 1\]"),
    (np.full((3, 4, 5), np.nan), "NaN"),
])
def test_wrong_sequences_are_refused(tmp_path, array, message):
    np.save(tmp_path / "s.npy", array)
    with pytest.raises(DataError, match=message):
        load_sequences(tmp_path / "s.npy")


def test_own_data_keys_the_data_decides_are_refused():
    with pytest.raises(ValueError, match="frame_size does not apply"):
        TrainConfig.from_dict({"task": "reconstruction", "data": "x.npy", "frame_size": 8})
