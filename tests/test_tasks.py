import math

import pytest
import torch

from unfoldrnn.metrics import psnr
from unfoldrnn.tasks import ReconstructionTask, dct_dictionary, measurements


def test_dct_is_orthonormal_2d_dct_at_h_equal_n0():
    D = dct_dictionary(64, 64).double()
    assert torch.allclose(D.T @ D, torch.eye(64, dtype=torch.float64), atol=1e-6)
    # separable: the atom (k, l) is the outer product of 1-D DCT-II atoms
    i = torch.arange(8, dtype=torch.float64)
    c = torch.cos(math.pi * (i + 0.5) * 3 / 8)
    r = torch.cos(math.pi * (i + 0.5) * 2 / 8)
    atom = torch.outer(r / r.norm(), c / c.norm()).flatten()
    assert torch.allclose(D[:, 2 * 8 + 3], atom, atol=1e-6)


@pytest.mark.parametrize("h", [128, 256, 512, 1024])
def test_overcomplete_and_undercomplete_dct_have_unit_atoms(h):
    D = dct_dictionary(256, h)
    assert D.shape == (256, h)
    assert torch.allclose(D.norm(dim=0), torch.ones(h), atol=1e-5)
    if h >= 256:  # a tight frame: D D^T = (h / n0) I
        assert torch.allclose(D @ D.T, torch.eye(256) * h / 256, atol=1e-4)


def test_psnr_by_hand():
    target = torch.zeros(2, 3, 4)
    estimate = target.clone()
    estimate[0, 0] = 0.1  # MSE 0.01 -> 20 dB; other frames exact -> 100 dB (floor)
    expected = (20 + 5 * 100) / 6
    assert math.isclose(float(psnr(estimate, target)), expected, rel_tol=1e-5)
    assert math.isclose(float(psnr(estimate * 2, target, data_range=2.0)), expected, rel_tol=1e-5)
    with pytest.raises(ValueError, match="shapes"):
        psnr(estimate, target[:1])


def test_measurements_and_rate_errors():
    assert measurements(0.2, 256) == 51
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rate"):
            measurements(bad, 256)


def test_unfolding_task_shares_A_and_D_with_its_model():
    task = ReconstructionTask("reweighted", 64, 0.25, 128, 2)
    assert task.model.A is task.A
    params = {id(p) for p in task.parameters()}
    assert len(params) == len(list(task.parameters()))  # no duplicates
    s = torch.rand(3, 5, 64)
    estimate = task(s)
    assert estimate.shape == s.shape
    task.loss(estimate, s).backward()
    assert task.A.grad is not None and task.model.D.grad is not None
    # c starts at the Lipschitz constant ||A D||_2^2 of the fidelity's gradient
    assert math.isclose(float(task.model.c.detach()), float(torch.linalg.matrix_norm(
        (task.A @ task.model.D).detach(), 2)) ** 2, rel_tol=1e-4)


def test_baseline_task_decodes_with_a_linear_layer():
    task = ReconstructionTask("gru", 64, 0.25, 32, 2)
    s = torch.rand(2, 4, 64)
    assert task(s).shape == s.shape and task.decoder is not None
    with torch.no_grad():
        loss = task.loss(task(s), s)
        assert math.isclose(loss.item(), ((task(s) - s).square().sum() / 2).item(), rel_tol=1e-5)
