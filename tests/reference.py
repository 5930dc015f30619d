"""Slow, literal reference implementations used to check the fast models."""

import torch

from unfoldrnn.prox import prox_l1l1_reference


def reference_l1l1_family(model, x, h0=None):
    """Eq. 8 of paper 001 with the effective W_l, U_l formed explicitly, one step at a time."""
    ew = model.effective_weights()
    a, b = model.thresholds()
    B, T, _ = x.shape
    h_prev = model.h0.expand(B, -1) if h0 is None else h0
    out = []
    for t in range(T):
        side = h_prev @ model.P.T
        z = h_prev
        for layer in range(model.num_layers):
            u = z @ ew["W"][layer].T + x[:, t] @ ew["U"][layer].T
            z = prox_l1l1_reference(u, a[layer], b[layer], side)
        out.append(z)
        h_prev = z
    return torch.stack(out, 1)


def reference_sista(model, x):
    """DESIGN 3.4 literally: soft(W_1 h_{t-1} + V x_t), then soft(S h + V x + W_prev h_{t-1})."""
    ew = model.effective_weights()
    thr = model.lambda1 / model.alpha
    B, T, _ = x.shape
    h_prev = model.h0.expand(B, -1)
    out = []
    for t in range(T):
        vx = x[:, t] @ ew["U"][0].T
        z = torch.sign(u := h_prev @ ew["W"][0].T + vx) * torch.relu(u.abs() - thr)
        for _ in range(1, model.num_layers):
            u = z @ ew["S"].T + vx + h_prev @ ew["W_prev"].T
            z = torch.sign(u) * torch.relu(u.abs() - thr)
        out.append(z)
        h_prev = z
    return torch.stack(out, 1)
