"""PAC-Bayes risk certificates (bounds.pac_bayes): the kl inversion against an independent
root finder and a closed form, the sampling and PAC-Bayes-kl bounds by hand, the Gaussian KL
against torch.distributions, coverage on a task with a known error rate, and the pipeline's
prior / bound split."""

import math

import pytest
import torch
from scipy.optimize import brentq

from unfoldrnn.bounds.pac_bayes import (
    GaussianPosterior,
    bounded_cross_entropy,
    f_classic,
    f_quad,
    kl_bernoulli,
    kl_inverse,
    pac_bayes_kl_bound,
    risk_certificate,
    sampling_bound,
)


def scipy_kl_inverse(q: float, c: float) -> float:
    """The root of kl(q || p) = c on (q, 1), by Brent's method on the closed-form kl."""
    def f(p):
        left = q * math.log(q / p) if q > 0 else 0.0
        return left + (1 - q) * math.log((1 - q) / (1 - p)) - c
    return brentq(f, q + 1e-15, 1 - 1e-15, xtol=1e-14)


@pytest.mark.parametrize("q, c", [(0.1, 0.05), (0.3, 0.2), (0.02, 0.001), (0.5, 0.3)])
def test_kl_inverse_against_brent(q, c):
    assert kl_inverse(q, c) == pytest.approx(scipy_kl_inverse(q, c), abs=1e-10)
    assert kl_bernoulli(q, kl_inverse(q, c)) == pytest.approx(c, abs=1e-9)


def test_kl_inverse_closed_forms():
    # q = 0: kl(0 || p) = -log(1 - p), so kl^{-1}(0, c) = 1 - exp(-c)
    for c in (0.01, 0.5, 2.0):
        assert kl_inverse(0.0, c) == pytest.approx(1 - math.exp(-c), abs=1e-11)
    assert kl_inverse(0.4, 0.0) == pytest.approx(0.4, abs=1e-11)
    assert kl_inverse(0.9, 50.0) == 1.0


def test_the_bounds_by_their_formulas():
    # sampling bound: kl^{-1}(L_hat, log(2 / delta') / M)
    assert sampling_bound(0.2, 150, 0.01) == pytest.approx(
        scipy_kl_inverse(0.2, math.log(2 / 0.01) / 150), abs=1e-10)
    # PAC-Bayes-kl: kl^{-1}(L_S, (KL + log(2 sqrt(n) / delta)) / n)
    n, kl, delta = 2000, 35.0, 0.025
    rhs = (kl + math.log(2 * math.sqrt(n) / delta)) / n
    assert pac_bayes_kl_bound(0.15, kl, n, delta) == pytest.approx(
        scipy_kl_inverse(0.15, rhs), abs=1e-10)
    both = risk_certificate(0.15, 150, kl, n, delta, 0.01)
    assert both == pytest.approx(scipy_kl_inverse(scipy_kl_inverse(
        0.15, math.log(2 / 0.01) / 150), rhs), abs=1e-9)
    # the training objectives, with B = (KL + log(2 sqrt(n) / delta)) / (2 n)
    B = (kl + math.log(2 * math.sqrt(n) / delta)) / (2 * n)
    risk, klt = torch.tensor(0.15), torch.tensor(kl)
    assert float(f_quad(risk, klt, n, delta)) == pytest.approx(
        (math.sqrt(0.15 + B) + math.sqrt(B)) ** 2)
    assert float(f_classic(risk, klt, n, delta)) == pytest.approx(0.15 + math.sqrt(B))
    assert pac_bayes_kl_bound(0.15, kl, n, delta) <= float(f_quad(risk, klt, n, delta))


def test_bounded_cross_entropy():
    scores = torch.tensor([[0.0, 0.0], [20.0, -20.0]])
    labels = torch.tensor([0, 1])  # p = 1/2, and p ~ e^-40 < p_min
    loss = bounded_cross_entropy(scores, labels, p_min=1e-4)
    assert loss[0] == pytest.approx(math.log(2) / math.log(1e4))
    assert loss[1] == pytest.approx(1.0)


