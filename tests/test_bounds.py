import math

import pytest
import torch

from unfoldrnn import bounds
from unfoldrnn.models import L1L1RNN, ReweightedRNN, SistaRNN
from unfoldrnn.prox import prox_l1l1

G = torch.Generator().manual_seed(0)


def rand(*shape):
    return torch.randn(*shape, generator=G, dtype=torch.float64)


def test_norms_against_loops():
    M = rand(5, 7)
    assert math.isclose(bounds.norm_1_inf(M), max(sum(abs(v) for v in row) for row in M.tolist()))
    cols = [math.sqrt(sum(M[i, j] ** 2 for i in range(5))) for j in range(7)]
    assert math.isclose(bounds.norm_2_1(M), sum(cols), rel_tol=1e-12)
    assert math.isclose(bounds.spectral_norm(M), torch.linalg.svdvals(M)[0], rel_tol=1e-12)


def test_B_x_follows_the_definition_of_X_t():
    x = rand(6, 4, 3)  # m = 6 samples, T = 4, n = 3
    m = x.shape[0]
    best = 0.0
    for t in range(4):
        X_t = x[:, t, :].T  # n x m, samples as columns
        norm_2_inf = max(math.sqrt(sum(X_t[k, i] ** 2 for i in range(m))) for k in range(3))
        best = max(best, norm_2_inf / math.sqrt(m))
    assert math.isclose(bounds.sequence_rms_bound(x), best, rel_tol=1e-12)


def test_geometric_sum():
    assert bounds.geometric_sum(1.0, 7) == 7
    assert math.isclose(bounds.geometric_sum(0.7, 5), sum(0.7 ** k for k in range(5)))
    assert bounds.geometric_sum(10.0, 10_000) == math.inf


def log_factor(d, T, n, h, m):
    return math.sqrt(2 * (4 * d * T * math.log(2) + math.log(n) + math.log(h)) / m)


def test_unfolding_bound_with_one_layer_by_hand():
    a, b, Bx, h0, n, h, m, T = 0.8, 1.3, 0.5, 0.2, 10, 20, 100, 6
    expected = log_factor(1, T, n, h, m) * math.sqrt(
        (b * (a ** T - 1) / (a - 1) * Bx) ** 2 + a ** (2 * T) * h0 ** 2)
    assert math.isclose(bounds.unfolding_rademacher([a], [b], Bx, h0, n, h, m, T), expected)


def test_unit_lambda_0_gives_a_factor_T():
    betas, Bx, h0, n, h, m, T = [0.3, 0.5, 0.7], 2.0, 0.1, 8, 16, 50, 9
    expected = log_factor(3, T, n, h, m) * math.sqrt((1.5 * T * Bx) ** 2 + h0 ** 2)
    got = bounds.unfolding_rademacher([1.0, 1.0, 1.0], betas, Bx, h0, n, h, m, T)
    assert math.isclose(got, expected)


def test_lambdas_are_tail_products():
    assert bounds.lambdas([2.0, 3.0, 5.0]) == [30.0, 15.0, 5.0, 1.0]


def test_l1l1_is_reweighted_with_tied_weights():
    a1, a2, b1, d, Bx, Bh, n, h, m = 0.9, 0.6, 1.1, 4, 0.7, 0.3, 12, 30, 64
    tied = bounds.reweighted_step_rademacher([a1] + [a2] * (d - 1), [b1] * d, Bx, Bh, n, h, m)
    assert math.isclose(bounds.l1l1_step_rademacher(a1, a2, b1, d, Bx, Bh, n, h, m), tied)


def test_sista_step_bound_with_one_layer():
    a1, a2, b1, b2, Bx, Bh, n, h, m = 0.9, 0.6, 1.1, 0.4, 0.7, 0.3, 12, 30, 64
    expected = log_factor(1, 1, n, h, m) * math.sqrt((b1 * Bx) ** 2 + (a1 * Bh) ** 2)
    got = bounds.sista_step_rademacher(a1, a2, b1, b2, 1, Bx, Bh, n, h, m)
    assert math.isclose(got, expected)


def test_ramp_loss_and_margins():
    scores = torch.tensor([[3.0, 1.0, 0.0], [0.5, 1.0, 0.9], [2.0, 1.5, 0.0]])
    labels = torch.tensor([0, 2, 0])
    assert torch.allclose(bounds.margins(scores, labels), torch.tensor([2.0, -0.1, 0.5]))
    # l = r_gamma(-M): 0 above the margin, 1 for errors, linear in between
    assert torch.allclose(bounds.ramp_loss(scores, labels, 1.0), torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="gamma"):
        bounds.ramp_loss(scores, labels, 0.0)


