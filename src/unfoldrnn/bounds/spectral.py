"""Spectral-norm bounds of vanilla RNN, MGU and LSTM (Chen, Li & Zhao; paper 002).

The theorems are O(.) statements. Every function here evaluates the expression inside the
O(.) with constant 1 and natural logarithms: a number to compare models and training runs
with, not a certified probability. ``complexity`` is the Rademacher-type term; the bound
on the test error is train ramp risk + complexity + sqrt(log(1/delta) / m).
B_x here is max_{i,t} ||x_{i,t}||_2 (paper 002 Assumption 1), not the B_x of paper 000.
"""

from __future__ import annotations

import math

from .norms import geometric_sum


def _size(*dims: int) -> float:
    return math.sqrt(sum(dims))


def _log(x: float) -> float:
    return math.log(x) if x > 1 else 0.0


def rnn_complexity_thm2(B_U, B_V, B_W, B_x, d_x, d_h, d_y, t, m, gamma, rho_h=1.0,
                        rho_y=1.0, b=1.0) -> float:
    """Paper 002 Thm 2 / Lemma 4, the term inside O():
    d rho_y B_V min{b sqrt(d), rho_h B_x B_W G} sqrt(log(t sqrt(d m) G)) / (sqrt(m) gamma),
    d = sqrt(d_x d_h + d_h^2 + d_h d_y), G = (beta^t - 1)/(beta - 1), beta = rho_h B_U;
    b bounds the hidden activation (tanh: 1)."""
    d = _size(d_x * d_h, d_h * d_h, d_h * d_y)
    G = geometric_sum(rho_h * B_U, t)
    return (d * rho_y * B_V * min(b * math.sqrt(d), rho_h * B_x * B_W * G)
            * math.sqrt(_log(t * math.sqrt(d * m) * G)) / (math.sqrt(m) * gamma))


def rnn_complexity_bound3(B_U, B_V, B_W, M_U, M_V, M_W, B_x, d_x, d_h, d_y, t, m, gamma,
                          rho_h=1.0, rho_y=1.0) -> float:
    """Paper 002 Thm 3, bound (3), with the (2,1) norms M_* (Assumption 4):
    alpha (M_U + M_V + M_W) t G sqrt(log d) log(sqrt(d) m) / (sqrt(m) gamma),
    alpha = rho_h^2 rho_y B_V B_W B_x."""
    d = _size(d_x * d_h, d_h * d_h, d_h * d_y)
    alpha = rho_h ** 2 * rho_y * B_V * B_W * B_x
    G = geometric_sum(rho_h * B_U, t)
    return (alpha * (M_U + M_V + M_W) * t * G * math.sqrt(_log(d)) * _log(math.sqrt(d) * m)
            / (math.sqrt(m) * gamma))


def rnn_complexity_bound4(B_U, B_V, B_W, F_U, F_V, F_W, B_x, d_x, d_h, d_y, t, m, gamma,
                          rho_h=1.0, rho_y=1.0, b=1.0) -> float:
    """Paper 002 Thm 3, bound (4), with the Frobenius norms F_* (Assumption 5):
    rho_y rho_h (lambda_t B_U + B_x B_W) G sqrt(d ln(d) (F_U^2 + F_W^2 + F_V^2)) / (sqrt(m) gamma),
    lambda_t = min{b sqrt(d), rho_h B_x B_W G}."""
    d = _size(d_x * d_h, d_h * d_h, d_h * d_y)
    G = geometric_sum(rho_h * B_U, t)
    lam = min(b * math.sqrt(d), rho_h * B_x * B_W * G)
    return (rho_y * rho_h * (lam * B_U + B_x * B_W) * G
            * math.sqrt(d * _log(d) * (F_U ** 2 + F_W ** 2 + F_V ** 2)) / (math.sqrt(m) * gamma))


def gated_complexity(B_V, B_W_cand, B_x, beta, theta, d, t, m, gamma, rho_y=1.0) -> float:
    """Paper 002 Thm 4 (MGU) and Thm 5 (LSTM), the term inside O():
    d rho_y B_V min{sqrt(d), B_W B_x G(beta)} sqrt(log(G(theta) d sqrt(m))) / (sqrt(m) gamma),
    with d = sqrt(2 d_x d_h + 2 d_h^2 + d_h d_y) (MGU) or sqrt(4 d_x d_h + 4 d_h^2 + d_h d_y)
    (LSTM) and B_W the candidate's input matrix (W_h for MGU, W_c for LSTM)."""
    return (d * rho_y * B_V * min(math.sqrt(d), B_W_cand * B_x * geometric_sum(beta, t))
            * math.sqrt(_log(geometric_sum(theta, t) * d * math.sqrt(m)))
            / (math.sqrt(m) * gamma))