def test_gaussian_kl_against_torch_distributions():
    torch.manual_seed(0)
    params = {"a": torch.randn(3, 4), "b": torch.randn(5)}
    q = GaussianPosterior(params, sigma_prior=0.1)
    assert float(q.kl().detach()) == pytest.approx(0.0, abs=1e-4)  # Q starts at P (float32)
    with torch.no_grad():
        for u, s in zip(q.u, q.s, strict=True):
            u.add_(0.5 * torch.randn_like(u))
            s.add_(0.3 * torch.randn_like(s))
    Normal = torch.distributions.Normal
    expected = sum(torch.distributions.kl_divergence(
        Normal(mu, sigma), Normal(params[name], 0.1)).sum()
        for name, mu, sigma in zip(q.names, q.mu, q.sigmas(), strict=True))
    assert float(q.kl().detach()) == pytest.approx(float(expected.detach()), rel=1e-4)
    draw = q.sample(torch.Generator().manual_seed(1))
    assert draw["a"].shape == (3, 4) and not torch.equal(draw["a"], q.mu[0])
    torch.testing.assert_close(q.mu[0], params["a"] + 0.1 * q.u[0])  # the prior's units


def test_the_certificate_covers_a_known_error_rate():
    """A classifier of true error p = 0.2 on n = 300 fresh samples, 200 times: the
    certificate (KL = 0, all M draws the same classifier) must cover p in >= 95% of the
    draws at delta = 0.05; without its confidence term it would cover about half."""
    gen = torch.Generator().manual_seed(0)
    p, n, covered = 0.2, 300, 0
    for _ in range(200):
        errors = float((torch.rand(n, generator=gen) < p).float().mean())
        covered += risk_certificate(errors, 10_000, 0.0, n, 0.05, 1e-6) >= p
    assert covered >= 190


def test_the_prior_never_sees_the_bound_samples(tmp_path, monkeypatch):
    """The prior trains on the prior indices only, the certificate's n counts the others,
    and the two sets partition the training split."""
    import unfoldrnn.experiments.pac_bayes as pb
    from unfoldrnn.config import TrainConfig

    train = (torch.arange(60, dtype=torch.float32)[:, None, None].expand(60, 6, 4).clone(),
             torch.arange(60) % 3)
    test = (torch.randn(12, 6, 4), torch.arange(12) % 3)
    monkeypatch.setattr(pb, "build_data", lambda config, progress=False: (train, test, test))
    seen = {}
    original = pb.train_prior

    def spy(task, prior, *args):
        seen["prior"] = set(prior[0][:, 0, 0].long().tolist())  # each clip's own id
        return original(task, prior, *args)

    monkeypatch.setattr(pb, "train_prior", spy)
    config = TrainConfig(task="classification", data=str(tmp_path / "x.npz"), model="gru",
                         hidden_size=8, num_layers=1, epochs=1, num_filters=4,
                         class_names=["a", "b", "c"])
    report = pb.pac_bayes_certificate(config, posterior_epochs=1, samples=3,
                                      log=lambda *_: None)
    prior, bound = set(report["prior_indices"]), set(report["bound_indices"])
    assert seen["prior"] == prior and not prior & bound and prior | bound == set(range(60))
    assert report["n_bound"] == len(bound) == 30
    assert 0 <= report["empirical_error_mc"] <= report["certificate_error"] <= 1


def test_a_certificate_of_variable_length_sequences(tmp_path):
    """Own data with lengths: the prior, the posterior and the draws read each sequence at
    its last valid step (the split's third tensor travels with it)."""
    import numpy as np

    from unfoldrnn.config import TrainConfig
    from unfoldrnn.experiments.pac_bayes import pac_bayes_certificate

    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 7, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x_train=x, y_train=np.arange(80) % 2,
             lengths_train=rng.integers(2, 8, 80))
    config = TrainConfig(task="classification", data=str(tmp_path / "x.npz"), model="gru",
                         hidden_size=4, num_layers=1, epochs=1)
    report = pac_bayes_certificate(config, posterior_epochs=1, samples=2, log=lambda *_: None)
    assert report["n_bound"] == 32 and 0 <= report["certificate_error"] <= 1


def test_a_grouped_prior_bound_split_shares_no_group():
    from unfoldrnn.experiments.pac_bayes import split_for_prior

    groups = [f"speaker{k % 7}" for k in range(50)]
    prior, bound = split_for_prior(50, 0.5, 3, groups)
    assert sorted(prior.tolist() + bound.tolist()) == list(range(50))
    assert not {groups[i] for i in prior.tolist()} & {groups[i] for i in bound.tolist()}
    assert len({groups[i] for i in prior.tolist()}) == 4  # round(0.5 * 7) of the speakers
    again = split_for_prior(50, 0.5, 3, groups)
    assert torch.equal(prior, again[0]) and torch.equal(bound, again[1])
    with pytest.raises(ValueError, match="two groups"):
        split_for_prior(3, 0.5, 0, ["a", "a", "a"])


