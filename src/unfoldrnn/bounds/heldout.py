r"""Held-out (test-set) bounds: what a part of the data that a classifier never saw
guarantees about it, the baseline a PAC-Bayes certificate has to beat (Langford 2005,
"Tutorial on practical prediction theory for classification", Sec. 3, the test-set bound).

* 0-1 loss, n i.i.d. examples, k errors (``binomial_tail_bound``): with probability
  >= 1 - delta, :math:`L_D \le \max\{p : P(\mathrm{Bin}(n, p) \le k) \ge \delta\}`,
  the upper end of the one-sided Clopper-Pearson interval, the (1 - delta) quantile of
  Beta(k + 1, n - k).
* a loss in [0, 1] (a speaker's error rate over their clips; ``kl_heldout_bound``): the
  Chernoff bound :math:`\mathrm{kl}(\hat L \,\|\, L_D) \le \log(1 / \delta) / n`
  (Langford's Thm 3.3 relaxed from the binomial tail to any [0, 1] loss: the binomial is
  the worst case of a given mean).
"""

from __future__ import annotations

import math

from scipy.stats import beta

from .pac_bayes import kl_inverse


def _check(n: int, delta: float) -> None:
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")


def binomial_tail_bound(errors: int, n: int, delta: float) -> float:
    """max {p : P(Bin(n, p) <= errors) >= delta} = Beta(errors + 1, n - errors).ppf(1 - delta)
    (1.0 when every example is an error)."""
    _check(n, delta)
    if not (isinstance(errors, int) and 0 <= errors <= n):
        raise ValueError(f"errors must be an integer in [0, {n}], got {errors!r}")
    if errors == n:
        return 1.0
    return float(beta.ppf(1 - delta, errors + 1, n - errors))


def kl_heldout_bound(risk: float, n: int, delta: float) -> float:
    """L_D <= kl^{-1}(L_hat, log(1 / delta) / n) for the mean L_hat of n i.i.d. losses in
    [0, 1]."""
    _check(n, delta)
    return kl_inverse(risk, math.log(1 / delta) / n)
