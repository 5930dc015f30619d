"""Bounds recomputed independently of the helpers they use, so that a wrong norm, a dropped
term or a halved constant fails here (mutation-tested by hand: see the closing notes)."""

import itertools
import math

import pytest
import torch

from unfoldrnn import bounds
from unfoldrnn.models import L1L1RNN, ReweightedRNN, SistaRNN


def row_l1(M):  # ||M||_{1,inf}, written out
    return max(sum(abs(float(v)) for v in row) for row in M.detach())


def test_rademacher_estimate_reaches_a_linear_class_in_closed_form():
    # F = {x -> w.x : ||w||_1 <= r}: sup_w (1/m) sum eps_i w.x_i = r ||(1/m) sum eps_i x_i||_inf
    g = torch.Generator().manual_seed(0)
    m, n, r = 8, 5, 1.5
    x = torch.randn(m, n, generator=g, dtype=torch.float64)
    exact = sum(r * float((torch.tensor(eps, dtype=torch.float64) @ x).abs().max()) / m
                for eps in itertools.product((-1, 1), repeat=m)) / 2 ** m
    estimate = bounds.rademacher_estimate(lambda w: x @ w[0][0], [torch.zeros(1, n,
                                                                              dtype=torch.float64)],
                                          [r], m, draws=400, steps=5, restarts=1)
    assert estimate == pytest.approx(exact, rel=0.05)
    # a larger ball must give a proportionally larger estimate (no constant estimator)
    double = bounds.rademacher_estimate(lambda w: x @ w[0][0], [torch.zeros(1, n,
                                                                            dtype=torch.float64)],
                                        [2 * r], m, draws=400, steps=5, restarts=1)
    assert double == pytest.approx(2 * estimate, rel=1e-6)


def test_rademacher_estimate_of_a_vector_class_takes_the_best_output():
    # f(x) = (w.x, 2 w.x): the sup over outputs is the second, 2 r ||(1/m) sum eps_i x_i||_inf
    # (a mean over the outputs would give 1.5x the scalar value, a sum 3x)
    g = torch.Generator().manual_seed(1)
    m, n, r = 8, 4, 1.0
    x = torch.randn(m, n, generator=g, dtype=torch.float64)
    exact = sum(2 * r * float((torch.tensor(eps, dtype=torch.float64) @ x).abs().max()) / m
                for eps in itertools.product((-1, 1), repeat=m)) / 2 ** m
    estimate = bounds.rademacher_estimate(
        lambda w: torch.stack([x @ w[0][0], 2 * x @ w[0][0]], dim=1),
        [torch.zeros(1, n, dtype=torch.float64)], [r], m, draws=400, steps=5, restarts=1)
    assert estimate == pytest.approx(exact, rel=0.05)


@pytest.mark.parametrize("cls", [ReweightedRNN, L1L1RNN])
def test_unfolding_class_contains_the_model_and_its_estimate_sits_below_eq_15(cls):
    from unfoldrnn.bounds.montecarlo import unfolding_class

    torch.manual_seed(0)
    model = cls(3, 5, 2, c=1.0)
    with torch.no_grad():  # move away from the identity initialisation
        model.P.add_(0.2 * torch.randn(5, 5))
        model.h0.add_(0.3)
    x = torch.randn(16, 4, 3)
    function, init, radii = unfolding_class(model, x)
    assert len(init) == (4 if cls is ReweightedRNN else 3)  # l1-l1: W_1, W_2 and one U
    torch.testing.assert_close(function(init), model(x)[0][:, -1], rtol=1e-5, atol=1e-5)
    report = bounds.certify(model, x)
    assert radii[0] == pytest.approx(report.alphas[0], rel=1e-5)  # the trained norms
    assert radii[-1] == pytest.approx(report.betas[-1], rel=1e-5)
    estimate = bounds.rademacher_estimate(function, init, radii, 16, draws=4, steps=20)
    assert 0 < estimate < report.rademacher
    with pytest.raises(ValueError, match="SistaRNN"):
        unfolding_class(SistaRNN(3, 5, 2), x)