def test_group_risk_and_the_draws_estimate_the_group_level_risk():
    """A speaker's error rate is the loss: the mean over groups (0.75 here), not over clips
    (0.8). Draws of (weights, unit) of a classifier without noise converge to the mean over
    their units: over groups when the units are the groups."""
    from unfoldrnn.experiments.pac_bayes import draw_risks, draw_units, group_risk

    errors = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0])
    groups = ["a", "a", "b", "b", "b"]
    assert group_risk(errors, groups) == pytest.approx(0.75)

    class Fixed(torch.nn.Module):  # class 0 for x = 0, class 1 for x = 1; labels all 1
        def forward(self, x):
            return torch.cat([1 - x, x], 1)

    class Noiseless:
        def sample(self, generator):
            return {}

    data = (1 - errors[:, None], torch.ones(5, dtype=torch.long))
    by_group = draw_risks(Fixed(), Noiseless(), {}, data, draw_units(5, groups), 4000,
                          1e-4, 0)[0]
    by_clip = draw_risks(Fixed(), Noiseless(), {}, data, draw_units(5), 4000, 1e-4, 0)[0]
    assert by_group == pytest.approx(0.75, abs=0.03) and by_clip == pytest.approx(0.8, abs=0.03)


def test_a_certificate_of_grouped_data_splits_by_group_and_certifies_groups(tmp_path):
    """An .npz with groups_train (and its own valid and test splits): the prior and bound
    parts share no speaker, and the group-level certificate uses n = the bound speakers."""
    import numpy as np

    from unfoldrnn.config import TrainConfig
    from unfoldrnn.experiments.pac_bayes import pac_bayes_certificate

    rng = np.random.default_rng(0)

    def part(n):
        return rng.standard_normal((n, 6, 3)).astype(np.float32), np.arange(n) % 2

    (x, y), (xv, yv), (xt, yt) = part(240), part(20), part(20)
    groups = np.array([f"spk{k // 3}" for k in range(240)])  # 80 speakers of 3 clips
    np.savez(tmp_path / "x.npz", x_train=x, y_train=y, x_valid=xv, y_valid=yv, x_test=xt,
             y_test=yt, groups_train=groups)
    config = TrainConfig(task="classification", data=str(tmp_path / "x.npz"), model="gru",
                         hidden_size=4, num_layers=1, epochs=1)
    report = pac_bayes_certificate(config, posterior_epochs=1, samples=200,
                                   log=lambda *_: None)
    assert report["group_certificate_error"] < 1  # the hand computation below is not trivial
    prior = {groups[i] for i in report["prior_indices"]}
    bound = {groups[i] for i in report["bound_indices"]}
    assert not prior & bound and len(prior) + len(bound) == 80
    assert report["n_bound_groups"] == len(bound) and sorted(bound) == report["bound_groups"]
    assert report["group_certificate_error"] > report["certificate_error"]  # fewer units

    def kl(q, p):
        return sum(a * math.log(a / b) for a, b in ((q, p), (1 - q, 1 - p)) if a > 0)

    def inverse(q, budget):  # the largest p with kl(q || p) <= budget, by root finding
        if kl(q, 1 - 1e-12) <= budget:
            return 1.0
        return brentq(lambda p: kl(q, p) - budget, q + 1e-12, 1 - 1e-12)

    # the speaker-level certificate by hand: sampling bound over the M = 3 draws, then
    # PAC-Bayes-kl with n = the bound speakers (not the bound clips)
    G, M = len(bound), 200
    sampled = inverse(report["group_empirical_error_mc"], math.log(2 / 0.01) / M)
    expected = inverse(sampled, (report["kl"] + math.log(2 * math.sqrt(G) / 0.025)) / G)
    assert report["group_certificate_error"] == pytest.approx(expected, abs=1e-7)
    clip_level = pac_bayes_certificate(config, posterior_epochs=1, samples=3, grouped=False,
                                       log=lambda *_: None)
    assert "group_certificate_error" not in clip_level


