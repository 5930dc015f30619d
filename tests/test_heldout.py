"""Held-out bounds (bounds.heldout) against brute force: the binomial tail searched on a
grid of p with scipy's binomial cdf, the kl bound by root finding, and their coverage."""

import math

import pytest
import torch
from scipy.optimize import brentq
from scipy.stats import binom

from unfoldrnn.bounds.heldout import binomial_tail_bound, kl_heldout_bound


@pytest.mark.parametrize("errors,n,delta", [(0, 50, 0.05), (7, 100, 0.025), (30, 200, 0.01),
                                            (99, 100, 0.05)])
def test_binomial_tail_against_the_binomial_cdf(errors, n, delta):
    bound = binomial_tail_bound(errors, n, delta)
    assert binom.cdf(errors, n, bound) == pytest.approx(delta, rel=1e-6)  # the edge
    below = brentq(lambda p: binom.cdf(errors, n, p) - delta, errors / n, 1 - 1e-12)
    assert bound == pytest.approx(below, abs=1e-9)
    assert bound > errors / n


def test_binomial_tail_closed_form_at_zero_errors():
    # P(Bin(n, p) = 0) = (1 - p)^n = delta  <=>  p = 1 - delta^(1/n)
    assert binomial_tail_bound(0, 300, 0.05) == pytest.approx(1 - 0.05 ** (1 / 300))
    assert binomial_tail_bound(5, 5, 0.05) == 1.0


def test_kl_heldout_bound_by_root_finding():
    def kl(q, p):
        return sum(a * math.log(a / b) for a, b in ((q, p), (1 - q, 1 - p)) if a > 0)

    expected = brentq(lambda p: kl(0.2, p) - math.log(1 / 0.025) / 40, 0.2 + 1e-12, 1 - 1e-12)
    assert kl_heldout_bound(0.2, 40, 0.025) == pytest.approx(expected, abs=1e-9)
    # looser than the binomial tail for 0-1 losses (it holds for any [0, 1] loss)
    assert kl_heldout_bound(0.2, 100, 0.025) > binomial_tail_bound(20, 100, 0.025)


def test_the_binomial_tail_bound_covers_the_true_error():
    gen = torch.Generator().manual_seed(0)
    p, n, delta = 0.15, 200, 0.05
    covered = sum(binomial_tail_bound(int((torch.rand(n, generator=gen) < p).sum()), n,
                                      delta) >= p for _ in range(400))
    assert covered >= 0.93 * 400  # >= 1 - delta, with room for 400 trials' noise


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="errors"):
        binomial_tail_bound(11, 10, 0.05)
    with pytest.raises(ValueError, match="delta"):
        kl_heldout_bound(0.1, 10, 1.5)
    with pytest.raises(ValueError, match="n must"):
        binomial_tail_bound(0, 0, 0.05)
