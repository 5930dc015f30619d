"""Convolutional RNN of paper 002 Appendix D (Thm 6):

    h_t = tanh(U * h_{t-1} + W * x_t),   y_t = pool_K(V * h_t),   h_t, x_t in R^d,

where for a k x k filter matrix I (its k columns I_1..I_k are filters of length k),
I * x = P W_I x: W_I in R^{kd x d} stacks the k zero-padded convolution matrices of the
filters (one channel each, output length d) and P = (1/k) [I_d ... I_d] averages the k
channels. Choices the paper's text leaves open, made here:

* "convolution" is what convolutional layers compute, the cross-correlation
  (W_{I_i} x)_j = sum_a I_i[a] x_{j + a - l}, zero padding l = (k - 1) // 2 on the left and
  k - 1 - l on the right (``conv_matrix``); since P averages channels of one linear map,
  I * x is the convolution with the mean filter (I_1 + ... + I_k) / k, which is how it runs.
* y = pool_K(V * h_T) reads the last step: pool_K averages K contiguous blocks of the d
  positions, block c = [floor(c d / K), floor((c + 1) d / K)) (``block_pooling``; needs
  d >= K); it is 1-Lipschitz in the l2 norm and pool_K(0) = 0, as sigma_y must be. The
  classifier's softmax reads s y with a learned temperature s (``ConvReadout``).
* Assumption 8 (U^T U = U U^T = I / k, the same for V and W) holds by construction:
  each filter matrix is an orthogonal matrix (``torch.nn.utils.parametrizations.orthogonal``)
  divided by sqrt(k), after every optimizer step.
* One layer, h0 = 0 (as the paper assumes; ``h0`` may be given), no bias.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from ._checks import check_input, check_sizes, check_state


def _padding(k: int) -> tuple[int, int]:
    left = (k - 1) // 2
    return left, k - 1 - left


def conv_matrix(filters: Tensor, d: int) -> Tensor:
    """W_I in R^{kd x d} of paper 002 Appendix D: rows c d .. (c + 1) d - 1 are channel c's
    zero-padded cross-correlation with the filter ``filters[:, c]`` (a column of length k)."""
    k = filters.shape[0]
    left, _ = _padding(k)
    W = filters.new_zeros(filters.shape[1] * d, d)
    for c in range(filters.shape[1]):
        for j in range(d):
            for a in range(k):
                col = j + a - left
                if 0 <= col < d:
                    W[c * d + j, col] = filters[a, c]
    return W


def channel_average(k: int, d: int, dtype=torch.float64) -> Tensor:
    """P = (1/k) [I_d, ..., I_d] in R^{d x kd}: the average pooling over the k channels."""
    return torch.eye(d, dtype=dtype).repeat(1, k) / k


def block_pooling(K: int, d: int, dtype=torch.float64) -> Tensor:
    """Q in R^{K x d}: row c averages positions floor(c d / K) .. floor((c + 1) d / K) - 1."""
    if d < K:
        raise ValueError(f"average pooling of d = {d} positions into K = {K} classes needs "
                         f"d >= K")
    Q = torch.zeros(K, d, dtype=dtype)
    for c in range(K):
        lo, hi = c * d // K, (c + 1) * d // K
        Q[c, lo:hi] = 1 / (hi - lo)
    return Q


class OrthogonalFilters(nn.Module):
    """A k x k filter matrix F = Q / sqrt(k) with Q orthogonal, so that F^T F = F F^T = I / k
    (paper 002 Assumption 8) holds after every optimizer step."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.empty(k, k))
        nn.init.orthogonal_(self.weight)
        orthogonal(self, "weight")

    def matrix(self) -> Tensor:
        return self.weight / math.sqrt(self.k)

    def convolve(self, x: Tensor) -> Tensor:
        """F * x = P W_F x for x [..., d], as one cross-correlation with the mean filter."""
        shape = x.shape
        mean_filter = self.matrix().mean(dim=1)
        out = F.conv1d(F.pad(x.reshape(-1, 1, shape[-1]), _padding(self.k)),
                       mean_filter.view(1, 1, -1))
        return out.view(shape)


class ConvRNN(nn.Module):
    """Paper 002's convolutional RNN: x [B, T, d] -> (codes h_t [B, T, d], h_n [1, B, d]).

    ``hidden_size`` must equal ``input_size`` (h_t, x_t in R^d); ``kernel_size`` is k."""

    def __init__(self, input_size: int, hidden_size: int | None = None, num_layers: int = 1,
                 kernel_size: int = 3):
        super().__init__()
        hidden_size = input_size if hidden_size is None else hidden_size
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                    kernel_size=kernel_size)
        if hidden_size != input_size:
            raise ValueError(f"convrnn keeps the input's size (h_t, x_t in R^d, paper 002 "
                             f"Appendix D): hidden_size must equal input_size = {input_size}, "
                             f"got {hidden_size}")
        if num_layers != 1:
            raise ValueError(f"convrnn is one layer (paper 002 Appendix D), got "
                             f"num_layers={num_layers}")
        if kernel_size > input_size:
            raise ValueError(f"kernel_size {kernel_size} exceeds the input size {input_size}")
        self.input_size = self.hidden_size = input_size
        self.num_layers, self.kernel_size = 1, kernel_size
        self.U, self.W = OrthogonalFilters(kernel_size), OrthogonalFilters(kernel_size)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_input(x, self.input_size, self.U.weight.dtype)
        B, T, d = x.shape
        h = x.new_zeros(B, d) if h0 is None else h0
        if h0 is not None:
            check_state(h0, (1, B, d))
            h = h0[0]
        wx = self.W.convolve(x)
        outputs = []
        for t in range(T):
            h = torch.tanh(self.U.convolve(h) + wx[:, t])
            outputs.append(h)
        codes = torch.stack(outputs, dim=1)
        return codes, h.unsqueeze(0)

    def readout(self, num_classes: int) -> nn.Module:
        """The output map y = pool_K(V * h) of Appendix D, a head for the classifier."""
        return ConvReadout(self.kernel_size, self.input_size, num_classes)

    def filter_matrices(self) -> dict[str, Tensor]:
        """The filter matrices U, W (k x k, columns the filters) of Appendix D."""
        return {"U": self.U.matrix(), "W": self.W.matrix()}


class ConvReadout(nn.Module):
    """Class scores s y for codes h [B, d]: y = pool_K(V * h) (paper 002 Appendix D, sigma_y
    the identity) times a learned temperature s > 0. Under Assumption 8 the mean filter of V
    (and of U, W) has norm exactly 1/k, so |y| stays far below 1 and a softmax over y alone
    barely moves from uniform; s leaves the predicted class (the argmax of y) unchanged, and
    margins and Thm 6 are read off y itself (``unscaled``)."""

    def __init__(self, kernel_size: int, d: int, num_classes: int, scale: float = 30.0):
        super().__init__()
        self.V = OrthogonalFilters(kernel_size)
        self.register_buffer("pool", block_pooling(num_classes, d, torch.float32))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def unscaled(self, h: Tensor) -> Tensor:
        """y = pool_K(V * h), the network's output of Appendix D."""
        return self.V.convolve(h) @ self.pool.T

    def forward(self, h: Tensor) -> Tensor:
        return self.log_scale.exp() * self.unscaled(h)