def confidence(m: int, delta: float) -> float:
    """sqrt(log(1/delta) / m), the deviation term of Thm 2-5 inside O()."""
    return math.sqrt(math.log(1 / delta) / m)


def mgu_beta_theta(r_max, one_minus_r_max, B_U_h, B_U_r) -> tuple[float, float]:
    """Paper 002 Thm 4: beta = max_j ||1 - r_j||_inf + B_{U_h} ||r_j||_inf^2 (here bounded
    by the two maxima over the data) and theta = beta + 2 B_{U_r} + B_{U_r} B_{U_h}."""
    beta = one_minus_r_max + B_U_h * r_max ** 2
    return beta, beta + 2 * B_U_r + B_U_r * B_U_h


def mgu_gate_bound(B_W_r: float, B_x: float, U_r_row_sum: float) -> float:
    """Paper 002 Sec. 5, after Thm 4: with |h_t| <= 1 entrywise, ||r_t||_inf and
    ||1 - r_t||_inf are both at most 1 / (1 + exp(-B_{W_r} B_x - ||U_r||_1)), ||U_r||_1 the
    largest absolute row sum (a data-free bound on the gates)."""
    return 1 / (1 + math.exp(-B_W_r * B_x - U_r_row_sum))


def lstm_beta_theta(forget_max, input_max, output_max, B_U_c, B_U_g, B_U_r, B_U_o):
    """Paper 002 Thm 5 (its g = forget gate, r = input gate, o = output gate):
    beta = max_j ||g_j||_inf + B_{U_c} ||r_j||_inf ||o_j||_inf, theta = beta + B_{U_g} +
    B_{U_r} + B_{U_o}; the gate maxima are taken over the data."""
    beta = forget_max + B_U_c * input_max * output_max
    return beta, beta + B_U_g + B_U_r + B_U_o


def _spectral(M) -> float:
    import torch

    return float(torch.linalg.matrix_norm(M.detach().double(), ord=2))


def rnn_bounds(rnn, V, inputs, gamma: float, m: int | None = None) -> dict:
    """Thm 2 and both bounds of Thm 3 for a one-layer torch.nn.RNN (tanh: rho_h = b = 1) with
    output matrix V (y = V h_t, rho_y = 1) on inputs [m, t, d_x]. Values inside O(.).
    ``spectral_rnn_bound`` is the same report (named after what it computes)."""
    from .norms import max_l2_norm, norm_2_1

    if not (rnn.num_layers == 1 and not rnn.bidirectional):
        raise ValueError("paper 002's bounds are for a single-layer, unidirectional RNN")
    if getattr(rnn, "nonlinearity", "tanh") != "tanh":
        raise ValueError("paper 002's rnn bounds here take sigma_h = tanh (|h| <= b = 1); a "
                         f"{rnn.nonlinearity} RNN has no such bound b: use a tanh RNN")
    if rnn.bias:
        raise ValueError("paper 002's vanilla RNN h_t = sigma(U h_(t-1) + W x_t) has no bias; "
                         "build torch.nn.RNN(..., bias=False)")
    U, W = rnn.weight_hh_l0.detach(), rnn.weight_ih_l0.detach()
    V = V.detach()
    m = inputs.shape[0] if m is None else m
    t, d_x = inputs.shape[1], inputs.shape[2]
    d_h, d_y = U.shape[0], V.shape[0]
    B_U, B_V, B_W = _spectral(U), _spectral(V), _spectral(W)
    B_x = float(max_l2_norm(inputs))
    common = dict(d_x=d_x, d_h=d_h, d_y=d_y, t=t, m=m, gamma=gamma)
    return {
        "B_U": B_U, "B_V": B_V, "B_W": B_W, "B_x": B_x,
        "thm2": rnn_complexity_thm2(B_U, B_V, B_W, B_x, **common),
        "thm3_bound3": rnn_complexity_bound3(
            B_U, B_V, B_W, float(norm_2_1(U)), float(norm_2_1(V)), float(norm_2_1(W)), B_x,
            **common),
        "thm3_bound4": rnn_complexity_bound4(
            B_U, B_V, B_W, float(U.norm()), float(V.norm()), float(W.norm()), B_x, **common),
    }


spectral_rnn_bound = rnn_bounds


def zhang_bound(B_U: float, B_V: float, B_W: float, d: float, t: int) -> float:
    """Zhang et al. 2018's PAC-Bayes bound for vanilla RNNs as paper 002 Sec. 6 lists it
    ("Bound 1", common log factors neglected): d t^2 B_V B_W max{1, B_U^t}."""
    return d * t ** 2 * B_V * B_W * max(1.0, B_U ** t)


