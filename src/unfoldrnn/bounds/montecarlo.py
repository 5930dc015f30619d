"""Monte-Carlo lower estimate of an empirical Rademacher complexity.

R_S(F) = E_eps sup_{f in F} (1/m) sum_i eps_i f(x_i). For each sampled sign vector eps the
sup is approximated from below by projected gradient ascent over the weights inside the
norm ball, so the estimate sits below R_S: a valid bound must lie above it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def project_rows_l1(M: Tensor, radius: float) -> Tensor:
    """Euclidean projection of every row of M onto the l1 ball of the given radius
    (Duchi et al. 2008), so that ||M||_{1,inf} <= radius."""
    absM = M.abs()
    inside = absM.sum(dim=1, keepdim=True) <= radius
    mu, _ = absM.sort(dim=1, descending=True)
    cums = mu.cumsum(dim=1) - radius
    ks = torch.arange(1, M.shape[1] + 1, dtype=M.dtype, device=M.device)
    rho = ((mu - cums / ks) > 0).sum(dim=1, keepdim=True)
    theta = cums.gather(1, rho - 1) / rho
    projected = M.sign() * (absM - theta).clamp(min=0)
    return torch.where(inside, M, projected)


def _row_l1_vertex(grad: Tensor, radius: float) -> Tensor:
    """argmax over the row-l1 ball of <grad, M>: per row, +-radius on the largest |entry|
    (the linear maximisation oracle of Frank-Wolfe; a vertex of the ball)."""
    vertex = torch.zeros_like(grad)
    j = grad.abs().argmax(dim=1, keepdim=True)
    vertex.scatter_(1, j, radius * torch.sign(grad.gather(1, j)))
    return vertex


def _correlation(eps: Tensor, values: Tensor) -> Tensor:
    """(1/m) sum_i eps_i f(x_i); for [m, k] values the largest over the k outputs."""
    if values.dim() == 2:
        return (eps[:, None] * values).mean(dim=0).max()
    return (eps * values).mean()


def rademacher_estimate(function: Callable[[list[Tensor]], Tensor], init: list[Tensor],
                        radii: list[float], m: int, draws: int = 20, steps: int = 100,
                        restarts: int = 2, seed: int = 0) -> float:
    """Mean over ``draws`` sign vectors eps of the best value of (1/m) sum_i eps_i f(x_i)
    found by Frank-Wolfe ascent over the weights in their row-l1 balls.

    ``function(weights)`` returns the m values f(x_i) for the given weight matrices, or an
    [m, k] tensor for a vector-valued class, whose sup then also runs over the k outputs
    (max_j (1/m) sum_i eps_i f_j(x_i)); weight i stays in the row-l1 ball of radius
    ``radii[i]``. Frank-Wolfe steps towards the vertex
    that maximises the linearised objective (step 2 / (k + 2), the first a full step), so it
    reaches the corners of the l1 balls where linear objectives peak; restarts after the
    first start from random points of the balls. Every value is attained by weights inside
    the balls, so the estimate sits below the true sup: a valid bound lies above it.
    """
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(draws):
        eps = (torch.randint(0, 2, (m,), generator=gen) * 2 - 1).to(init[0].dtype)
        best = -float("inf")
        for r in range(restarts):
            weights = [project_rows_l1(w + (torch.randn(w.shape, generator=gen, dtype=w.dtype)
                                            * rad if r else 0), rad)
                       for w, rad in zip(init, radii, strict=True)]
            for k in range(steps):
                weights = [w.detach().requires_grad_() for w in weights]
                value = _correlation(eps, function(weights))
                best = max(best, float(value.detach()))
                grads = torch.autograd.grad(value, weights)
                step = 2.0 / (k + 2)
                with torch.no_grad():
                    weights = [(1 - step) * w + step * _row_l1_vertex(g, rad)
                               for w, g, rad in zip(weights, grads, radii, strict=True)]
            with torch.no_grad():
                best = max(best, float(_correlation(eps, function(weights))))
        total += best
    return total / draws


def unfolding_class(model, x: Tensor) -> tuple[Callable, list[Tensor], list[float]]:
    """The class of paper 000 Thm 3.3 around a trained reweighted-RNN or l1-l1-RNN, as
    (function, init, radii) for ``rademacher_estimate`` on the inputs x [m, T, n].

    f(x) = h_T^(d) [m, h], with h_t^(l) = Phi_{a_l, b_l, P h_{t-1}}(W_l h_t^(l-1) + U_l x_t)
    and h_t^(0) = h_{t-1}: the W_l and U_l range over row-l1 balls of the trained model's
    radii alpha_l = ||W_l||_{1,inf}, beta_l = ||U_l||_{1,inf} (l1-l1-RNN keeps its ties:
    W_2 = .. = W_d, one U); thresholds, P and h0 stay the trained ones. That is a subset of
    F_{d,T}, so the estimate is a lower estimate of R_S(F_{d,T}) too."""
    from ..prox import prox_l1l1

    if not hasattr(model, "reweighted"):
        raise ValueError(f"unfolding_class covers reweighted-RNN and l1-l1-RNN (paper 000 "
                         f"Thm 3.3, Cor. 3.3.1), not {type(model).__name__}")
    d = model.num_layers
    with torch.no_grad():
        weights = model.effective_weights()
        Ws, Us = [w.detach() for w in weights["W"]], [u.detach() for u in weights["U"]]
        a, b = (t.detach() for t in model.thresholds())
        PT, h0 = model.P.detach().T, model.h0.detach()
    tied = not model.reweighted
    init = (Ws[:min(d, 2)] + Us[:1]) if tied else (Ws + Us)
    radii = [float(w.abs().sum(dim=1).max()) for w in init]

    def layers(free: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        if tied:
            return free[:1] + [free[1]] * (d - 1), [free[-1]] * d
        return free[:d], free[d:]

    def function(free: list[Tensor]) -> Tensor:
        W, U = layers(free)
        h = h0.expand(x.shape[0], -1)
        for t in range(x.shape[1]):
            side, z = h @ PT, h
            for layer in range(d):
                z = prox_l1l1(z @ W[layer].T + x[:, t] @ U[layer].T, a[layer], b[layer], side)
            h = z
        return h

    return function, init, radii
