"""reproduce certificates: cells resumable from their cache, the table's mean and std those of
its runs (on a synthetic .npz, tiny settings)."""

import json
import statistics

import numpy as np
import pytest
from test_own_data import time_order_task

import unfoldrnn.experiments.certificates as certificates


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(certificates.GATED, "epochs", 2)
    monkeypatch.setitem(certificates.GATED, "hidden_size", 8)
    monkeypatch.setattr(certificates, "RECIPE", {**certificates.RECIPE, "epochs": 2,
                                                 "hidden_size": 8})
    monkeypatch.setitem(certificates.learnability.SUITE, "google12", (2, 1))
    monkeypatch.setattr(certificates, "PAC_BAYES", {
        kind: {**s, "prior_epochs": 1} for kind, s in certificates.PAC_BAYES.items()})
    monkeypatch.setattr(certificates, "COMMON", {**certificates.COMMON, "samples": 5,
                                                 "posterior_epochs": 1})
    x, y = time_order_task(200)
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y)
    return tmp_path / "x.npz"


def test_the_table_gives_every_seed_and_a_rerun_reuses_them(tiny, tmp_path):
    out = tmp_path / "out"
    rows = certificates.run_certificates(tiny, out, models=("gru", "reweighted"), seeds=(0, 1),
                                         log=lambda *_: None)
    saved = json.loads((out / "certificates" / "certificates.json").read_text())
    md = (out / "certificates" / "certificates.md").read_text()
    summary = saved["summary"]["speech"]  # an .npz is the speech part's data
    for model in ("gru", "reweighted"):
        mine = [r["pac_bayes"]["certificate_error"] for r in rows if r["model"] == model]
        assert summary[model]["certificate"] == pytest.approx(
            [statistics.fmean(mine), statistics.stdev(mine)])
        assert summary[model]["n"] == 2
        assert all(r["pac_bayes"]["seed"] == 100 + r["seed"] for r in rows)  # fresh seeds
    recipe = saved["certified_recipe"]  # eq. 18 on the certified recipe's runs
    assert [r["seed"] for r in recipe] == [0, 1]
    assert all(r["eq18_strict"] >= r["eq18_paper"] for r in recipe)  # strict never below
    assert (out / "learnability" / "google12" / "reweighted-seed1" / "certificate.json").exists()
    assert "certified recipe" in md
    assert (out / "certificates" / "certificates.png").exists()
    gru = [r for r in rows if r["model"] == "gru"]
    assert f"| GRU | {gru[0]['test_error']:.3f} / {gru[1]['test_error']:.3f} |" in md
    assert "mean" not in md.split("| model |")[1]  # per seed, no certificate from a mean
    for r in rows:  # every choice paid: 3 sigmas x the earlier choices divide delta
        assert r["pac_bayes"]["delta"] == pytest.approx(
            0.025 / (3 * certificates.EARLIER_CHOICES["speech"]))
        assert r["run_test_bound"] > r["test_error"]
    cache = out / "certificates" / "gru-seed0" / "certificate.json"
    stamp = cache.stat().st_mtime_ns
    again = certificates.run_certificates(tiny, out, models=("gru",), seeds=(0,),
                                          log=lambda *_: None)
    assert cache.stat().st_mtime_ns == stamp and again[0] == rows[0]


def test_a_committed_cell_verifies_from_its_files(tiny, tmp_path, capsys):
    from unfoldrnn.cli import main

    out = tmp_path / "out"
    certificates.run_certificates(tiny, out, models=("gru",), seeds=(0,), log=lambda *_: None)
    assert main(["certify", str(out / "certificates" / "gru-seed0"), "--pac-bayes",
                 "--verify"]) == 0
    assert "verifies" in capsys.readouterr().out


def test_the_speech_prior_trains_as_many_steps_as_the_run():
    """prior_epochs "steps": the run's epochs over the prior's share of the split; a choice
    made after earlier certificates were seen, so it is counted in the union."""
    settings = certificates.pac_bayes_settings("speech", 1, 20)
    assert settings["prior_epochs"] == round(20 / certificates.PRIOR_FRACTION) == 40
    assert settings["seed"] == 101 and settings["grid"] == 48
    assert certificates.pac_bayes_settings("seq-mnist", 0, 10)["prior_epochs"] is None
