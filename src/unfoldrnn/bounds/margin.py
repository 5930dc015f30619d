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
    """l_gamma = r_gamma(-M(y, c)) per sample (paper 000 eq. 17): r_gamma(x) = 0 for
    x < -gamma, 1 + x / gamma on [-gamma, 0], 1 for x > 0. Bounded by 1, 1/gamma-Lipschitz."""
    if not gamma > 0:
        raise ValueError(f"the margin gamma must be positive, got {gamma}")
    return (1 - margins(scores, labels) / gamma).clamp(0, 1)


def classification_gap(rademacher: float, rho: float, gamma: float, m: int,
                       delta: float = 0.05) -> float:
    """Paper 000 Prop. 3.4, eq. 18: L_{D,gamma} - L_{S,gamma} <= (2 rho / gamma) R_S
    + 4 sqrt(2 log(4/delta) / m), with rho the Lipschitz constant of the linear head."""
    if not gamma > 0:
        raise ValueError(f"the margin gamma must be positive, got {gamma}")
    return 2 * float(rho) / gamma * float(rademacher) + 4 * confidence_term(m, delta)


def head_lipschitz(Y: Tensor) -> Tensor:
    """rho = min(max_i ||Y_i||_2, max_i ||Y_i||_1) over the rows Y_i (paper 000 Prop. 3.4)."""
    return torch.minimum(Y.norm(dim=1).max(), Y.abs().sum(dim=1).max())
