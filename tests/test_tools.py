"""The diagnostics under tools/ that results/ quote: the sign step and the singular-value
projection of tools/sharpness.py, the equal-time budget of tools/learnability_equal_time.py."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Quadratic(nn.Module):
    """A task with a loss whose value after a step is known: sum((w - 1)^2)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0, 2.0, 1.5]))
        self.v = nn.Parameter(torch.tensor([3.0]))

    def training_loss(self, batch):
        return (self.w - 1).pow(2).sum() + self.v.pow(2).sum(), {}, 1


def test_sign_steps_move_one_tensor_by_eta_and_put_it_back():
    sharpness = tool("sharpness")
    task = Quadratic()
    rows, before = sharpness.sign_steps(task, None, [0.5, 1.0])
    assert before == pytest.approx(1 + 1 + 0.25 + 9)
    name, shape, norm, after = rows[0]
    assert name == "w" and shape == (3,)
    assert norm == pytest.approx(torch.tensor([-2.0, 2.0, 1.0]).norm().item())
    # w - eta sign(grad) = (eta, 2 - eta, 1.5 - eta); v untouched (its 9)
    assert after[0] == pytest.approx(0.25 + 0.25 + 0.0 + 9)
    assert after[1] == pytest.approx(0 + 0 + 0.25 + 9)
    assert rows[1][3][1] == pytest.approx(2.25 + 4)  # v = 3 - 1
    assert torch.equal(task.w.detach(), torch.tensor([0.0, 2.0, 1.5]))  # restored


def test_clip_singular_values_caps_the_large_ones_and_keeps_the_rest():
    sharpness = tool("sharpness")
    gen = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))
    W = U @ torch.diag(torch.tensor([3.0, 1.5, 0.7, 0.2], dtype=torch.float64)) @ V.T
    stack = torch.stack([W, W.T])
    sharpness.clip_singular_values([stack], 1.0)
    for clipped, (left, right) in zip(stack, ((U, V), (V, U)), strict=True):
        expected = left @ torch.diag(torch.tensor([1.0, 1.0, 0.7, 0.2],
                                                  dtype=torch.float64)) @ right.T
        assert torch.allclose(clipped, expected, atol=1e-12)


def test_the_equal_time_budget_is_the_epochs_in_grus_time(tmp_path, monkeypatch):
    equal_time = tool("learnability_equal_time")
    monkeypatch.setattr(equal_time, "SUITE", {"task": (30, 1)})
    per_epoch = {"gru": [7.5, 7.7, 7.9], "fast": [2.6, 2.7, 2.8], "slow": [9.0, 9.0, 9.0]}
    for model, seconds in per_epoch.items():
        for seed, s in enumerate(seconds):
            run = tmp_path / "task" / (f"{model}-seed{seed}" if seed else model)
            run.mkdir(parents=True)
            (run / "metrics.json").write_text(json.dumps(
                {"train_seconds": 30 * s, "epochs": [{}] * 30}))
    assert equal_time.budget(tmp_path, "task", "fast") == round(30 * 7.7 / 2.7) == 86
    assert equal_time.budget(tmp_path, "task", "slow") == 30  # never fewer than the table's



def test_speaker_folds_pool_every_folds_own_test_clips(tmp_path, capsys):
    """tools/speaker_folds.py: per fold, each model's accuracy on that fold's test clips;
    pooled, every clip counted once under its own fold's model; a fold where a model's run
    diverged or is missing is named and left out."""
    from unfoldrnn.data import find_clips

    from speech import TEST_SET, tiny_test_set

    if not TEST_SET.exists():
        pytest.skip("no Speech Commands copy")
    speaker_folds = tool("speaker_folds")
    data = tmp_path / "data"
    root = tiny_test_set(data / speaker_folds.SPEECH, per_split=(12, 1, 1))
    table, folds = tmp_path / "table", tmp_path / "folds"
    right, clips, rows = dict.fromkeys(speaker_folds.MODELS, 0), 0, {}
    for fold in range(10):
        test = [f for f, _, s in find_clips(root, fold=fold) if s == "test"]
        for k, model in enumerate(speaker_folds.MODELS):
            if fold == 5 and model == "l1l1":
                continue  # still training: no test outcomes
            outcomes = "".join("1" if (i + fold) % (k + 2) else "0" for i in range(len(test)))
            run = speaker_folds.run_folder(table, folds, model, fold)
            run.mkdir(parents=True)
            metrics = {"test_outcomes": outcomes,
                       "config": {"num_layers": 1, "epochs": 30, "seed": 0}}
            if fold == 7 and model == "reweighted":
                metrics = {"diverged": "the loss is 1e4", "test": {"accuracy": math.nan}}
            (run / "metrics.json").write_text(json.dumps(metrics))
            if fold not in (5, 7):
                right[model] += outcomes.count("1")
                rows.setdefault(fold, []).append(f"{100 * outcomes.count('1') / len(test):.1f}")
        clips += len(test) if fold not in (5, 7) else 0
    with pytest.raises(SystemExit, match="the reference's fold-0 run"):
        speaker_folds.main(str(folds), str(data), str(table), suffix="-3")
    speaker_folds.main(str(folds), str(data), str(table))
    out = capsys.readouterr().out
    assert out.startswith(f"Google-12, d = 1, 30 epochs, the settings of {table} (seed 0)")
    assert "8 folds; left out: fold 5 (l1l1 no run); 7 (reweighted diverged)" in out
    for fold, cells in rows.items():
        assert [c.strip() for c in out.split(f"\n| {fold} | ")[1].split("|")[2:5]] == cells
    for model in speaker_folds.MODELS:
        assert f"* {model}: {100 * right[model] / clips:.1f} [" in out