def test_gaps():
    assert math.isclose(bounds.generalization_gap(0.1, 100, 0.05, 2.0),
                        0.2 + 8 * math.sqrt(2 * math.log(80) / 100))
    assert math.isclose(bounds.classification_gap(0.1, 3.0, 2.0, 100, 0.05),
                        0.3 + 4 * math.sqrt(2 * math.log(80) / 100))
    with pytest.raises(ValueError, match="delta"):
        bounds.generalization_gap(0.1, 100, 1.5)
    Y = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    assert bounds.head_lipschitz(Y) == 5.0  # min(max row l2 = 5, max row l1 = 7)


def test_l1l1_certify_matches_tied_reweighted_formula():
    torch.manual_seed(0)
    model = L1L1RNN(6, 10, 3, signal_size=8)
    x = torch.randn(40, 5, 6)
    report = bounds.certify(model, x)
    assert report.alphas[1] == report.alphas[2] and report.betas[0] == report.betas[2]
    expected = bounds.unfolding_rademacher(report.alphas, report.betas, report.B_x,
                                           report.h0_norm, 6, 10, 40, 5)
    assert math.isclose(report.rademacher, expected)
    assert len(report.step_rademacher) == 5 and "Thm 3.3" in str(report)


def test_certify_classification_sweep():
    torch.manual_seed(1)
    model = ReweightedRNN(4, 12, 2)
    head = torch.nn.Linear(12, 3, bias=False)
    x, labels = torch.randn(30, 6, 4), torch.randint(0, 3, (30,))
    report = bounds.certify(model, x, head, labels, gamma=[0.1, 1.0, 4.0])
    # exact least over gamma <= the grid's; the head-free floor <= the trained head's least
    assert report.least_bound <= min(report.test_ramp_bound) + 1e-12
    assert report.head_free_floor <= report.least_bound + 1e-12
    codes = model(x)[0][:, -1].detach()
    assert report.head_free_floor == pytest.approx(bounds.ramp_bound_floor(
        codes.norm(dim=1), report.rademacher, 30))
    l2 = sorted(math.sqrt(sum(v * v for v in row)) for row in codes.tolist())
    assert report.code_ratio == pytest.approx(l2[14] / report.rademacher)  # median of 30
    with pytest.raises(ValueError, match="bias"):
        bounds.certify(model, x, torch.nn.Linear(12, 3), labels)
    assert report.rho == pytest.approx(float(bounds.head_lipschitz(head.weight.detach())))
    for train, gap, total in zip(report.train_ramp_loss, report.classification_gap,
                                 report.test_ramp_bound, strict=True):
        assert total == pytest.approx(train + gap)
    assert report.train_ramp_loss == sorted(report.train_ramp_loss)  # grows with gamma
    assert report.classification_gap == sorted(report.classification_gap, reverse=True)
    sista = bounds.certify(SistaRNN(4, 12, 2), x)
    assert sista.rademacher is None and len(sista.step_rademacher) == 6
    with pytest.raises(ValueError, match="unfolding RNN"):
        bounds.certify(torch.nn.GRU(4, 12), x)


def _phi_min_on_grid(r, m, delta):
    """min over a dense grid of t of mean_i (1 - r_i / t)_+ + 1 / t, by brute force."""
    best = 1.0
    for t in torch.logspace(-3, 3, 20001, dtype=torch.float64).tolist():
        best = min(best, sum(max(0.0, 1 - ri / t) for ri in r) / m + 1 / t)
    return best + 4 * bounds.confidence_term(m, delta)


def _eq18(M, rho, R, m, gamma, delta=0.05):
    return float((1 - M / gamma).clamp(0, 1).mean()) + bounds.classification_gap(
        R, rho, gamma, m, delta)


def test_least_ramp_bound_against_a_dense_gamma_grid():
    M = rand(50) * 2 + 1.0  # mostly positive margins, a few negative
    value, gamma = bounds.least_ramp_bound(M, 0.01, 1.5, 50)
    assert value == pytest.approx(_eq18(M, 1.5, 0.01, 50, gamma))
    assert gamma in M.tolist()
    grid = min(_eq18(M, 1.5, 0.01, 50, g) for g in torch.logspace(-3, 3, 20001).tolist())
    assert value <= grid + 1e-12 and grid - value < 1e-3
    # nothing beats the gamma -> inf limit 1 + confidence term when R_S is large
    c = 4 * bounds.confidence_term(50, 0.05)
    assert bounds.least_ramp_bound(M, 10.0, 1.5, 50) == (pytest.approx(1 + c), math.inf)
    assert bounds.least_ramp_bound(-M.abs(), 0.01, 1.5, 50)[0] == pytest.approx(1 + c)


