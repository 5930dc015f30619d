"""The strict eq. 18 (bounds.strict): the documented union split by hand, the levels, and
that it is never below paper 000's reading."""

import math

import pytest
import torch

from unfoldrnn.bounds import certify, norm_level, strict_delta, strict_ramp_bound
from unfoldrnn.models import L1L1RNN, ReweightedRNN


def test_norm_levels_are_the_next_power_of_2_to_the_1_32():
    assert norm_level(1.0) == 1.0
    assert norm_level(1.01) == pytest.approx(2 ** (1 / 32))  # 1.0219
    assert norm_level(2 ** (5 / 32)) == pytest.approx(2 ** (5 / 32))  # its own level
    # 0.3: log2 = -1.737, so k = ceil(-55.58) = -55: 2^(-55/32) = 0.3039 >= 0.3 > 0.2973
    assert norm_level(0.3) == pytest.approx(2 ** (-55 / 32))
    assert norm_level(0.0) == pytest.approx(2 ** -12) and norm_level(5000.0) == math.inf
    with pytest.raises(ValueError, match="non-negative"):
        norm_level(-1.0)


def test_the_union_split_by_hand():
    # 2 level grids looked at x 16 margins x 769 levels for each of 4 norms (alpha_1, beta_1,
    # ||h0||, rho)
    assert strict_delta(0.05, 16, 4) == pytest.approx(0.05 / (2 * 16 * 769 ** 4))
    assert strict_delta(0.05, 16, 4) == pytest.approx(4.466e-15, rel=1e-3)


def test_the_strict_bound_by_hand_on_two_samples():
    """d = 1, norms on the grid already (alpha 0.5, beta 1, h0 0.25, rho 2): eq. 15 and
    eq. 18 written out, at one margin gamma = 1."""
    scores = torch.tensor([[2.0, 0.0], [0.0, 0.5]])  # margins 2 and -0.5
    labels = torch.tensor([0, 0])
    out = strict_ramp_bound(scores, labels, [0.5], [1.0], 0.25, 2.0, B_x=3.0, n=4, h=8, T=2,
                            delta=0.1, gammas=[1.0])
    m, split = 2, 0.1 / (2 * 1 * 769 ** 4)
    # eq. 15: sqrt(2 (4 d T log 2 + log n + log h) / m) sqrt((beta G B_x)^2 + (L^T h0)^2),
    # G = 1 + 0.5, L^T = 0.25
    R = math.sqrt(2 * (8 * math.log(2) + math.log(4) + math.log(8)) / 2) * math.sqrt(
        (1.0 * 1.5 * 3.0) ** 2 + (0.25 * 0.25) ** 2)
    train = (0.0 + 1.0) / 2  # margin 2 >= gamma: 0; margin -0.5 < 0: 1
    expected = train + 2 * 2.0 / 1.0 * R + 4 * math.sqrt(2 * math.log(4 / split) / m)
    assert out["rademacher_at_levels"] == pytest.approx(R, rel=1e-12)
    assert out["bound"] == pytest.approx(expected, rel=1e-12)
    assert out["delta_split"] == pytest.approx(split) and out["cells"] == 2 * 769 ** 4


@pytest.mark.parametrize("cls, seed", [(ReweightedRNN, 0), (ReweightedRNN, 1), (L1L1RNN, 2)])
def test_the_strict_value_is_never_below_the_papers_reading(cls, seed):
    torch.manual_seed(seed)
    model = cls(4, 12, 2)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.3)
    x, labels = torch.randn(200, 5, 4), torch.randint(0, 3, (200,))
    head = torch.nn.Linear(12, 3, bias=False)
    report = certify(model, x, head, labels)
    assert report.strict_bound >= report.least_bound
    assert report.strict_delta < report.delta
    assert "strict (a guarantee" in str(report) and "paper 000's reading" in str(report)