def section6_bounds(U, V, W, t: int) -> dict:
    """Paper 002 Sec. 6 (Fig. 4): the four complexity bounds of a trained vanilla RNN
    h_t = tanh(U h_(t-1) + W x_t), y_t = V h_t, as the section lists them (common log factors
    in d and t neglected, d = the hidden size as the section takes it), with
    G = (B_U^t - 1) / (B_U - 1):

    ours (Thm 2):      d B_V min{sqrt(d), B_W G} sqrt(log G)
    bound 1 (Zhang):   d t^2 B_V B_W max{1, B_U^t}
    bound 2 (Thm 3 (3)): B_V B_W (M_U + M_V + M_W) t G
    bound 3 (Thm 3 (4)): (min{sqrt(d), B_W G} B_U + B_W) G sqrt(d (B_U,F^2 + B_W,F^2 + B_V,F^2))

    Also the norms the section prints: B_U, B_U,F, M_U and the stable rank B_U,F / B_U."""
    from .norms import norm_2_1

    U, V, W = (M.detach().double() for M in (U, V, W))
    d = U.shape[0]
    B_U, B_V, B_W = _spectral(U), _spectral(V), _spectral(W)
    F_U, F_V, F_W = (float(M.norm()) for M in (U, V, W))
    M_U, M_V, M_W = (float(norm_2_1(M)) for M in (U, V, W))
    G = geometric_sum(B_U, t)
    lam = min(math.sqrt(d), B_W * G)
    return {
        "B_U": B_U, "B_V": B_V, "B_W": B_W, "B_U_F": F_U, "M_U": M_U,
        "stable_rank": F_U / B_U, "d": d, "t": t,
        "ours": d * B_V * lam * math.sqrt(_log(G)),
        "bound1": zhang_bound(B_U, B_V, B_W, d, t),
        "bound2": B_V * B_W * (M_U + M_V + M_W) * t * G,
        "bound3": (lam * B_U + B_W) * G * math.sqrt(d * (F_U ** 2 + F_W ** 2 + F_V ** 2)),
    }


def mgu_bound(mgu, V, inputs, gamma: float, delta: float = 0.05) -> dict:
    """Paper 002 Thm 4 for a one-layer, bias-free MGU (``models.MGU``) with output matrix V
    (y_t = V h_t, rho_y = 1) on inputs [m, t, d_x], the term inside O() with constant 1, as
    for the other theorems here:

    d B_V min{sqrt(d), B_{W_h} B_x G(beta)} sqrt(log(G(theta) d sqrt(m))) / (sqrt(m) gamma)
    + sqrt(log(1/delta) / m),  G(a) = (a^t - 1) / (a - 1),  d = sqrt(2 d_x d_h + 2 d_h^2 +
    d_h d_y),

    beta = max_j (||1 - r_j||_inf + B_{U_h} ||r_j||_inf^2) with the gates r_j run on the data
    (the max over the samples as well as the steps j <= t), theta = beta + 2 B_{U_r} +
    B_{U_r} B_{U_h}. ``*_data_free`` replace both gate norms by ``mgu_gate_bound``.
    B_* are spectral norms; B_x = max_{i,t} ||x_{i,t}||_2."""
    import torch

    from .norms import max_l2_norm

    if mgu.num_layers != 1:
        raise ValueError("paper 002's Thm 4 is for a single-layer MGU")
    if mgu.bias:
        raise ValueError("paper 002's MGU r_t = sigma(W_r x_t + U_r h_(t-1)) has no bias; "
                         "build MGU(..., bias=False)")
    w = {k: v[0].detach().double() for k, v in mgu.effective_weights().items()}
    V = V.detach().double()
    m, t, d_x = inputs.shape
    d_h, d_y = w["U_h"].shape[0], V.shape[0]
    with torch.no_grad():
        r = mgu.gates(inputs)[0].double()  # [m, t, d_h]
    B = {k: _spectral(v) for k, v in w.items()}
    B_V, B_x = _spectral(V), float(max_l2_norm(inputs))
    per_step = (1 - r).abs().amax(-1) + B["U_h"] * r.abs().amax(-1) ** 2
    beta = float(per_step.max())
    gate = mgu_gate_bound(B["W_r"], B_x, float(w["U_r"].abs().sum(1).max()))
    beta_free = gate + B["U_h"] * gate ** 2
    d = _size(2 * d_x * d_h, 2 * d_h * d_h, d_h * d_y)

    def theta_of(b: float) -> float:
        return b + 2 * B["U_r"] + B["U_r"] * B["U_h"]

    def thm4(b: float) -> float:
        return gated_complexity(B_V, B["W_h"], B_x, b, theta_of(b), d, t, m, gamma) + \
            confidence(m, delta)

    return {"B_W_r": B["W_r"], "B_W_h": B["W_h"], "B_U_r": B["U_r"], "B_U_h": B["U_h"],
            "B_V": B_V, "B_x": B_x, "d": d, "t": t, "m": m, "gamma": gamma, "delta": delta,
            "r_max": float(r.max()), "one_minus_r_max": float((1 - r).max()),
            "beta": beta, "theta": theta_of(beta), "gate_bound": gate,
            "beta_data_free": beta_free, "theta_data_free": theta_of(beta_free),
            "thm4": thm4(beta), "thm4_data_free": thm4(beta_free)}