def test_sample_size_to_certify():
    # one margin M = 4, rho R_S = 1 at m = 1: at m' the bound is 2 / (4 sqrt(m'))
    # + 4 sqrt(2 log 80 / m') = 12.34 / sqrt(m') at gamma = M, below 1 from m' = 153 on
    slope = 0.5 + 4 * math.sqrt(2 * math.log(80))
    need = bounds.sample_size_to_certify(torch.tensor([4.0]), 1.0, 1.0, 1)
    assert need == math.floor(slope ** 2) + 1 == 153
    assert bounds.sample_size_to_certify(torch.tensor([-1.0]), 1.0, 1.0, 1) is None
    # at the size it names the bound (R_S rescaled by sqrt(30 / m')) is below 1, one less not
    M = rand(30) + 0.8
    need = bounds.sample_size_to_certify(M, 2.0, 1.0, 30)

    def bound_at(size):
        R = 2.0 * math.sqrt(30 / size)
        value = bounds.least_ramp_bound(M, R, 1.0, 30)[0]
        return value - 4 * bounds.confidence_term(30, 0.05) + 4 * bounds.confidence_term(size, 0.05)

    assert bound_at(need) < 1 <= bound_at(need - 1)


def test_ramp_bound_floor_closed_forms_and_brute_force():
    c = 4 * bounds.confidence_term(1, 0.05)
    # one sample: phi(t) = (1 - r / t)_+ + 1 / t is least at t = r, 1 / r
    assert bounds.ramp_bound_floor(torch.tensor([4.0]), 2.0, 1) == pytest.approx(0.5 + c)
    assert bounds.ramp_bound_floor(torch.tensor([1.0]), 2.0, 1) == pytest.approx(1 + c)
    norms = rand(9).abs() * 3
    floor = bounds.ramp_bound_floor(norms, 1.5, 9, 0.1)
    assert floor == pytest.approx(_phi_min_on_grid((norms / 1.5).tolist(), 9, 0.1), abs=1e-3)
    with pytest.raises(ValueError, match="9 training samples"):
        bounds.ramp_bound_floor(norms[:5], 1.5, 9)


def test_ramp_bound_floor_is_attained_and_never_beaten():
    # h_i = +-v with labels by sign and the head Y = [u; -u], u || v: every margin is the
    # largest Cauchy-Schwarz allows (2 rho ||v||_2), so at gamma = 2 rho ||v||_2 eq. 18 equals
    # the floor R_S / ||v||_2 + confidence term; ||v||_inf or a halved rho would not.
    v = torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64)
    sign = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    codes, labels = sign[:, None] * v, (sign < 0).long()
    Y = torch.stack([v, -v]) / v.norm() * 0.7
    rho, R, m = float(bounds.head_lipschitz(Y)), 2.0, 6
    gamma = 2 * rho * float(v.norm())
    attained = (float(bounds.ramp_loss(codes @ Y.T, labels, gamma).mean())
                + bounds.classification_gap(R, rho, gamma, m))
    floor = bounds.ramp_bound_floor(codes.norm(dim=1), R, m)
    assert attained == pytest.approx(floor)
    assert floor == pytest.approx(R / float(v.norm()) + 4 * bounds.confidence_term(m, 0.05))
    # random heads (row-l1 and row-l2 rho alike) on random codes never go below the floor
    codes, labels = rand(40, 5), torch.randint(0, 3, (40,), generator=G)
    floor = bounds.ramp_bound_floor(codes.norm(dim=1), 0.8, 40)
    for _ in range(200):
        Y = rand(3, 5) * torch.rand(3, 5, generator=G, dtype=torch.float64).lt(0.5)
        rho = float(bounds.head_lipschitz(Y))
        for gamma in torch.logspace(-2, 2, 17).tolist():
            value = (float(bounds.ramp_loss(codes @ Y.T, labels, gamma).mean())
                     + bounds.classification_gap(0.8, rho, gamma, 40))
            assert value >= floor - 1e-12


