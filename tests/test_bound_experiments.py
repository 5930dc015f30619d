import json
import math
from pathlib import Path

import pytest

from unfoldrnn import bounds
from unfoldrnn.experiments import bound_experiments as bx

from shared_data import WHERE
from speech import TEST_SET, tiny_test_set

pytestmark = pytest.mark.skipif(not TEST_SET.exists(), reason=f"no Speech Commands copy at {WHERE}")


@pytest.fixture(scope="module")
def speech_root(tmp_path_factory):
    return tiny_test_set(tmp_path_factory.mktemp("speech") / "g12")


def test_table4_writes_bounds_over_the_gamma_grid(tmp_path, speech_root, monkeypatch):
    monkeypatch.setitem(bx.SCALES["cpu"], "table4", {"epochs": 1, "hidden_size": 12,
                                                     "batch_size": 12})
    monkeypatch.setattr(bx, "MONTE_CARLO", {"draws": 1, "steps": 3, "restarts": 1})
    rows = bx.run_table4(str(speech_root), tmp_path, progress=False, log=lambda *_: None)
    assert [(r["model"], r["lambda"]) for r in rows] == [
        (m, lam) for m in ("reweighted", "l1l1") for lam in (0.52, 1.40, 3.73)]
    for r in rows:  # eq. 18 by hand at every gamma of the grid
        for g, train, bound in zip(r["gammas"], r["train_ramp"], r["bound"], strict=True):
            gap = bounds.classification_gap(r["rademacher"], r["rho"], g, r["m"], 0.05)
            assert bound == pytest.approx(train + gap, rel=1e-9)
            assert gap == pytest.approx(2 * r["rho"] / g * r["rademacher"]
                                        + 4 * math.sqrt(2 * math.log(4 / 0.05) / r["m"]))
        assert r["best_bound"] == min(r["bound"])
        assert r["head_free_floor"] <= r["least_bound"] <= r["best_bound"] + 1e-12
        assert r["sample_size_to_certify"] is None or r["sample_size_to_certify"] > r["m"]
        assert 0 < r["monte_carlo"] < r["rademacher"]  # a lower estimate under the bound
        assert all(0 <= v <= 1 for v in r["train_ramp"] + r["test_ramp"])
    folder = tmp_path / "paper000-table4"
    table = (folder / "table4.md").read_text()
    assert "(0.292)" in table and "(5.45e+14)" in table and "(73.5)" in table
    rows_md = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows_md) == 7 and all(line.count("|") == 12 for line in rows_md)
    assert (folder / "fig3.png").stat().st_size > 10_000
    assert len(json.loads((folder / "table4.json").read_text())) == 6


def test_table4_seeds_give_separate_reusable_runs_and_their_mean_and_std(tmp_path, speech_root,
                                                                          monkeypatch):
    import statistics

    monkeypatch.setitem(bx.SCALES["cpu"], "table4", {"epochs": 1, "hidden_size": 8,
                                                     "batch_size": 12})
    monkeypatch.setattr(bx, "MONTE_CARLO", {"draws": 1, "steps": 2, "restarts": 1})
    monkeypatch.setattr(bx, "TABLE4_LAMBDAS", (0.52,))
    trained = []
    rows = bx.run_table4(str(speech_root), tmp_path, progress=False, seeds=2,
                         log=lambda line: trained.append(line))
    folder = tmp_path / "paper000-table4"
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("reweighted", 0), ("reweighted", 1), ("l1l1", 0), ("l1l1", 1)]
    for r in rows:
        name = f"{r['model']}-0.52" + (f"-seed{r['seed']}" if r["seed"] else "")
        config = json.loads((folder / name / "config.json").read_text())
        assert config["seed"] == r["seed"]
    assert rows[0]["test_accuracy"] != rows[1]["test_accuracy"] or \
        rows[0]["rademacher"] != rows[1]["rademacher"]  # two seeds, two runs
    table = (folder / "table4.md").read_text()
    accuracies = [r["test_accuracy"] for r in rows if r["model"] == "l1l1"]
    bounds_ = [r["rademacher"] for r in rows if r["model"] == "l1l1"]
    assert (f"| l1l1 | 0.52 | 2 | {statistics.fmean(accuracies):.3g} +- "
            f"{statistics.stdev(accuracies):.3g} | {statistics.fmean(bounds_):.3g} +- "
            f"{statistics.stdev(bounds_):.3g} |") in table
    assert "--seeds 2" in table
    mtimes = {p: p.stat().st_mtime for p in folder.glob("*/metrics.json")}
    again = bx.run_table4(str(speech_root), tmp_path, progress=False, seeds=2,
                          log=lambda *_: None)
    assert [r["test_accuracy"] for r in again] == [r["test_accuracy"] for r in rows]
    assert {p: p.stat().st_mtime for p in folder.glob("*/metrics.json")} == mtimes  # reused


