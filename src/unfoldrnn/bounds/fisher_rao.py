"""Fisher-Rao-norm bounds of ReLU RNNs (Tu, He & Tao, ICLR 2020; paper 003).

The RNN is g_t = U x_t + W h_{t-1}, h_t = relu(g_t), y_L = V h_L (no biases), on sequences
x [n, L, d]; the data matrix X in R^{L d x n} holds the flattened sequences as columns.
beta_* bound ||M^T||_1, the max absolute row sum of M (= ``norm_1_inf``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .norms import norm_1_inf, second_moment_min_eig


def fisher_rao_norm(U: Tensor, W: Tensor, V: Tensor, x: Tensor) -> Tensor:
    """||theta||_fs = sqrt(E[max_i ((tau(theta) c)_i)^2]) (paper 003 eq. 2), with
    tau(theta) = (V W^{L-1} U x_1, ..., V U x_L) and c = (L+1, L, ..., 2)^T, so
    tau c = sum_j (L + 2 - j) V W^{L-j} U x_j; the mean over the n sequences replaces E."""
    if x.dim() != 3:
        raise ValueError(f"x must be [n, L, d], got shape {tuple(x.shape)}")
    L = x.shape[1]
    acc = x.new_zeros(x.shape[0], W.shape[0])
    for j in range(L):  # Horner: acc <- W acc + (L + 1 - j) U x_j (0-based j)
        acc = acc @ W.T + (L + 1 - j) * (x[:, j] @ U.T)
    return (acc @ V.T).square().amax(dim=1).mean().sqrt()


def lambda_factor(beta_W: float, L: int) -> float:
    """Lambda of paper 003 Thm 1: (1/(1 - b)) ((1 - b^L)/(1 - b) - L b^L) for b != 1 and
    (L + L^2) / 2 for b = 1; both equal sum_{i=1}^{L} i b^(i-1)."""
    b = float(beta_W)
    if abs(b - 1) < 1e-12:
        return (L + L * L) / 2
    return ((1 - b ** L) / (1 - b) - L * b ** L) / (1 - b)


def fisher_rao_rademacher(r, beta_U, beta_V, beta_W, x: Tensor,
                          lambda_min: float | None = None) -> float:
    """Paper 003 Thm 1: R <= r ||X||_F / (2n) sqrt(1 / lambda_min(E[x x^T]))
    + (1/n) beta_V beta_U ||X^T||_1 Lambda. ``lambda_min`` defaults to that of x; Thm 3
    passes lambda_min(clean data) + sigma^2 with x the noisy inputs."""
    n, L, _ = x.shape
    X = x.reshape(n, -1).T  # [L d, n], sequences as columns
    lam = float(second_moment_min_eig(x)) if lambda_min is None else float(lambda_min)
    first = math.inf if lam <= 0 else float(r) * float(X.norm()) / (2 * n) / math.sqrt(lam)
    X_T_1 = float(norm_1_inf(X))  # ||X^T||_1 = max absolute column sum of X^T
    return first + beta_V * beta_U * X_T_1 * lambda_factor(beta_W, L) / n


def fisher_rao_bound(U: Tensor, W: Tensor, V: Tensor, x: Tensor, labels: Tensor,
                     margin: float, delta: float = 0.05, noise_std: float = 0.0,
                     x_clean: Tensor | None = None) -> dict:
    """Paper 003 Thm 2 (eq. 3), or Thm 3 when ``noise_std`` > 0 (x are the noisy inputs):
    P(M <= 0) <= (1/n) sum 1[M(x_i) <= margin] + (4k/margin) R + 3 sqrt(log(2/delta)/(2n))
    [+ (2/margin) sum_{i=1}^L beta_V beta_U beta_W^(L-i) sigma sqrt(2 log(2d)) for Thm 3;
    Thm 3 also uses the ramp Phi_margin instead of the indicator]. ``x_clean`` (Thm 3) gives
    lambda_min(E[x x^T]) of the data before noise. Weights' norms are the beta_*; r is the
    Fisher-Rao norm measured on x."""
    from .margin import margins, ramp_loss

    n, L, d = x.shape
    k = V.shape[0]
    beta_U, beta_V, beta_W = (float(norm_1_inf(M)) for M in (U, V, W))
    r = float(fisher_rao_norm(U, W, V, x))
    h = x.new_zeros(n, W.shape[0])
    for j in range(L):
        h = torch.relu(x[:, j] @ U.T + h @ W.T)
    scores = h @ V.T
    lam = None
    if noise_std > 0:
        if x_clean is None:  # lambda_min of the noisy x already holds sigma^2: not twice
            raise ValueError("Thm 3 (noise_std > 0) needs x_clean, the inputs before noise: "
                             "lambda_min(E[x x^T]) + sigma^2 is taken of the clean data")
        lam = float(second_moment_min_eig(x_clean)) + noise_std ** 2
    rad = fisher_rao_rademacher(r, beta_U, beta_V, beta_W, x, lam)
    if noise_std > 0:
        empirical = float(ramp_loss(scores, labels, margin).mean())
        noise = (2 / margin) * sum(beta_V * beta_U * beta_W ** (L - i) for i in range(1, L + 1)) \
            * noise_std * math.sqrt(2 * math.log(2 * d))
    else:
        empirical = float((margins(scores, labels) <= margin).float().mean())
        noise = 0.0
    gap = 4 * k / margin * rad + 3 * math.sqrt(math.log(2 / delta) / (2 * n)) + noise
    return {"fisher_rao_norm": r, "beta_U": beta_U, "beta_V": beta_V, "beta_W": beta_W,
            "rademacher": rad, "empirical_margin_error": empirical, "gap": gap,
            "bound": empirical + gap}