def test_project_rows_l1():
    M = rand(6, 5) * 2
    P = bounds.project_rows_l1(M, 1.5)
    norms = P.abs().sum(dim=1)
    assert (norms <= 1.5 + 1e-12).all()
    outside = M.abs().sum(dim=1) > 1.5
    assert torch.allclose(norms[outside], torch.full_like(norms[outside], 1.5))
    assert torch.equal(P[~outside], M[~outside])
    # the projection is the closest point: no random point of the ball is closer
    for _ in range(200):
        Q = bounds.project_rows_l1(P + 0.3 * rand(6, 5), 1.5)
        assert ((M - Q).norm(dim=1) >= (M - P).norm(dim=1) - 1e-12).all()


def test_bound_sits_above_a_monte_carlo_rademacher_estimate():
    # tiny reweighted-style class: d = 2, T = 3, h = 3, n = 2, prox activations with
    # side information P h_{t-1} (P = I), free W_l, U_l in row-l1 balls; f = first unit of h_T
    m, T, n, h = 8, 3, 2, 3
    alphas, betas = [1.2, 0.9], [1.0, 0.8]
    x = rand(m, T, n)

    def f(weights):
        W1, W2, U1, U2 = weights
        h_prev = torch.zeros(m, h, dtype=torch.float64)
        for t in range(T):
            z = prox_l1l1(h_prev @ W1.T + x[:, t] @ U1.T, 0.05, 0.02, h_prev)
            z = prox_l1l1(z @ W2.T + x[:, t] @ U2.T, 0.05, 0.02, h_prev)
            h_prev = z
        return h_prev[:, 0]

    init = [rand(h, h), rand(h, h), rand(h, n), rand(h, n)]
    estimate = bounds.rademacher_estimate(f, init, alphas + betas, m, draws=10, steps=100)
    bound = bounds.unfolding_rademacher(alphas, betas, bounds.sequence_rms_bound(x), 0.0, n,
                                        h, m, T)
    assert estimate > 0.3  # the sup is found: a non-trivial lower estimate
    assert bound > estimate


def test_bound_regularizer_by_hand():
    torch.manual_seed(3)
    model = ReweightedRNN(4, 6, 2)
    ew = model.effective_weights()
    rows = [max(sum(abs(v) for v in row) for row in M.tolist()) for M in ew["W"] + ew["U"]]
    assert float(bounds.bound_regularizer(model).detach()) == pytest.approx(rows[0] + rows[1])
    got = bounds.bound_regularizer(model, 0.5, 2.0)
    assert float(got.detach()) == pytest.approx(0.5 * (rows[0] + rows[1])
                                                + 2.0 * (rows[2] + rows[3]))
    got.backward()
    assert model.Z.grad.abs().sum() > 0


def test_bound_falls_as_the_regulariser_grows():
    x = torch.randn(64, 6, 4, generator=torch.Generator().manual_seed(2))
    target = x.roll(1, dims=2).cumsum(dim=1) * 0.3
    results = []
    for lam in (0.0, 0.05, 0.5):
        torch.manual_seed(0)
        model = ReweightedRNN(4, 8, 2)
        decoder = torch.nn.Linear(8, 4)
        opt = torch.optim.Adam([*model.parameters(), *decoder.parameters()], lr=1e-2)
        for _ in range(60):
            loss = (decoder(model(x)[0]) - target).square().mean()
            loss = loss + lam * bounds.bound_regularizer(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
        results.append(bounds.certify(model, x).rademacher)
    assert results[0] > results[1] > results[2]


def test_paper_002_theorem_2_by_hand_and_from_a_torch_rnn():
    B_U, B_V, B_W, B_x, dx, dh, dy, t, m, g = 0.9, 2.0, 1.5, 3.0, 4, 8, 5, 10, 1000, 0.5
    d = math.sqrt(dx * dh + dh * dh + dh * dy)
    G = (B_U ** t - 1) / (B_U - 1)
    expected = d * B_V * min(math.sqrt(d), B_x * B_W * G) \
        * math.sqrt(math.log(t * math.sqrt(d * m) * G)) / (math.sqrt(m) * g)
    got = bounds.rnn_complexity_thm2(B_U, B_V, B_W, B_x, dx, dh, dy, t, m, g)
    assert math.isclose(got, expected)
    torch.manual_seed(0)
    rnn, V = torch.nn.RNN(4, 8, batch_first=True, bias=False), torch.randn(5, 8)
    x = torch.randn(20, 10, 4)
    out = bounds.rnn_bounds(rnn, V, x, gamma=1.0)
    assert math.isclose(out["B_U"], torch.linalg.svdvals(rnn.weight_hh_l0.detach())[0].item(),
                        rel_tol=1e-5)
    assert out["B_x"] == pytest.approx(x.norm(dim=2).max().item())
    assert all(out[k] > 0 for k in ("thm2", "thm3_bound3", "thm3_bound4"))


def test_paper_002_lstm_gates_and_constants():
    beta, theta = bounds.lstm_beta_theta(0.5, 0.4, 0.3, 2.0, 0.1, 0.2, 0.3)
    assert math.isclose(beta, 0.5 + 2.0 * 0.4 * 0.3) and math.isclose(theta, beta + 0.6)
    beta, theta = bounds.mgu_beta_theta(0.5, 0.6, 2.0, 0.1)
    assert math.isclose(beta, 0.6 + 2.0 * 0.25) and math.isclose(theta, beta + 0.2 + 0.2)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 6, batch_first=True)
    out = bounds.lstm_bound(lstm, torch.randn(2, 6), torch.randn(10, 7, 3), gamma=1.0)
    B_Uc = torch.linalg.svdvals(lstm.weight_hh_l0.detach().chunk(4)[2])[0].item()
    assert 0 < out["beta"] < 1 + B_Uc and out["thm5"] > 0


