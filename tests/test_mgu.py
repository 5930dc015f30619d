"""The MGU (paper 002 Sec. 5) against a literal per-sample, per-step implementation, and
Thm 4 (``mgu_bound``) against hand-computed values."""

import math

import pytest
import torch

from unfoldrnn.bounds import mgu_bound, mgu_gate_bound
from unfoldrnn.models import MGU, build


def literal_mgu(weights: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper 002 Sec. 5 written out for one sample and one step at a time, from
    ``effective_weights()``: returns (top-layer h_t [B, T, h], gates r_t of layer 1)."""
    layers = len(weights["W_r"])
    outputs = torch.zeros(x.shape[0], x.shape[1], weights["U_h"][0].shape[0], dtype=x.dtype)
    gates = torch.zeros_like(outputs)
    for b in range(x.shape[0]):
        seq = [x[b, t] for t in range(x.shape[1])]
        for layer in range(layers):
            W_r, W_h = weights["W_r"][layer], weights["W_h"][layer]
            U_r, U_h = weights["U_r"][layer], weights["U_h"][layer]
            b_r = weights["b_r"][layer] if "b_r" in weights else 0
            b_h = weights["b_h"][layer] if "b_h" in weights else 0
            h = torch.zeros(U_h.shape[0], dtype=x.dtype)
            out = []
            for t, x_t in enumerate(seq):
                r = 1 / (1 + torch.exp(-(W_r @ x_t + U_r @ h + b_r)))
                candidate = torch.tanh(W_h @ x_t + U_h @ (r * h) + b_h)
                h = (1 - r) * h + r * candidate
                out.append(h)
                if layer == 0:
                    gates[b, t] = r
            seq = out
        outputs[b] = torch.stack(seq)
    return outputs, gates


@pytest.mark.parametrize("bias", [True, False])
def test_forward_equals_the_literal_equations(bias):
    torch.manual_seed(0)
    model = MGU(3, 5, num_layers=2, bias=bias).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    codes, h_n = model(x)
    expected, gates = literal_mgu({k: [w.detach() for w in v]
                                   for k, v in model.effective_weights().items()}, x)
    torch.testing.assert_close(codes, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[-1], expected[:, -1], rtol=0, atol=1e-12)
    torch.testing.assert_close(model.gates(x)[0], gates, rtol=0, atol=1e-12)
    assert h_n.shape == (2, 4, 5) and set(model.effective_weights()) >= {"W_r", "U_h"}
    assert model.effective_weights()["W_r"][1].shape == (5, 5)  # layer 2 reads h


def test_gradcheck_and_h0():
    torch.manual_seed(1)
    model = MGU(2, 3, num_layers=2).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: model(a, b)[0], (x, h0))
    codes, _ = model(x, h0)
    assert not torch.allclose(codes, model(x)[0])  # h0 is used


def test_the_registry_builds_it_and_inputs_are_checked():
    model = build("mgu", 4, 6, 1, bias=False)
    assert isinstance(model, MGU) and model.cells[0].bias is None
    with pytest.raises(ValueError, match="input_size=4"):
        model(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((2, 3, 4), math.nan))
    with pytest.raises(ValueError, match="3-D"):
        model(torch.randn(3, 4))


def scalar_mgu(w_r: float, u_r: float, w_h: float, u_h: float) -> MGU:
    """d_x = d_h = 1: every norm is the absolute value of its one weight."""
    model = MGU(1, 1, bias=False).double()
    cell = model.cells[0]
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[w_r], [w_h]]))
        cell.weight_hr.fill_(u_r)
        cell.weight_hh.fill_(u_h)
    return model


@pytest.mark.parametrize("u_h, beta", [(0.4, 0.6), (4.0, 1.5)])
def test_thm4_by_hand_with_constant_gates(u_h, beta):
    """W_r = U_r = 0 make r_t = 1/2 at every step: beta = 1/2 + B_{U_h} / 4, theta = beta,
    and the data-free gate bound 1 / (1 + e^0) = 1/2 is attained."""
    model = scalar_mgu(0.0, 0.0, 1.0, u_h)
    x = torch.tensor([[[0.5], [-2.0], [1.0]], [[1.0], [0.0], [0.3]]], dtype=torch.float64)
    V = torch.tensor([[3.0]], dtype=torch.float64)
    report = mgu_bound(model, V, x, gamma=2.0, delta=0.1)
    # by hand: m = 2, t = 3, d = sqrt(2 + 2 + 1), B_V = 3, B_{W_h} = 1, B_x = 2
    d, m = math.sqrt(5), 2
    G = (beta ** 3 - 1) / (beta - 1)  # 1.96 for beta = 0.6, 4.75 for 1.5
    expected = (d * 3 * min(math.sqrt(d), 1 * 2 * G) * math.sqrt(math.log(G * d * math.sqrt(m)))
                / (math.sqrt(m) * 2.0) + math.sqrt(math.log(10) / 2))
    assert report["beta"] == pytest.approx(beta) and report["theta"] == pytest.approx(beta)
    assert report["beta_data_free"] == pytest.approx(beta)
    assert report["thm4"] == pytest.approx(expected, rel=1e-12)
    assert report["thm4_data_free"] == pytest.approx(expected, rel=1e-12)


def test_thm4_beta_is_the_max_of_the_sum_over_samples_and_steps():
    """Random weights: beta from the literal gates, brute force over (sample, step); the
    data-free value is never below the measured one."""
    torch.manual_seed(2)
    model = MGU(3, 4, bias=False).double()
    x = torch.randn(6, 5, 3, dtype=torch.float64)
    V = torch.randn(2, 4, dtype=torch.float64)
    weights = {k: [w.detach() for w in v] for k, v in model.effective_weights().items()}
    _, r = literal_mgu(weights, x)
    B_U_h = float(torch.linalg.matrix_norm(weights["U_h"][0], 2))
    B_U_r = float(torch.linalg.matrix_norm(weights["U_r"][0], 2))
    beta = max(float((1 - r[i, j]).abs().max() + B_U_h * r[i, j].abs().max() ** 2)
               for i in range(6) for j in range(5))
    report = mgu_bound(model, V, x, gamma=1.0)
    assert report["beta"] == pytest.approx(beta, rel=1e-12)
    assert report["theta"] == pytest.approx(beta + 2 * B_U_r + B_U_r * B_U_h, rel=1e-12)
    B_x = float(x.norm(dim=-1).max())
    B_W_r = float(torch.linalg.matrix_norm(weights["W_r"][0], 2))
    row_sum = float(weights["U_r"][0].abs().sum(dim=1).max())
    gate = 1 / (1 + math.exp(-B_W_r * B_x - row_sum))
    assert mgu_gate_bound(B_W_r, B_x, row_sum) == pytest.approx(gate)
    assert report["gate_bound"] >= max(report["r_max"], report["one_minus_r_max"])
    assert report["beta_data_free"] == pytest.approx(gate + B_U_h * gate ** 2)
    assert report["thm4_data_free"] >= report["thm4"]


def test_thm4_refuses_what_it_does_not_cover():
    V = torch.ones(1, 2)
    with pytest.raises(ValueError, match="bias"):
        mgu_bound(MGU(1, 2), V, torch.ones(1, 2, 1), 1.0)
    with pytest.raises(ValueError, match="single-layer"):
        mgu_bound(MGU(1, 2, num_layers=2, bias=False), V, torch.ones(1, 2, 1), 1.0)
