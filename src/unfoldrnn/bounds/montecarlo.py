"""Monte-Carlo lower estimate of an empirical Rademacher complexity (DESIGN 5.5).

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


def rademacher_estimate(function: Callable[[list[Tensor]], Tensor], init: list[Tensor],
                        radii: list[float], m: int, draws: int = 20, steps: int = 200,
                        lr: float = 0.05, restarts: int = 2, seed: int = 0) -> float:
    """Mean over ``draws`` sign vectors of max over ``restarts`` of a projected-gradient sup.

    ``function(weights)`` returns the m values f(x_i) for the given weight matrices; each
    weight i is kept in the row-l1 ball of radius ``radii[i]``.
    """
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(draws):
        eps = (torch.randint(0, 2, (m,), generator=gen) * 2 - 1).to(init[0].dtype)
        best = -float("inf")
        for r in range(restarts):
            weights = [project_rows_l1(w + (0.5 * torch.randn(w.shape, generator=gen,
                                                              dtype=w.dtype) if r else 0), rad)
                       .requires_grad_() for w, rad in zip(init, radii, strict=True)]
            opt = torch.optim.Adam(weights, lr=lr)
            for _ in range(steps):
                value = (eps * function(weights)).mean()
                best = max(best, float(value.detach()))
                opt.zero_grad()
                (-value).backward()
                opt.step()
                with torch.no_grad():
                    for w, rad in zip(weights, radii, strict=True):
                        w.copy_(project_rows_l1(w, rad))
            with torch.no_grad():
                best = max(best, float((eps * function(weights)).mean()))
        total += best
    return total / draws