def test_fisher_rao_norm_against_explicit_matrix_powers():
    U, W, V = rand(5, 3), rand(5, 5) * 0.4, rand(4, 5)
    x = rand(7, 6, 3)
    L = 6
    values = []
    for xi in x:
        tau = torch.stack([V @ torch.linalg.matrix_power(W, L - 1 - j) @ U @ xi[j]
                           for j in range(L)], dim=1)  # k x L
        c = torch.arange(L + 1, 1, -1, dtype=torch.float64)  # (L+1, L, ..., 2)
        values.append(((tau @ c) ** 2).max())
    expected = torch.stack(values).mean().sqrt()
    assert torch.allclose(bounds.fisher_rao_norm(U, W, V, x), expected)


@pytest.mark.parametrize("b", [0.3, 1.0, 1.7])
def test_lambda_factor_is_a_weighted_geometric_sum(b):
    L = 9
    assert math.isclose(bounds.lambda_factor(b, L), sum(i * b ** (i - 1) for i in range(1, L + 1)))


def test_fisher_rao_bound_and_its_noise_version():
    U, W, V = rand(6, 2) * 0.3, rand(6, 6) * 0.1, rand(3, 6) * 0.3
    x = rand(200, 4, 2)
    labels = torch.randint(0, 3, (200,), generator=G)
    clean = bounds.fisher_rao_bound(U, W, V, x, labels, margin=0.5)
    assert clean["bound"] == pytest.approx(clean["empirical_margin_error"] + clean["gap"])
    noisy_x = x + 0.1 * rand(200, 4, 2)
    noisy = bounds.fisher_rao_bound(U, W, V, noisy_x, labels, margin=0.5, noise_std=0.1,
                                    x_clean=x)
    assert noisy["gap"] > 0 and noisy["bound"] >= noisy["empirical_margin_error"]
    # rank-deficient data: Thm 2 is vacuous, Thm 3's sigma^2 makes it finite
    flat = x[:5]
    assert bounds.fisher_rao_rademacher(1.0, 1.0, 1.0, 0.5, flat) == math.inf
    assert math.isfinite(bounds.fisher_rao_rademacher(1.0, 1.0, 1.0, 0.5, flat, 0.01))


def test_bound_plots(tmp_path):
    from unfoldrnn import plots

    torch.manual_seed(1)
    model = ReweightedRNN(4, 12, 2)
    x, labels = torch.randn(30, 6, 4), torch.randint(0, 3, (30,))
    report = bounds.certify(model, x, torch.nn.Linear(12, 3, bias=False), labels)
    assert len(report.gammas) == 8
    for path in (plots.bound_vs_gamma(report, tmp_path / "gamma.png"),
                 plots.bound_vs_T(tmp_path / "T.png", report, T_max=50)):
        assert path.stat().st_size > 1000


