"""Rademacher-complexity bounds of the deep-unfolding RNNs (paper 000 Sec. 3; paper 001 Sec. 3).

alphas[l] = ||W_l||_{1,inf}, betas[l] = ||U_l||_{1,inf} (the coupled, effective matrices,
``model.effective_weights()``), Lambda_l = prod_{k=l+1}^d alpha_k, Lambda_d = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .norms import geometric_sum


def _floats(values: Sequence) -> list[float]:
    out = [float(v) for v in values]
    if any(not math.isfinite(v) or v < 0 for v in out):
        raise ValueError(f"norms must be finite and non-negative, got {out}")
    return out


def lambdas(alphas: Sequence[float]) -> list[float]:
    r"""[Lambda_0, ..., Lambda_d] with :math:`\Lambda_l = \prod_{k=l+1}^d \alpha_k`
    (paper 000 Thm 3.3)."""
    alphas = _floats(alphas)
    out = [1.0]
    for a in reversed(alphas):
        out.append(out[-1] * a)
    return out[::-1]


def _log_factor(d: int, T: int, n: int, h: int, m: int) -> float:
    for name, v in (("d", d), ("T", T), ("n", n), ("h", h), ("m", m)):
        if not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return math.sqrt(2 * (4 * d * T * math.log(2) + math.log(n) + math.log(h)) / m)


def unfolding_rademacher(alphas, betas, B_x, h0_norm, n, h, m, T) -> float:
    r"""Paper 000 Thm 3.3, eq. 15 (= paper 001 Thm 3.1, eq. 14):

    .. math::

        \mathcal{R}_S(F_{d,T}) \le \sqrt{\frac{2 (4 d T \log 2 + \log n + \log h)}{m}}
        \sqrt{\Big(\sum_l \beta_l \Lambda_l\Big)^2
        \Big(\frac{\Lambda_0^T - 1}{\Lambda_0 - 1}\Big)^2 B_x^2
        + \Lambda_0^{2T} \|h_0\|_\infty^2}.

    For l1-l1-RNN (Cor. 3.3.1, eq. 16) pass the tied norms alphas = [a1, a2, .., a2],
    betas = [b1] * d: the corollary is this special case (its OCR shows a product of roots).
    """
    alphas, betas = _floats(alphas), _floats(betas)
    if len(alphas) != len(betas) or not alphas:
        raise ValueError("alphas and betas must list one norm per layer")
    lam = lambdas(alphas)
    input_gain = sum(b * lam[k + 1] for k, b in enumerate(betas))
    growth = geometric_sum(lam[0], T)
    try:
        state = lam[0] ** T * float(h0_norm)  # the root of Lambda_0^(2T) ||h0||^2
    except OverflowError:
        state = math.inf
    # sqrt(a^2 + b^2) as hypot: no overflow while the result itself is finite
    return _log_factor(len(alphas), T, n, h, m) * math.hypot(
        input_gain * growth * float(B_x), state)


def reweighted_step_rademacher(alphas, betas, B_x, B_h, n, h, m) -> float:
    """Paper 001 Cor. 3.1.1: one time step of reweighted-RNN, given the previous states'
    B_{h_{t-1}}: sqrt(2 (4 d log 2 + log n + log h) / m)
    * sqrt((sum_l beta_l Lambda_l)^2 B_x^2 + Lambda_0^2 B_h^2)."""
    alphas, betas = _floats(alphas), _floats(betas)
    lam = lambdas(alphas)
    input_gain = sum(b * lam[k + 1] for k, b in enumerate(betas))
    return _log_factor(len(alphas), 1, n, h, m) * math.sqrt(
        (input_gain * float(B_x)) ** 2 + (lam[0] * float(B_h)) ** 2)


def l1l1_step_rademacher(alpha1, alpha2, beta1, d, B_x, B_h, n, h, m) -> float:
    """Paper 001 Cor. 3.1.2: sqrt(2 (4 d log 2 + log n + log h) / m)
    * sqrt(beta_1^2 ((alpha_2^d - 1)/(alpha_2 - 1))^2 B_x^2 + alpha_1^2 alpha_2^(2(d-1)) B_h^2)."""
    a1, a2, b1 = _floats([alpha1, alpha2, beta1])
    return _log_factor(d, 1, n, h, m) * math.sqrt(
        (b1 * geometric_sum(a2, d) * float(B_x)) ** 2
        + (a1 * a2 ** (d - 1) * float(B_h)) ** 2)


def sista_step_rademacher(alpha1, alpha2, beta1, beta2, d, B_x, B_h, n, h, m) -> float:
    """Paper 001 Cor. 3.1.3, with alpha_1 = ||W_1||, alpha_2 = ||S||, beta_1 = ||V||,
    beta_2 = ||(lambda2/alpha) D^T F D|| (all ||.||_{1,inf}): sqrt(2 (4 d log 2 + log n +
    log h) / m) * sqrt(beta_1^2 G(alpha_2, d)^2 B_x^2
    + (alpha_1 alpha_2^(d-1) + beta_2 G(alpha_2, d-1))^2 B_h^2), G(a, k) = (a^k - 1)/(a - 1)."""
    a1, a2, b1, b2 = _floats([alpha1, alpha2, beta1, beta2])
    state_gain = a1 * a2 ** (d - 1) + b2 * geometric_sum(a2, d - 1)
    return _log_factor(d, 1, n, h, m) * math.sqrt(
        (b1 * geometric_sum(a2, d) * float(B_x)) ** 2 + (state_gain * float(B_h)) ** 2)
