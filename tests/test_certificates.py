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
    monkeypatch.setattr(certificates, "PAC_BAYES", {
        kind: {**s, "prior_epochs": 1, "samples": 5} for kind, s in
        certificates.PAC_BAYES.items()})
    x, y = time_order_task(200)
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y)
    return tmp_path / "x.npz"


def test_the_table_is_the_mean_and_std_of_its_cells_and_a_rerun_reuses_them(tiny, tmp_path):
    out = tmp_path / "out"
    rows = certificates.run_certificates(tiny, out, models=("gru", "reweighted"), seeds=(0, 1),
                                         log=lambda *_: None)
    saved = json.loads((out / "certificates" / "certificates.json").read_text())
    for model in ("gru", "reweighted"):
        mine = [r["pac_bayes"]["certificate_error"] for r in rows if r["model"] == model]
        assert saved["summary"][model]["certificate"] == pytest.approx(
            [statistics.fmean(mine), statistics.stdev(mine)])
        assert saved["summary"][model]["n"] == 2
    assert saved["summary"]["gru"]["eq18_paper"] is None  # no Rademacher route for a GRU
    assert saved["summary"]["reweighted"]["eq18_strict"][0] >= \
        saved["summary"]["reweighted"]["eq18_paper"][0]  # strict never below the paper's
    assert (out / "certified" / "recipe" / "seed-1" / "certificate.json").exists()
    assert (out / "certificates" / "certificates.png").exists()
    md = (out / "certificates" / "certificates.md").read_text()
    assert "| GRU | 2 |" in md
    cache = out / "certificates" / "gru-seed0" / "certificate.json"
    stamp = cache.stat().st_mtime_ns
    again = certificates.run_certificates(tiny, out, models=("gru",), seeds=(0,),
                                          log=lambda *_: None)
    assert cache.stat().st_mtime_ns == stamp and again[0] == rows[0]
