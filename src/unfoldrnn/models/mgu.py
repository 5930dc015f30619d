"""Minimal Gated Unit (Zhou et al. 2016), the gated RNN of paper 002 Sec. 5 (Thm 4):

    r_t = sigmoid(W_r x_t + U_r h_{t-1} + b_r)
    h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)
    h_t = (1 - r_t) * h_{t-1} + r_t * h~_t

stacked like torch.nn.GRU (layer l reads the sequence of layer l - 1), ``batch_first``,
``h0=None`` (zeros, as paper 002 assumes), returning ``(codes [B, T, h], h_n [L, B, h])``.
Initialised like torch's GRU: every weight and bias uniform in [-1/sqrt(h), 1/sqrt(h)].
``bias=False`` gives the bias-free cell that paper 002's bounds cover.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_input, check_sizes, check_state


class MGUCell(nn.Module):
    """One MGU layer: W = [W_r; W_h] (2h x n) applied to the whole sequence in one matmul,
    U_r and U_h (h x h) applied step by step."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hr = nn.Parameter(torch.empty(hidden_size, hidden_size))  # U_r
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # U_h
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """[T, B, n] -> (W_r x + b_r, W_h x + b_h), each [T, B, h]."""
        px = x @ self.weight_ih.T
        if self.bias is not None:
            px = px + self.bias
        return px.chunk(2, dim=-1)

    def step(self, px_r: Tensor, px_h: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """(h_t, r_t) from the projected input and h_{t-1}."""
        r = torch.sigmoid(px_r + h @ self.weight_hr.T)
        candidate = torch.tanh(px_h + (r * h) @ self.weight_hh.T)
        return h + r * (candidate - h), r  # = (1 - r) h + r h~


class MGU(nn.Module):
    """Stacked MGU RNN (paper 002 Sec. 5): x [B, T, n] -> (codes [B, T, h], h_n [L, B, h])."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True):
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias = bias
        self.cells = nn.ModuleList(
            MGUCell(input_size if i == 0 else hidden_size, hidden_size, bias)
            for i in range(num_layers))

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._run(x, h0)[:2]

    def gates(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """The reset/update gates r_t of every layer [L, B, T, h] on ``x`` (for Thm 4)."""
        return self._run(x, h0)[2]

    def _run(self, x: Tensor, h0: Tensor | None):
        check_input(x, self.input_size, next(self.parameters()).dtype)
        B = x.shape[0]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        check_state(h0, (self.num_layers, B, self.hidden_size))
        seq = x.transpose(0, 1)
        last, gates = [], []
        for cell, h in zip(self.cells, h0, strict=True):
            outputs, rs = [], []
            for px_r, px_h in zip(*(p.unbind(0) for p in cell.project(seq)), strict=True):
                h, r = cell.step(px_r, px_h, h)
                outputs.append(h)
                rs.append(r)
            seq = torch.stack(outputs)
            last.append(h)
            gates.append(torch.stack(rs, dim=1))
        return seq.transpose(0, 1), torch.stack(last), torch.stack(gates)

    def effective_weights(self) -> dict[str, list[Tensor]]:
        """One matrix per layer in paper 002's orientation: W_r, W_h (h x n_l), U_r, U_h
        (h x h); with ``bias`` also b_r, b_h."""
        weights = {"W_r": [], "W_h": [], "U_r": [], "U_h": []}
        for cell in self.cells:
            W_r, W_h = cell.weight_ih.chunk(2)
            weights["W_r"].append(W_r)
            weights["W_h"].append(W_h)
            weights["U_r"].append(cell.weight_hr)
            weights["U_h"].append(cell.weight_hh)
        if self.bias:
            weights["b_r"] = [cell.bias.chunk(2)[0] for cell in self.cells]
            weights["b_h"] = [cell.bias.chunk(2)[1] for cell in self.cells]
        return weights