def conv_rnn_complexity(B_x: float, k: int, d: int, t: int, m: int, gamma: float) -> float:
    """Paper 002 Thm 6 (Appendix D), the term inside O():
    B_x k t sqrt(log(d t sqrt(m))) / (sqrt(m) gamma): linear in k and t, d only in the log
    (the filters' 3 k^2 parameters do not grow with d)."""
    return B_x * k * t * math.sqrt(_log(d * t * math.sqrt(m))) / (math.sqrt(m) * gamma)


def conv_rnn_bound(model, inputs, gamma: float, delta: float = 0.05, readout=None,
                   tolerance: float = 1e-5) -> dict:
    """Thm 6 for a ``models.ConvRNN`` on inputs [m, t, d] (inside O(), constant 1):
    ``conv_rnn_complexity`` + sqrt(log(1/delta) / m), B_x = max_{i,t} ||x_{i,t}||_2. The
    theorem needs Assumption 8 (F^T F = F F^T = I / k for U, W and the readout's V): checked
    to ``tolerance``, refused where it fails."""
    import torch

    from .norms import max_l2_norm

    k = model.kernel_size
    filters = dict(model.filter_matrices())
    if readout is not None:
        filters["V"] = readout.V.matrix()
    for name, F in filters.items():
        F = F.detach().double()
        eye = torch.eye(k, dtype=torch.float64) / k
        error = max(float((F.T @ F - eye).abs().max()), float((F @ F.T - eye).abs().max()))
        if error > tolerance:
            raise ValueError(f"Assumption 8 fails for {name}: ||{name}^T {name} - I/k||_max = "
                             f"{error:.3g} > {tolerance}")
    m, t, d = inputs.shape
    B_x = float(max_l2_norm(inputs))
    complexity = conv_rnn_complexity(B_x, k, d, t, m, gamma)
    return {"B_x": B_x, "k": k, "d": d, "t": t, "m": m, "gamma": gamma, "delta": delta,
            "complexity": complexity, "thm6": complexity + confidence(m, delta)}


def lstm_bound(lstm, V, inputs, gamma: float) -> dict:
    """Thm 5 for a one-layer torch.nn.LSTM with output matrix V on inputs [m, t, d_x]: the
    gates are run on the data to bound beta and theta. Value inside O(.)."""
    import torch

    from .norms import max_l2_norm

    if not (lstm.num_layers == 1 and not lstm.bidirectional):
        raise ValueError("paper 002's bound is for a single-layer, unidirectional LSTM")
    W_i, W_f, W_c, W_o = lstm.weight_ih_l0.detach().chunk(4)
    U_i, U_f, U_c, U_o = lstm.weight_hh_l0.detach().chunk(4)
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach() if lstm.bias else 0
    m, t, d_x = inputs.shape
    d_h = U_i.shape[0]
    h = inputs.new_zeros(m, d_h)
    c = inputs.new_zeros(m, d_h)
    gate_max = torch.zeros(3)  # forget, input, output
    for step in range(t):
        pre = inputs[:, step] @ lstm.weight_ih_l0.detach().T + h @ lstm.weight_hh_l0.T + bias
        i, f, g, o = pre.detach().chunk(4, dim=1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        c = f * c + i * torch.tanh(g)
        h = o * torch.tanh(c)
        gate_max = torch.maximum(gate_max, torch.stack([f.max(), i.max(), o.max()]))
    beta, theta = lstm_beta_theta(*gate_max.tolist(), _spectral(U_c), _spectral(U_f),
                                  _spectral(U_i), _spectral(U_o))
    d = _size(4 * d_x * d_h, 4 * d_h * d_h, d_h * V.shape[0])
    B_x = float(max_l2_norm(inputs))
    return {"beta": beta, "theta": theta, "B_x": B_x,
            "thm5": gated_complexity(_spectral(V), _spectral(W_c), B_x, beta, theta, d, t, m,
                                     gamma)}