def test_a_certificate_verifies_from_its_files_and_a_tampered_one_fails(tmp_path, capsys):
    import json

    import numpy as np

    from unfoldrnn.cli import main
    from unfoldrnn.train import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x_train=rng.standard_normal((80, 6, 3)).astype(np.float32),
             y_train=np.arange(80) % 2)
    run = tmp_path / "run"
    assert main(["train", "--task", "classification", "--data", str(tmp_path / "x.npz"),
                 "--model", "gru", "--epochs", "1", "--hidden-size", "6", "--out", str(run),
                 "--quiet"]) == 0
    certify = ["certify", str(run), "--pac-bayes", "--prior-epochs", "1",
               "--posterior-epochs", "1", "--samples", "4", "--quiet"]
    assert main(certify) == 0
    said = capsys.readouterr().out  # .npz data: examples, not clips (issue 28, defect 15)
    assert "test error of Q on a new example" in said and "clip" not in said
    assert "held-out baseline" in said
    assert main([*certify, "--verify"]) == 0
    assert "verifies" in capsys.readouterr().out
    saved = json.loads((run / "pac_bayes.json").read_text())
    for shift, code in ((1e-8, 0), (1e-3, 2)):  # float32 summation order passes; more fails
        (run / "pac_bayes.json").write_text(json.dumps({**saved, "kl": saved["kl"] + shift}))
        assert main([*certify, "--verify"]) == code
        capsys.readouterr()
    (run / "pac_bayes.json").write_text(json.dumps(saved))
    state = load_checkpoint(run / "pac_bayes.pt")
    key = next(k for k in state["posteriors"][0] if k.startswith("u."))
    state["posteriors"][0][key] = state["posteriors"][0][key] + 0.5  # moved by hand
    save_checkpoint(run / "pac_bayes.pt", state)
    assert main([*certify, "--verify"]) == 2
    assert "does not verify: kl" in capsys.readouterr().err
    report = json.loads((run / "pac_bayes.json").read_text())
    (run / "pac_bayes.pt").unlink()
    assert main([*certify, "--verify"]) == 2
    assert "nothing to verify" in capsys.readouterr().err
    assert report["seed"] == 0 and len(report["bound_indices"]) == report["n_bound"]


def test_a_declared_grid_divides_delta(tmp_path):
    """Chosen among K settings by looking at certificates: each setting's certificate is
    computed at delta / K and delta' / K, so the chosen one holds at 1 - delta - delta'."""
    import numpy as np

    from unfoldrnn.bounds.pac_bayes import risk_certificate
    from unfoldrnn.config import TrainConfig
    from unfoldrnn.experiments.learnability import time_order
    from unfoldrnn.experiments.pac_bayes import pac_bayes_certificate

    data = time_order(300, 0)  # learnable: a certificate below 1
    np.savez(tmp_path / "x.npz", x_train=data["x"], y_train=data["y"])
    config = TrainConfig(task="classification", data=str(tmp_path / "x.npz"), model="gru",
                         hidden_size=8, num_layers=1, epochs=6, lr=1e-2)
    one = pac_bayes_certificate(config, posterior_epochs=0, samples=50, log=lambda *_: None)
    four = pac_bayes_certificate(config, posterior_epochs=0, samples=50, grid=4,
                                 log=lambda *_: None)
    assert one["certificate_error"] < 0.9
    assert four["delta"] == pytest.approx(0.025 / 4) and four["grid"] == 4
    assert four["delta_prime"] == pytest.approx(0.01 / 4)
    assert four["confidence"] == pytest.approx(one["confidence"]) == pytest.approx(0.965)
    assert four["certificate_error"] == pytest.approx(risk_certificate(
        four["empirical_error_mc"], 50, four["kl"], four["n_bound"], 0.025 / 4, 0.01 / 4))
    assert four["certificate_error"] > one["certificate_error"]  # paid for
    with pytest.raises(ValueError, match="grid"):
        pac_bayes_certificate(config, grid=0, log=lambda *_: None)
    # a declared grid of prior sigmas: one posterior each, the least certificate, delta / 2
    two = pac_bayes_certificate(config, posterior_epochs=0, samples=50, sigma_prior=(1e-3, 1e-1),
                                log=lambda *_: None)
    rows = two["grid_rows"]
    assert [r["sigma"] for r in rows] == [1e-3, 1e-1] and two["delta"] == pytest.approx(0.0125)
    assert two["certificate_error"] == min(r["certificate_error"] for r in rows)
    assert two["sigma_prior"] == rows[two["chosen"]]["sigma"]
