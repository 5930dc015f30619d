r"""PAC-Bayes risk certificates of the test error of any model (Dziugaite & Roy 2017;
Perez-Ortiz, Rivasplata, Shawe-Taylor & Szepesvari 2021, "Tighter risk certificates for
neural networks"; reference code mperezortiz/PBB).

A Gaussian posterior Q = N(mu, diag(sigma^2)) over a model's weights, a Gaussian prior
P = N(mu_0, sigma_0^2 I) chosen without the n samples the bound is computed on. Then with
probability >= 1 - delta over those samples (Maurer's PAC-Bayes-kl bound),

.. math::

    \mathrm{kl}\big(L_S(Q) \,\|\, L_D(Q)\big) \le
    \frac{\mathrm{KL}(Q \,\|\, P) + \log(2 \sqrt{n} / \delta)}{n}

for any loss in [0, 1], so :math:`L_D(Q) \le \mathrm{kl}^{-1}(L_S(Q), \cdot)` of that
right-hand side. L_S(Q) is estimated from M weight samples; Langford & Caruana's sampling
bound gives, with probability >= 1 - delta',
:math:`L_S(Q) \le \mathrm{kl}^{-1}(\hat L_M, \log(2 / \delta') / M)`. Both together hold with
probability >= 1 - delta - delta'. The training objectives (f-quad, f-classic) bound the
same risk through Pinsker-type relaxations, with the cross-entropy made a [0, 1] loss by
bounding the probabilities below by p_min.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def kl_bernoulli(q: float, p: float) -> float:
    r""":math:`\mathrm{kl}(q \,\|\, p) = q \log\frac{q}{p} + (1 - q) \log\frac{1 - q}{1 - p}`,
    with 0 log 0 = 0."""
    if not (0 <= q <= 1 and 0 <= p <= 1):
        raise ValueError(f"kl_bernoulli needs q, p in [0, 1], got {q}, {p}")

    def term(a: float, b: float) -> float:
        if a == 0:
            return 0.0
        return math.inf if b == 0 else a * math.log(a / b)

    return term(q, p) + term(1 - q, 1 - p)


def kl_inverse(q: float, c: float, tol: float = 1e-12) -> float:
    r""":math:`\mathrm{kl}^{-1}(q, c) = \sup\{p \in [q, 1] : \mathrm{kl}(q \,\|\, p) \le c\}`,
    by bisection (:math:`\mathrm{kl}(q \,\|\, \cdot)` is increasing on [q, 1])."""
    if not 0 <= q <= 1:
        raise ValueError(f"the empirical risk must lie in [0, 1], got {q}")
    if not c >= 0:
        raise ValueError(f"the kl budget must be non-negative, got {c}")
    low, high = q, 1.0
    if c == 0:
        return q
    if kl_bernoulli(q, high) <= c:
        return 1.0
    while high - low > tol:
        mid = (low + high) / 2
        low, high = (mid, high) if kl_bernoulli(q, mid) <= c else (low, mid)
    return high


def _confidence(n: int, delta: float) -> float:
    """log(2 sqrt(n) / delta), Maurer's confidence term."""
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    return math.log(2 * math.sqrt(n) / delta)


def pac_bayes_kl_bound(risk: float, kl: float, n: int, delta: float) -> float:
    r""":math:`L_D(Q) \le \mathrm{kl}^{-1}\big(L_S(Q),
    (\mathrm{KL}(Q \,\|\, P) + \log(2 \sqrt{n} / \delta)) / n\big)`."""
    return kl_inverse(risk, (kl + _confidence(n, delta)) / n)


def sampling_bound(mc_risk: float, samples: int, delta_prime: float) -> float:
    r"""Langford & Caruana (2001):
    :math:`L_S(Q) \le \mathrm{kl}^{-1}(\hat L_M, \log(2 / \delta') / M)` for the mean
    :math:`\hat L_M` of M independent weight draws, with probability >= 1 - delta'."""
    if not (isinstance(samples, int) and samples > 0):
        raise ValueError(f"the number of weight samples must be positive, got {samples!r}")
    if not 0 < delta_prime < 1:
        raise ValueError(f"delta' must lie in (0, 1), got {delta_prime}")
    return kl_inverse(mc_risk, math.log(2 / delta_prime) / samples)