def test_certify_norms_from_matrices_rebuilt_by_hand():
    torch.manual_seed(0)
    n, n0, h, d = 3, 5, 6, 2
    model = ReweightedRNN(n, h, d, signal_size=n0, c=2.5).double()
    with torch.no_grad():  # non-symmetric P and Z: row sums differ from column sums and norms
        model.P.add_(0.3 * torch.randn(h, h, dtype=torch.float64).triu())
        model.Z.add_(0.4 * torch.randn(d, h, h, dtype=torch.float64).tril())
    A, D, P, Z, c = model.A, model.D, model.P, model.Z, float(model.c.detach())
    W1 = Z[0] @ P - Z[0] @ D.T @ A.T @ A @ D @ P / c  # paper 001 eq. 9-11
    W2 = Z[1] - Z[1] @ D.T @ A.T @ A @ D / c
    U = [Z[k] @ D.T @ A.T / c for k in range(d)]
    x = torch.randn(7, 4, n, dtype=torch.float64)
    with torch.no_grad():
        report = bounds.certify(model, x)
    assert report.alphas == pytest.approx([row_l1(W1), row_l1(W2)], rel=1e-9)
    assert report.betas == pytest.approx([row_l1(U[0]), row_l1(U[1])], rel=1e-9)
    assert row_l1(W1) != pytest.approx(float(torch.linalg.matrix_norm(W1.detach(), 2)), rel=1e-3)
    assert row_l1(W1) != pytest.approx(float(W1.detach().abs().sum(0).max()), rel=1e-3)
    # eq. 15 by hand from these numbers
    a1, a2 = row_l1(W1), row_l1(W2)
    L0 = a1 * a2
    # B_x: ||X_t||_{2,inf} = the largest l2 norm of a row (a feature across the m samples)
    # of X_t in R^{n x m} (paper 001 Sec. 3), over t, divided by sqrt(m)
    B_x = max(float(x[:, t].norm(dim=0).max()) for t in range(4)) / math.sqrt(7)
    s = row_l1(U[0]) * a2 + row_l1(U[1])
    geo = (L0 ** 4 - 1) / (L0 - 1)
    h0 = float(model.h0.detach().abs().max())
    expected = math.sqrt(2 * (4 * d * 4 * math.log(2) + math.log(n) + math.log(h)) / 7) * \
        math.sqrt((s * geo * B_x) ** 2 + L0 ** 8 * h0 ** 2)
    assert report.rademacher == pytest.approx(expected, rel=1e-9)


def test_sista_step_bound_keeps_beta_2_at_depth_2():
    torch.manual_seed(1)
    n, n0, h, d = 3, 4, 5, 3
    model = SistaRNN(n, h, d, signal_size=n0, alpha=3.0, lambda2=0.7).double()
    with torch.no_grad():
        model.F.add_(0.5 * torch.randn(n0, n0, dtype=torch.float64))
    A, D, F = model.A, model.D, model.F
    alpha, lam2 = float(model.alpha.detach()), float(model.lambda2.detach())
    K = D.T @ F @ D
    S = torch.eye(h, dtype=torch.float64) - D.T @ (A.T @ A + lam2 * torch.eye(n0)) @ D / alpha
    a1, a2 = row_l1(S @ K + lam2 / alpha * K), row_l1(S)
    b1, b2 = row_l1(D.T @ A.T / alpha), row_l1(lam2 / alpha * K)
    assert b2 > 0.05  # the term a dropped beta_2 would lose
    x = torch.randn(6, 3, n, dtype=torch.float64)
    with torch.no_grad():
        report = bounds.certify(model, x)
        codes = model(x)[0]
    B_x = max(float(x[:, t].norm(dim=0).max()) for t in range(3)) / math.sqrt(6)
    B_h1 = float(codes[:, 0].norm(dim=0).max()) / math.sqrt(6)  # B_(h_1), used at t = 2
    geo = lambda k: (a2 ** k - 1) / (a2 - 1)  # noqa: E731
    expected = math.sqrt(2 * (4 * d * math.log(2) + math.log(n) + math.log(h)) / 6) * \
        math.sqrt((b1 * geo(d) * B_x) ** 2 + ((a1 * a2 ** (d - 1) + b2 * geo(d - 1)) * B_h1) ** 2)
    assert report.step_rademacher[1] == pytest.approx(expected, rel=1e-9)


