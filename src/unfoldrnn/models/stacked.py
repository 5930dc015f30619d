"""Stacked RNN baselines (Pascanu et al. 2014; paper 000 eq. 1), one interface for all.

Layer l reads the sequence of layer l - 1 (the input for l = 1); every model maps
x [B, T, n] -> (codes [B, T, h], h_last) with h_last stacked over layers like torch.nn.RNN:
[num_layers, B, h] (LSTM: the pair (h_n, c_n)).

Cells: Elman (tanh), LSTM and GRU (torch's own modules), IndRNN (Li et al. 2018), FastRNN
and FastGRNN (Kusupati et al. 2018) and SpectralRNN (Zhang et al. 2018).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_input, check_sizes, check_state

__all__ = ["ElmanRNN", "LSTM", "GRU", "IndRNN", "FastRNN", "FastGRNN", "SpectralRNN"]


class _TorchRNN(nn.Module):
    """torch.nn.RNN / LSTM / GRU with batch_first=True and the library's input checks."""

    torch_class: type[nn.RNNBase]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kw):
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.rnn = self.torch_class(input_size, hidden_size, num_layers, batch_first=True, **kw)

    def forward(self, x: Tensor, h0=None):
        check_input(x, self.input_size, next(self.parameters()).dtype)
        if h0 is not None:
            expected = (self.num_layers, x.shape[0], self.hidden_size)
            for state in (h0 if isinstance(h0, tuple) else (h0,)):
                check_state(state, expected)
        return self.rnn(x, h0)


class ElmanRNN(_TorchRNN):
    """Stacked vanilla RNN, h_t^(l) = tanh(W_l h_t^(l-1) + V_l h_{t-1}^(l) + b) (torch.nn.RNN)."""

    torch_class = nn.RNN


class LSTM(_TorchRNN):
    """Stacked LSTM (torch.nn.LSTM); h_last is (h_n, c_n)."""

    torch_class = nn.LSTM


class GRU(_TorchRNN):
    """Stacked GRU (torch.nn.GRU)."""

    torch_class = nn.GRU