def risk_certificate(mc_risk: float, samples: int, kl: float, n: int, delta: float,
                     delta_prime: float) -> float:
    """The certificate of L_D(Q), with probability >= 1 - delta - delta': the sampling bound
    on L_S(Q) fed into the PAC-Bayes-kl bound."""
    return pac_bayes_kl_bound(sampling_bound(mc_risk, samples, delta_prime), kl, n, delta)


def f_quad(risk: Tensor, kl: Tensor, n: int, delta: float) -> Tensor:
    r"""PBB's f-quad: :math:`(\sqrt{L + B} + \sqrt{B})^2`,
    :math:`B = (\mathrm{KL} + \log(2 \sqrt{n} / \delta)) / (2 n)`."""
    b = (kl + _confidence(n, delta)) / (2 * n)
    return (torch.sqrt(risk + b) + torch.sqrt(b)) ** 2


def f_classic(risk: Tensor, kl: Tensor, n: int, delta: float) -> Tensor:
    r"""f-classic: :math:`L + \sqrt{(\mathrm{KL} + \log(2 \sqrt{n} / \delta)) / (2 n)}`
    (McAllester / Pinsker)."""
    return risk + torch.sqrt((kl + _confidence(n, delta)) / (2 * n))


OBJECTIVES = {"f-quad": f_quad, "f-classic": f_classic}


def bounded_cross_entropy(scores: Tensor, labels: Tensor, p_min: float = 1e-4) -> Tensor:
    """-log(max(p_y, p_min)) / log(1 / p_min) per sample: the cross-entropy with the class
    probability bounded below by p_min, scaled to [0, 1] (PBB)."""
    if not 0 < p_min < 1:
        raise ValueError(f"p_min must lie in (0, 1), got {p_min}")
    log_p = torch.log_softmax(scores, dim=1).gather(1, labels[:, None])[:, 0]
    return -log_p.clamp(min=math.log(p_min)) / math.log(1 / p_min)


class GaussianPosterior(nn.Module):
    """Q = N(mu, diag(sigma^2)) over the named parameters of a module, P = N(mu_0, sigma_0^2 I)
    with mu_0 their values when the posterior is made (the prior's weights).

    Parametrised in the prior's units, mu = mu_0 + sigma_0 u and sigma = sigma_0 exp(s), with u
    and s starting at 0 (Q = P): the objective is then equally conditioned whatever sigma_0,
    and KL(Q || P) = sum_i u_i^2 / 2 + (exp(2 s_i) - 1) / 2 - s_i. ``sample()`` draws a full
    set of weights (mu + sigma eps, the reparametrisation trick)."""

    def __init__(self, params: dict[str, Tensor], sigma_prior: float):
        super().__init__()
        if not sigma_prior > 0:
            raise ValueError(f"the prior's sigma must be positive, got {sigma_prior}")
        self.names = list(params)
        self.sigma_prior = sigma_prior
        self.u = nn.ParameterList(nn.Parameter(torch.zeros_like(p.detach()))
                                  for p in params.values())
        self.s = nn.ParameterList(nn.Parameter(torch.zeros_like(p.detach()))
                                  for p in params.values())
        for i, p in enumerate(params.values()):
            self.register_buffer(f"prior_{i}", p.detach().clone())

    def _priors(self) -> list[Tensor]:
        return [getattr(self, f"prior_{i}") for i in range(len(self.names))]

    @property
    def mu(self) -> list[Tensor]:
        return [prior + self.sigma_prior * u for prior, u in zip(self._priors(), self.u,
                                                                  strict=True)]

    def sigmas(self) -> list[Tensor]:
        return [self.sigma_prior * torch.exp(s) for s in self.s]

    def sample(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {name: mu + sigma * torch.randn(mu.shape, generator=generator,
                                               dtype=mu.dtype).to(mu.device)
                for name, mu, sigma in zip(self.names, self.mu, self.sigmas(), strict=True)}

    def means(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.mu, strict=True))

    def kl(self) -> Tensor:
        """sum_i log(sigma_0 / sigma_i) + (sigma_i^2 + (mu_i - mu_0i)^2) / (2 sigma_0^2) - 1/2,
        which in the prior's units is sum_i u_i^2 / 2 + (exp(2 s_i) - 1) / 2 - s_i."""
        total = 0.0
        for u, s in zip(self.u, self.s, strict=True):
            total = total + (u ** 2 / 2 + (torch.exp(2 * s) - 1) / 2 - s).sum()
        return total

    def size(self) -> int:
        return sum(u.numel() for u in self.u)