def test_lstm_bound_uses_the_candidate_matrices():
    torch.manual_seed(2)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bias=False).double()
    with torch.no_grad():  # torch's gate order i, f, g (candidate), o: make g stand out
        lstm.weight_hh_l0[8:12] *= 10
        lstm.weight_ih_l0[8:12] *= 7
    V = torch.randn(2, 4, dtype=torch.float64)
    x = torch.randn(9, 5, 3, dtype=torch.float64)
    out = bounds.lstm_bound(lstm, V, x, gamma=0.8)
    spec = lambda M: float(torch.linalg.matrix_norm(M.detach(), 2))  # noqa: E731
    U = lstm.weight_hh_l0.detach().chunk(4)
    W_c = lstm.weight_ih_l0.detach()[8:12]
    assert out["beta"] <= 1 + spec(U[2]) and out["beta"] > spec(U[0]) + 1
    d = math.sqrt(4 * 3 * 4 + 4 * 4 * 4 + 4 * 2)
    expected = bounds.gated_complexity(spec(V), spec(W_c), float(x.norm(dim=2).max()),
                                       out["beta"], out["theta"], d, 5, 9, 0.8)
    assert out["thm5"] == pytest.approx(expected, rel=1e-9)


def test_fisher_rao_theorem_2_gap_by_hand():
    torch.manual_seed(3)
    U, W, V = torch.randn(4, 2) * 0.3, torch.randn(4, 4) * 0.2, torch.randn(3, 4) * 0.3
    x = torch.randn(50, 5, 2)
    labels = torch.randint(0, 3, (50,))
    out = bounds.fisher_rao_bound(U, W, V, x, labels, margin=0.7, delta=0.1)
    k = 3
    expected = 4 * k / 0.7 * out["rademacher"] + 3 * math.sqrt(math.log(2 / 0.1) / (2 * 50))
    assert out["gap"] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="x_clean"):
        bounds.fisher_rao_bound(U, W, V, x, labels, margin=0.7, noise_std=0.1)


def test_paper_002_bounds_refuse_what_they_do_not_cover():
    x = torch.randn(5, 4, 3)
    with pytest.raises(ValueError, match="relu"):
        bounds.spectral_rnn_bound(torch.nn.RNN(3, 4, nonlinearity="relu", bias=False),
                                  torch.randn(2, 4), x, 1.0)
    with pytest.raises(ValueError, match="bias=False"):
        bounds.rnn_bounds(torch.nn.RNN(3, 4), torch.randn(2, 4), x, 1.0)


def test_huge_bounds_are_infinite_or_finite_never_an_overflow_error():
    # Lambda_0 = 4^6 over T = 99 steps: far beyond float range -> inf, not OverflowError
    assert bounds.unfolding_rademacher([4.0] * 6, [1.0] * 6, 1.0, 1.0, 32, 100, 3937, 99) \
        == math.inf
    # 1e200: its square overflows a float, the bound itself does not
    big = bounds.unfolding_rademacher([1.0], [1e200], 1.0, 0.0, 1, 1, 1, 1)
    assert math.isfinite(big) and big == pytest.approx(
        math.sqrt(2 * (4 * math.log(2))) * 1e200, rel=1e-9)
