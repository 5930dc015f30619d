"""Losses and the generic Rademacher generalization bounds (paper 000 eq. 14, 17, 18)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_m_delta(m: int, delta: float) -> None:
    if not isinstance(m, int) or m <= 0:
        raise ValueError(f"the sample size m must be a positive integer, got {m!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")


def confidence_term(m: int, delta: float) -> float:
    """sqrt(2 log(4/delta) / m), the deviation term of paper 000 eq. 14 and 18."""
    _check_m_delta(m, delta)
    return math.sqrt(2 * math.log(4 / delta) / m)


def generalization_gap(rademacher: float, m: int, delta: float = 0.05, eta: float = 1.0) -> float:
    """Paper 000 eq. 14 (Shalev-Shwartz & Ben-David Thm 26.5): for a 1-Lipschitz loss bounded
    by eta, L_D(f) - L_S(f) <= 2 R_S + 4 eta sqrt(2 log(4/delta) / m), w.p. >= 1 - delta."""
    if not eta > 0:
        raise ValueError(f"the loss bound eta must be positive, got {eta}")
    return 2 * float(rademacher) + 4 * eta * confidence_term(m, delta)


def margins(scores: Tensor, labels: Tensor) -> Tensor:
    """M(y, c) = y[c] - max_{c' != c} y[c'] for scores [m, classes] and labels [m]."""
    if scores.dim() != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"scores must be [m, classes] and labels [m], got "
                         f"{tuple(scores.shape)} and {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError("labels must lie in [0, number of classes)")
    true = scores.gather(1, labels[:, None])[:, 0]
    others = scores.scatter(1, labels[:, None], float("-inf"))
    return true - others.amax(dim=1)


def ramp_loss(scores: Tensor, labels: Tensor, gamma: float) -> Tensor:
    r"""The ramp loss :math:`\ell_\gamma = r_\gamma(-M(y, c))` per sample (paper 000 eq. 17):
    :math:`r_\gamma(x) = 0` for :math:`x < -\gamma`, :math:`1 + x / \gamma` on
    :math:`[-\gamma, 0]`, 1 for :math:`x > 0`. Bounded by 1, :math:`1/\gamma`-Lipschitz."""
    if not gamma > 0:
        raise ValueError(f"the margin gamma must be positive, got {gamma}")
    return (1 - margins(scores, labels) / gamma).clamp(0, 1)


def classification_gap(rademacher: float, rho: float, gamma: float, m: int,
                       delta: float = 0.05) -> float:
    r"""Paper 000 Prop. 3.4, eq. 18:
    :math:`L_{D,\gamma} - L_{S,\gamma} \le \frac{2 \rho}{\gamma} \mathcal{R}_S
    + 4 \sqrt{2 \log(4/\delta) / m}`, with :math:`\rho` the Lipschitz constant of the
    linear head."""
    if not gamma > 0:
        raise ValueError(f"the margin gamma must be positive, got {gamma}")
    return 2 * float(rho) / gamma * float(rademacher) + 4 * confidence_term(m, delta)


def head_lipschitz(Y: Tensor) -> Tensor:
    """rho = min(max_i ||Y_i||_2, max_i ||Y_i||_1) over the rows Y_i (paper 000 Prop. 3.4)."""
    return torch.minimum(Y.norm(dim=1).max(), Y.abs().sum(dim=1).max())


def _least_over_gamma(M: Tensor, gap_scale: float, m: int) -> tuple[float, float]:
    """min over gamma of mean_i r_gamma(-M_i) + gap_scale / gamma for sorted margins M.

    Between consecutive positive margins the value is a + (gap_scale - b) / gamma with a, b
    fixed: monotone, so the least value lies at some gamma = M_j > 0, or is the limit
    gamma -> inf, where every ramp loss -> 1 and the gap -> 0 (returned as (1, inf)).
    """
    positive = M[M > 0]
    if positive.numel() == 0:
        return 1.0, math.inf
    # at gamma = M_j: the samples with M_i <= 0 lose 1, those with 0 < M_i <= M_j lose
    # 1 - M_i / M_j, the rest nothing
    count = (m - positive.numel()) + torch.arange(1, positive.numel() + 1, dtype=M.dtype)
    values = (count - torch.cumsum(positive, 0) / positive) / m + gap_scale / positive
    j = int(values.argmin())
    return (float(values[j]), float(positive[j])) if float(values[j]) < 1 else (1.0, math.inf)


def _sorted_margins(margin_values: Tensor, m: int, rademacher: float, rho: float) -> Tensor:
    M = margin_values.detach().double().flatten()
    if M.numel() != m:
        raise ValueError(f"expected the {m} training samples' margins, got {M.numel()}")
    if not bool(torch.isfinite(M).all()):
        raise ValueError("margins must be finite")
    if not (float(rademacher) > 0 and float(rho) > 0):
        raise ValueError(f"R_S and rho must be positive, got {rademacher} and {rho}")
    return M.sort()[0]


def least_ramp_bound(margin_values: Tensor, rademacher: float, rho: float, m: int,
                     delta: float = 0.05) -> tuple[float, float]:
    """(the least bound on the test ramp loss over every margin gamma > 0, its gamma):
    inf_gamma mean_i r_gamma(-M_i) + classification_gap(R_S, rho, gamma, m, delta) for the
    training margins M_i (paper 000 eq. 18), exactly rather than on a grid; gamma = inf
    where no finite margin beats the limit 1 + 4 sqrt(2 log(4/delta) / m)."""
    M = _sorted_margins(margin_values, m, rademacher, rho)
    value, gamma = _least_over_gamma(M, 2 * float(rho) * float(rademacher), m)
    return value + 4 * confidence_term(m, delta), gamma


def sample_size_to_certify(margin_values: Tensor, rademacher: float, rho: float, m: int,
                           delta: float = 0.05, largest: int = 10 ** 12) -> int | None:
    """The least sample size m' at which the same margins, rho and norms would bring eq. 18
    below 1: R_S scales as 1 / sqrt(m) (the first factor of eq. 15; the norms and B_x kept)
    and the confidence term as 1 / sqrt(m'). A what-if for the data scale, not a bound;
    None if even ``largest`` samples would not do."""
    M = _sorted_margins(margin_values, m, rademacher, rho)
    scale = 2 * float(rho) * float(rademacher) * math.sqrt(m)

    def certifies(size: int) -> bool:
        least = _least_over_gamma(M, scale / math.sqrt(size), m)[0]
        return least + 4 * confidence_term(size, delta) < 1

    if not certifies(largest):
        return None
    low, high = 1, largest  # certifies(high), and the bound falls as m' grows
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if certifies(mid) else (mid + 1, high)
    return low


def ramp_bound_floor(code_norms: Tensor, rademacher: float, m: int,
                     delta: float = 0.05) -> float:
    """The least value paper 000 eq. 18 can take over every linear head Y (without bias) and
    every margin gamma, given the codes h_T of the m training samples.

    Any head has M(Y h_i, c) <= 2 rho ||h_i||_2 (Cauchy-Schwarz for the row-l2 rho, Hoelder
    with ||h_i||_inf <= ||h_i||_2 for the row-l1 rho), and eq. 18 grows as margins shrink, so
    the bound is at least ``least_ramp_bound`` of the margins 2 rho ||h_i||_2, where rho
    cancels: min_t mean_i (1 - r_i / t)_+ + 1 / t + confidence term, r_i = ||h_i||_2 / R_S.
    A floor >= 1 says no head trained on these codes can certify: the recurrence must change.
    """
    norms = code_norms.detach().double().flatten()
    if bool((norms < 0).any()):
        raise ValueError("code norms must be non-negative")
    return least_ramp_bound(2 * norms, rademacher, 1.0, m, delta)[0]