def test_noise_experiment_summarises_seeds(tmp_path, speech_root, monkeypatch):
    monkeypatch.setitem(bx.SCALES["cpu"], "noise", {"epochs": 1, "hidden_size": 8,
                                                    "batch_size": 12})
    monkeypatch.setattr(bx, "NOISE_SIGMAS", (0.0, 0.3))
    monkeypatch.setattr(bx, "NOISE_SEEDS", (0, 1))
    summary = bx.run_noise(str(speech_root), tmp_path, progress=False, log=lambda *_: None)
    stored = json.loads((tmp_path / "paper003-noise" / "noise.json").read_text())
    runs = stored["runs"]
    for s in summary:
        gaps = [r["generalization_error"] for r in runs if r["sigma"] == s["sigma"]]
        assert s["mean"] == pytest.approx(sum(gaps) / 2)
        if s["sigma"] > 0:  # 36 clips of 99 x 32 features: E[x x^T] is singular
            assert s["bound_factor"] == pytest.approx(1 / math.sqrt(stored["lambda_min"]
                                                                    + s["sigma"] ** 2))
    assert summary[1]["bound_factor"] < summary[0]["bound_factor"]
    assert all(r["generalization_error"] == pytest.approx(r["test_error"] - r["train_error"])
               for r in runs)
    assert (tmp_path / "paper003-noise" / "noise.png").stat().st_size > 10_000


def test_certified_sweep_bounds_the_last_epoch(tmp_path, speech_root, monkeypatch):
    monkeypatch.setattr(bx, "CERTIFIED", {**bx.CERTIFIED, "hidden_size": 12, "batch_size": 12})
    monkeypatch.setattr(bx, "CERTIFIED_RUNS", ((0.5, 0.0, 1), (0.5, 2.0, 2)))
    monkeypatch.setattr(bx, "MONTE_CARLO", {"draws": 1, "steps": 3, "restarts": 1})
    rows = bx.run_certified(str(speech_root), tmp_path, progress=False, log=lambda *_: None)
    folder = tmp_path / "certified"
    assert [r["epochs"] for r in rows] == [1, 2]
    for r, name in zip(rows, ("lambda-0.5-e1", "lambda-0.5-u2.0-e2"), strict=True):
        again = bx.classifier_bound(folder / name, checkpoint="last")
        assert r["alphas"] == again["alphas"] and r["least_bound"] == again["least_bound"]
        # a smaller R_S (the lower estimate) never needs more data, nor gives a larger bound
        assert 0 < r["monte_carlo"] < r["rademacher"]
        assert r["least_bound_at_estimate"] <= r["least_bound"]
        if r["sample_size_to_certify"] is not None:
            assert r["sample_size_at_estimate"] <= r["sample_size_to_certify"]
        assert r["head_free_floor"] <= r["least_bound"] <= min(r["bound"]) + 1e-12
    assert json.loads((folder / "certified.json").read_text())[1]["lambda_u"] == 2.0
    table = (folder / "certified.md").read_text()
    assert len([line for line in table.splitlines() if line.startswith("| 0.5 |")]) == 2
    assert (folder / "certified.png").stat().st_size > 10_000


def test_certified_recipe_file_is_a_row_of_the_sweep():
    from unfoldrnn.config import read_config_file

    recipe = read_config_file(Path(__file__).parents[1] / "configs" / "certified_speech.toml")
    assert {k: recipe[k] for k in bx.CERTIFIED} == bx.CERTIFIED
    assert (recipe["bound_lambda"], recipe.get("bound_lambda_u", 0.0),
            recipe["epochs"]) == bx.CERTIFIED_RUNS[-1]


def test_paper002_families_measures_every_family(tmp_path, speech_root, monkeypatch):
    import statistics

    from unfoldrnn.experiments import families as fam

    monkeypatch.setitem(fam.SCALES, "cpu", {"epochs": 1, "lr": 3e-3, "lr_step": 15,
                                            "seeds": (0, 1)})
    monkeypatch.setattr(fam, "WIDTHS", (12, 16))
    monkeypatch.setattr(fam, "WIDTH", 16)
    monkeypatch.setattr(fam, "CONV_WIDTH", 12)
    monkeypatch.setattr(fam, "TRUNCATIONS", (10, 99))
    rows = fam.run_families(str(speech_root), tmp_path, progress=False, log=lambda *_: None)
    assert {r["model"] for r in rows} == set(fam.FAMILIES)
    assert len(rows) == 4 * 3  # two seeds at the comparison width, one more width each
    for r in rows:
        assert r["bound"] > 0 and r["error_gap"] == pytest.approx(r["test_error"]
                                                                 - r["train_error"])
        assert set(r["bound_vs_t"]) == {10, 99}
        assert r["bound_vs_t"][99] == pytest.approx(r["bound"])  # the full clip
        if r["model"] in ("rnn", "convrnn"):  # no gate: the bound grows with t
            assert r["bound_vs_t"][10] < r["bound_vs_t"][99]
    saved = json.loads((tmp_path / "paper002-families" / "families.json").read_text())
    mgu = [r["test_accuracy"] for r in rows if r["model"] == "mgu" and r["main"]]
    assert saved["summary"]["mgu"]["test_accuracy"] == pytest.approx(
        [statistics.fmean(mgu), statistics.stdev(mgu)])
    assert "paper002-families" in saved["command"]
    assert (tmp_path / "paper002-families" / "families.png").stat().st_size > 1000
    assert "+-" in (tmp_path / "paper002-families" / "families.md").read_text()
