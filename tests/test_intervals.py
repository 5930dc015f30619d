"""Intervals over seeds and the test set's groups (experiments/intervals.py), against
special cases with known answers."""

import math

import numpy as np
import pytest

from unfoldrnn.experiments.intervals import (
    accuracy_interval,
    difference_interval,
    interval_lines,
    late_best,
)


def test_one_seed_and_single_clip_groups_give_the_binomial_interval():
    rng = np.random.default_rng(0)
    p, n = 0.8, 2000
    outcomes = (rng.random(n) < p).astype(float)[None]
    result = accuracy_interval(outcomes, list(range(n)))
    half = 1.96 * math.sqrt(p * (1 - p) / n)  # the normal approximation
    assert result["mean"] == pytest.approx(outcomes.mean())
    assert (result["high"] - result["low"]) / 2 == pytest.approx(half, rel=0.12)


def test_groups_are_the_sample_not_clips():
    """50 speakers of 20 clips each, every speaker all right or all wrong: the interval is a
    binomial one over 50 units, about sqrt(20) wider than over 1,000 independent clips."""
    rng = np.random.default_rng(1)
    speaker_right = rng.random(50) < 0.7
    outcomes = np.repeat(speaker_right, 20).astype(float)[None]
    groups = np.repeat(np.arange(50), 20)
    grouped = accuracy_interval(outcomes, groups)
    p = speaker_right.mean()
    half = 1.96 * math.sqrt(p * (1 - p) / 50)
    assert (grouped["high"] - grouped["low"]) / 2 == pytest.approx(half, rel=0.2)
    clips = accuracy_interval(outcomes, np.arange(1000))
    assert (grouped["high"] - grouped["low"]) > 3 * (clips["high"] - clips["low"])
    assert grouped["groups"] == 50


def test_seeds_are_resampled_too():
    """Two seeds at 20% and 80% on one clip set: a quarter of the replicates draw the bad
    seed twice, a quarter the good one twice, so the interval reaches both."""
    n = 400
    low = np.r_[np.ones(80), np.zeros(320)]
    high = np.r_[np.ones(320), np.zeros(80)]
    result = accuracy_interval(np.stack([low, high]), np.arange(n))
    assert result["mean"] == pytest.approx(0.5)
    assert result["low"] < 0.3 and result["high"] > 0.7


def test_paired_difference():
    rng = np.random.default_rng(2)
    a = (rng.random((3, 500)) < 0.7).astype(float)
    groups = np.repeat(np.arange(100), 5)
    same = difference_interval(a, a.copy(), groups)
    assert same["mean"] == 0 and not same["called"]
    better = difference_interval(np.ones((3, 500)), a, groups)
    assert better["called"] and better["low"] > 0
    assert better["mean"] == pytest.approx(1 - a.mean())
    with pytest.raises(ValueError, match="groups"):
        accuracy_interval(a, groups[:-1])


def test_table_lines_and_late_best():
    runs = {(3, "gru"): [{"test_outcomes": "1" * 90 + "0" * 10}] * 2,
            (3, "rnn"): [{"test_outcomes": "1" * 30 + "0" * 70}] * 2}
    lines = interval_lines(runs, None, {"gru": "GRU", "rnn": "sRNN"}, "num_layers")
    text = "\n".join(lines)
    assert "GRU 90.0" in text and "GRU > sRNN" in text and "test examples" in text
    assert "No per-example" in interval_lines({(3, "gru"): [{}]}, None, {}, "d")[0]
    assert late_best({"epochs": [{}] * 30, "best_epoch": 28})
    assert not late_best({"epochs": [{}] * 30, "best_epoch": 27})


def test_a_paper_table_of_classifiers_carries_intervals_and_convergence(tmp_path):
    from unfoldrnn.cli import main

    from shared_data import DATA, WHERE

    speech = DATA / "speech_commands" / "speech_commands_test_set_v0.02"
    if not speech.is_dir():
        pytest.skip(f"needs the Google-12 test set under {WHERE}")
    assert main(["reproduce", "paper000-table1", "--data", str(speech),
                 "--out", str(tmp_path / "out"), "--models", "gru", "reweighted",
                 "--values", "1", "--seeds", "2", "--set", "epochs=2",
                 "--set", "hidden_size=8", "--quiet"]) == 0
    md = (tmp_path / "out" / "paper000-table1" / "paper000-table1.md").read_text()
    assert "two-stage bootstrap over the seeds and the test speakers" in md
    assert "* num_layers = 1: " in md and "neighbours: " in md
    assert "best epoch in the last 10% of the schedule" in md or \
        "Every run's best epoch lies before" in md
    assert "initialised as this library's defaults" in md
