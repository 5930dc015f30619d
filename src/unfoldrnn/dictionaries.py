"""Sparsifying dictionaries D (n0 x h) used to initialise the unfolding RNNs."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["dct_1d", "dct_dictionary", "uniform_dictionary", "near_square"]


def near_square(n: int) -> tuple[int, int]:
    """Factor n = rows * cols with rows >= cols and the two as close as possible."""
    cols = int(math.isqrt(n))
    while n % cols:
        cols -= 1
    return n // cols, cols


def dct_1d(n: int, k: int, dtype=torch.float64) -> Tensor:
    """n x k DCT-II dictionary with unit-norm atoms d_j[i] = cos(pi (i + 1/2) j / k).

    For k = n it is the orthonormal DCT-II basis; k > n gives the usual overcomplete DCT
    (frequencies sampled k times over [0, pi)); k < n keeps k atoms spread over the band.
    """
    i = torch.arange(n, dtype=dtype).unsqueeze(1)
    j = torch.arange(k, dtype=dtype).unsqueeze(0)
    atoms = torch.cos(math.pi * (i + 0.5) * j / k)
    return atoms / atoms.norm(dim=0, keepdim=True)


def dct_dictionary(n0: int, h: int, image_shape: tuple[int, int] | None = None,
                   dtype=torch.float32) -> Tensor:
    """Overcomplete 2-D DCT (paper 001 Sec. 4: D initialised with the DCT), n0 x h.

    The Kronecker product of two 1-D DCT-II dictionaries (``dct_1d``) acting on the rows
    and columns of a ``image_shape`` image vectorised row-major; the atoms have unit norm.
    ``h`` is split into rows x cols as near to square as possible. With h = n0 it is the
    orthonormal 2-D DCT.
    """
    rows, cols = image_shape if image_shape is not None else near_square(n0)
    if rows * cols != n0:
        raise ValueError(f"image_shape {image_shape} does not match signal size n0={n0}")
    h_rows, h_cols = near_square(h)
    if rows < cols:
        h_rows, h_cols = h_cols, h_rows
    return torch.kron(dct_1d(rows, h_rows), dct_1d(cols, h_cols)).to(dtype)


def uniform_dictionary(n0: int, h: int, generator: torch.Generator | None = None,
                       dtype=torch.float32) -> Tensor:
    """Random-uniform D in U(-1/sqrt(h), 1/sqrt(h)) (paper 000 Sec. 4.1: D random uniform),
    divided by ||D||_2 where that exceeds 1.

    The bound is torch's default for a Linear(h -> n0) decoder; it gives
    ||D||_2 ~ (sqrt(n0) + sqrt(h)) / sqrt(3 h), below 1 for h >~ 2 n0 (the classifiers'
    n0 = 32, h = 100), so the gradient step 1/c with the papers' c = 1 starts in the stable
    range (c >= ||A D||_2^2 with A = I). For wider D (n0 = h = 100 of the language models) the
    rescaling keeps ||D||_2 = 1.
    """
    bound = 1.0 / math.sqrt(h)
    D = (torch.rand(n0, h, generator=generator, dtype=dtype) * 2 - 1) * bound
    norm = float(torch.linalg.matrix_norm(D.double(), 2))
    return D / norm if norm > 1 else D