def test_the_bound_vs_T_figure_draws_the_runs_own_bound(monkeypatch, tmp_path):
    """The curve is eq. 15 at the run's own norms (was a fixed Lambda_0 = 0.9)."""
    import matplotlib.axes

    from unfoldrnn import plots

    model = ReweightedRNN(4, 12, 2)
    report = bounds.certify(model, torch.randn(30, 6, 4))
    drawn = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, x, y, *a, **k: drawn.append((list(x), list(y)))
                        or original(self, x, y, *a, **k))
    plots.bound_vs_T(tmp_path / "T.png", report, T_max=20)
    Ts, ours = drawn[0]
    expected = [bounds.unfolding_rademacher(report.alphas, report.betas, report.B_x,
                                            report.h0_norm, report.n, report.h, report.m, T)
                for T in Ts]
    assert ours == pytest.approx([v / expected[0] for v in expected])
    assert ours[5] * expected[0] == pytest.approx(report.rademacher)  # T = 6, the run's


def test_paper_002_bounds_3_4_and_gated_by_hand():
    B_U, B_V, B_W, B_x, dx, dh, dy, t, m, g = 1.0, 2.0, 1.5, 3.0, 4, 8, 5, 10, 1000, 0.5
    M_U, M_V, M_W, F_U, F_V, F_W = 7.0, 6.0, 5.0, 3.0, 2.5, 2.0
    d = math.sqrt(dx * dh + dh * dh + dh * dy)
    G = t  # beta = rho_h B_U = 1
    bound3 = (B_V * B_W * B_x) * (M_U + M_V + M_W) * t * G * math.sqrt(math.log(d)) \
        * math.log(math.sqrt(d) * m) / (math.sqrt(m) * g)
    assert math.isclose(bounds.rnn_complexity_bound3(B_U, B_V, B_W, M_U, M_V, M_W, B_x, dx, dh,
                                                     dy, t, m, g), bound3)
    lam = min(math.sqrt(d), B_x * B_W * G)
    bound4 = (lam * B_U + B_x * B_W) * G * math.sqrt(d * math.log(d) * (F_U ** 2 + F_W ** 2
                                                                         + F_V ** 2)) \
        / (math.sqrt(m) * g)
    assert math.isclose(bounds.rnn_complexity_bound4(B_U, B_V, B_W, F_U, F_V, F_W, B_x, dx, dh,
                                                     dy, t, m, g), bound4)
    beta, theta, dd = 0.5, 0.8, 20.0
    gated = dd * B_V * min(math.sqrt(dd), B_W * B_x * (1 - beta ** t) / (1 - beta)) \
        * math.sqrt(math.log((1 - theta ** t) / (1 - theta) * dd * math.sqrt(m))) \
        / (math.sqrt(m) * g)
    assert math.isclose(bounds.gated_complexity(B_V, B_W, B_x, beta, theta, dd, t, m, g), gated)


def test_fisher_rao_rademacher_by_hand():
    x = rand(30, 3, 2)  # n = 30 sequences, L = 3, d = 2
    X = x.reshape(30, 6).T  # [L d, n]
    lam = torch.linalg.eigvalsh(X @ X.T / 30)[0].item()
    r, bU, bV, bW = 2.0, 1.5, 0.7, 0.5
    X_T_1 = X.T.abs().sum(dim=0).max().item()  # ||X^T||_1: max absolute column sum of X^T
    Lam = 1 + 2 * bW + 3 * bW ** 2
    expected = r * X.norm().item() / 60 / math.sqrt(lam) + bV * bU * X_T_1 * Lam / 30
    assert math.isclose(bounds.fisher_rao_rademacher(r, bU, bV, bW, x), expected, rel_tol=1e-9)


def test_learning_curves_show_one_epoch_and_judge_the_bound_by_the_tasks_loss_range(
        monkeypatch, tmp_path):
    from matplotlib.ticker import MaxNLocator

    from unfoldrnn import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    row = {"epoch": 1, "train_loss": 2.0, "val_loss": 2.5, "val_psnr": 20.0,
           "rademacher_bound": 10.0}
    for loss_range in (15.3, 100.0):
        plots.learning_curves([row], tmp_path / "curves.png", loss_range=loss_range)
    vacuous, informative = figures
    assert vacuous.axes[0].lines[0].get_marker() == "o"  # one epoch is a visible dot
    assert "15.3" in vacuous.axes[2].get_title() and "vacuous" in vacuous.axes[2].get_title()
    assert "vacuous" not in informative.axes[2].get_title()  # 2 R_S = 20 < 100
    locators = [ax.xaxis.get_major_locator() for ax in vacuous.axes]
    assert all(isinstance(k, MaxNLocator) and k._integer for k in locators)  # whole epochs
