"""The issues' acceptance commands on real data at real sizes (minutes each): pytest -m slow."""

import json

import pytest

from unfoldrnn.cli import main

from shared_data import DATA, WHERE

SHARED = DATA
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED.exists(), reason=f"no data copy at {WHERE}")]


def test_speech_classifier_learns_well_above_chance(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "classification", "--data",
                 str(SHARED / "speech_commands" / "speech_commands_test_set_v0.02"),
                 "--model", "reweighted", "--num-layers", "1", "--epochs", "3", "--quiet",
                 "--out", str(out)]) == 0
    accuracy = json.loads((out / "metrics.json").read_text())["test"]["accuracy"]
    assert accuracy > 3 / 12  # chance is 1/12


def test_ptb_language_model_falls_far_below_the_vocabulary_size(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "language_model", "--data", str(SHARED / "ptb"),
                 "--model", "reweighted", "--num-layers", "2", "--epochs", "1", "--quiet",
                 "--out", str(out)]) == 0
    perplexity = json.loads((out / "metrics.json").read_text())["test"]["perplexity"]
    assert perplexity < 10_000 / 10