class _Cell(nn.Module):
    """One recurrent layer: ``project`` maps the whole input sequence at once (one matmul),
    ``step`` advances the state with the recurrent part."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size

    def project(self, x: Tensor) -> Tensor:  # [T, B, n] -> [T, B, *]
        raise NotImplementedError

    def step(self, px: Tensor, h: Tensor) -> Tensor:
        raise NotImplementedError


class _Stacked(nn.Module):
    cell_class: type[_Cell]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **cell_kw):
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cells = nn.ModuleList(
            self.cell_class(input_size if i == 0 else hidden_size, hidden_size, **cell_kw)
            for i in range(num_layers))

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_input(x, self.input_size, next(self.parameters()).dtype)
        B = x.shape[0]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        check_state(h0, (self.num_layers, B, self.hidden_size))
        seq = x.transpose(0, 1)
        last = []
        for cell, h in zip(self.cells, h0, strict=True):
            outputs = []
            for px in cell.project(seq).unbind(0):
                h = cell.step(px, h)
                outputs.append(h)
            seq = torch.stack(outputs)
            last.append(h)
        return seq.transpose(0, 1), torch.stack(last)


def _uniform_(tensor: Tensor, bound: float) -> Tensor:
    return nn.init.uniform_(tensor, -bound, bound)


class IndRNNCell(_Cell):
    """IndRNN (Li et al. 2018): h_t = relu(W x_t + u * h_{t-1} + b), |u_i| <= u_max.

    u is clamped to [-u_max, u_max] at every forward (the paper's constraint; by default
    u_max = 2 ** (1 / T) with the paper's T = 20 for reconstruction) and initialised in [0, 1].
    """

    def __init__(self, input_size: int, hidden_size: int, recurrent_max: float = 2 ** (1 / 20)):
        super().__init__(input_size, hidden_size)
        if not recurrent_max > 0:
            raise ValueError(f"recurrent_max must be positive, got {recurrent_max}")
        self.recurrent_max = recurrent_max
        self.input = nn.Linear(input_size, hidden_size)
        self.u = nn.Parameter(torch.rand(hidden_size))

    def project(self, x):
        self._u = self.u.clamp(-self.recurrent_max, self.recurrent_max)
        return self.input(x)

    def step(self, px, h):
        return torch.relu(torch.addcmul(px, self._u, h))


class FastRNNCell(_Cell):
    """FastRNN (Kusupati et al. 2018): h~ = tanh(W x_t + U h_{t-1} + b),
    h_t = sigmoid(beta) h_{t-1} + sigmoid(alpha) h~ (EdgeML init alpha = -3, beta = 3)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.W = nn.Linear(input_size, hidden_size)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.alpha = nn.Parameter(torch.tensor(-3.0))
        self.beta = nn.Parameter(torch.tensor(3.0))

    def project(self, x):
        return self.W(x)

    def step(self, px, h):
        cand = torch.tanh(px + self.U(h))
        return torch.sigmoid(self.beta) * h + torch.sigmoid(self.alpha) * cand


def _maybe_low_rank(n_in: int, n_out: int, rank: int | None) -> nn.Module:
    """x -> M x with M full (rank None) or M = M1 M2 of the given rank (EdgeML's wRank/uRank)."""
    if rank is None:
        return nn.Linear(n_in, n_out, bias=False)
    check_sizes(rank=rank)
    return nn.Sequential(nn.Linear(n_in, rank, bias=False), nn.Linear(rank, n_out, bias=False))


class FastGRNNCell(_Cell):
    """FastGRNN (Kusupati et al. 2018): z = sigmoid(W x + U h + b_z), h~ = tanh(W x + U h + b_h),
    h_t = (zeta (1 - z) + nu) * h~ + z * h_{t-1}, zeta = sigmoid(.), nu = sigmoid(.);
    W, U shared by gate and update; EdgeML init zeta = sigmoid(1), nu = sigmoid(-4), b = 1.
    ``w_rank`` / ``u_rank`` make W / U low rank, W = W1 W2 (EdgeML's wRank, uRank)."""

    def __init__(self, input_size: int, hidden_size: int, w_rank: int | None = None,
                 u_rank: int | None = None):
        super().__init__(input_size, hidden_size)
        self.W = _maybe_low_rank(input_size, hidden_size, w_rank)
        self.U = _maybe_low_rank(hidden_size, hidden_size, u_rank)
        self.bias_gate = nn.Parameter(torch.ones(hidden_size))
        self.bias_update = nn.Parameter(torch.ones(hidden_size))
        self.zeta = nn.Parameter(torch.tensor(1.0))
        self.nu = nn.Parameter(torch.tensor(-4.0))

    def project(self, x):
        return self.W(x)

    def step(self, px, h):
        pre = px + self.U(h)
        z = torch.sigmoid(pre + self.bias_gate)
        cand = torch.tanh(pre + self.bias_update)
        return (torch.sigmoid(self.zeta) * (1 - z) + torch.sigmoid(self.nu)) * cand + z * h


def householder_product(vectors: Tensor) -> Tensor:
    """Q = H(v_1) H(v_2) ... H(v_k), H(v) = I - 2 v v^T / ||v||^2, for the rows v_i of [k, h].

    Compact WY form (Joffrain et al. 2006): with U = [v_1 .. v_k],
    Q = I - U S^{-1} U^T, S = striu(U^T U) + diag(||v_i||^2) / 2 (upper triangular), so the
    product costs three large matmuls and one triangular solve instead of k sequential steps.
    """
    U = vectors.T
    gram = vectors @ U
    S = torch.triu(gram, diagonal=1) + torch.diag_embed(gram.diagonal() / 2)
    eye = torch.eye(U.shape[0], dtype=U.dtype, device=U.device)
    return eye - U @ torch.linalg.solve_triangular(S, vectors, upper=True)


class SpectralRNNCell(_Cell):
    """SpectralRNN (Zhang et al. 2018): h_t = relu(W h_{t-1} + M x_t + b) with the recurrent
    matrix in SVD form W = U diag(sigma) V^T, U and V products of ``reflections`` Householder
    reflections, and sigma_i = 1 + 2 r (sigmoid(p_i) - 1/2) in [1 - r, 1 + r].

    ``truncated=True`` follows the reference code (zhangjiong724/spectral-RNN): reflector i
    acts on coordinates i..h only (its first i entries are zero), so k = h reflections hold
    h (h + 1) / 2 numbers and still reach every orthogonal matrix; there k defaults to h / 4.
    By default (``truncated=False``, k = h) the reflectors are whole vectors."""

    def __init__(self, input_size: int, hidden_size: int, r: float = 0.1,
                 reflections: int | None = None, truncated: bool = False):
        super().__init__(input_size, hidden_size)
        if not 0 <= r < 1:
            raise ValueError(f"spectral radius margin r must be in [0, 1), got {r}")
        if reflections is None:
            reflections = max(1, hidden_size // 4) if truncated else hidden_size
        k = reflections
        check_sizes(reflections=k)
        if k > hidden_size and truncated:
            raise ValueError(f"at most hidden_size={hidden_size} truncated reflections, got {k}")
        self.r, self.truncated = r, truncated
        self.input = nn.Linear(input_size, hidden_size)
        self.p = nn.Parameter(torch.zeros(hidden_size))
        if truncated:  # row i keeps coordinates i..h: h - i free numbers
            self.register_buffer("mask", torch.ones(k, hidden_size).triu())
            shape = (int(self.mask.sum()),)
        else:
            shape = (k, hidden_size)
        self.u_reflectors = nn.Parameter(torch.randn(shape) / math.sqrt(hidden_size))
        self.v_reflectors = nn.Parameter(torch.randn(shape) / math.sqrt(hidden_size))
        self.k = k

    def _vectors(self, stored: Tensor) -> Tensor:
        """The k reflectors as rows [k, h] (truncated: the stored entries scattered into the
        upper triangle)."""
        if not self.truncated:
            return stored
        return stored.new_zeros(self.k, self.hidden_size).masked_scatter(self.mask.bool(),
                                                                         stored)

    def recurrent_matrix(self) -> Tensor:
        sigma = 1 + 2 * self.r * (torch.sigmoid(self.p) - 0.5)
        U = householder_product(self._vectors(self.u_reflectors))
        V = householder_product(self._vectors(self.v_reflectors))
        return (U * sigma) @ V.T

    def project(self, x):
        self._WT = self.recurrent_matrix().T
        return self.input(x)

    def step(self, px, h):
        return torch.relu(torch.addmm(px, h, self._WT))


class IndRNN(_Stacked):
    __doc__ = IndRNNCell.__doc__
    cell_class = IndRNNCell


class FastRNN(_Stacked):
    __doc__ = FastRNNCell.__doc__
    cell_class = FastRNNCell


class FastGRNN(_Stacked):
    __doc__ = FastGRNNCell.__doc__
    cell_class = FastGRNNCell


class SpectralRNN(_Stacked):
    __doc__ = SpectralRNNCell.__doc__
    cell_class = SpectralRNNCell
