"""Matrix norms and data statistics used by the bounds (papers 000-003)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def norm_1_inf(M: Tensor) -> Tensor:
    """||M||_{1,inf} = max_j ||row_j(M)||_1, the max row l1 norm (paper 000 Thm 3.3).

    It equals the induced inf-norm and paper 003's ||M^T||_1 (max absolute row sum).
    """
    return M.abs().sum(dim=1).max()


def norm_2_1(M: Tensor) -> Tensor:
    """||M||_{2,1} = sum_i ||M_{:,i}||_2, the sum of column l2 norms (paper 002 Assumption 4)."""
    return M.norm(dim=0).sum()


def frobenius(M: Tensor) -> Tensor:
    """||M||_F (paper 002 Assumption 5)."""
    return M.norm()


def spectral_norm(M: Tensor) -> Tensor:
    """||M||_2, the largest singular value (paper 002 Assumption 2)."""
    return torch.linalg.matrix_norm(M, ord=2)


def _check_sequences(x: Tensor, name: str = "inputs") -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be [m, T, features], got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contain NaN or infinite values")


def sequence_rms_bound(x: Tensor) -> Tensor:
    """B = max_t ||X_t||_{2,inf} / sqrt(m) for sequences x [m, T, n] (paper 000 Thm 3.3).

    X_t in R^{n x m} holds the m samples at time t as columns and ||X_t||_{2,inf} =
    max_k sqrt(sum_i x_{t,i,k}^2), so B = max_{t,k} sqrt(mean_i x_{t,i,k}^2). Applied to the
    inputs this is B_x; applied to the states h_{t-1} it is B_{h_{t-1}} (paper 001 Sec. 3).
    """
    _check_sequences(x)
    return x.square().mean(dim=0).sqrt().amax()


def per_step_rms_bounds(h: Tensor) -> Tensor:
    """B_{h_t} = ||H_t||_{2,inf} / sqrt(m) for every t of states h [m, T, h] -> [T]."""
    _check_sequences(h, "states")
    return h.square().mean(dim=0).sqrt().amax(dim=1)


def max_l2_norm(x: Tensor) -> Tensor:
    """max_{i,t} ||x_{i,t}||_2, the B_x of paper 002 Assumption 1 (a different B_x)."""
    _check_sequences(x)
    return x.norm(dim=2).amax()


def second_moment_min_eig(x: Tensor) -> Tensor:
    """lambda_min(E[x x^T]) for flattened sequences x [m, L, d] -> R^{L d} (paper 003 Thm 1),
    with the expectation replaced by the sample mean."""
    _check_sequences(x)
    flat = x.reshape(x.shape[0], -1).double()
    return torch.linalg.eigvalsh(flat.T @ flat / flat.shape[0])[0].to(x.dtype)


def geometric_sum(beta: float, t: int) -> float:
    """(beta^t - 1) / (beta - 1) = 1 + beta + ... + beta^(t-1); t when beta = 1; inf on overflow."""
    beta = float(beta)
    if abs(beta - 1.0) < 1e-12:
        return float(t)
    try:
        return (beta ** t - 1.0) / (beta - 1.0)
    except OverflowError:
        return math.inf
