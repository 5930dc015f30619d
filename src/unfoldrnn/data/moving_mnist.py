"""Moving MNIST (Srivastava et al. 2015), generated, and the official file's loader."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .mnist import DataError, load_mnist

PAPER_SPLIT = (8000, 1000, 1000)  # train / validation / test (paper 001 Sec. 4)


def downscale(frames: torch.Tensor, frame_size: int) -> torch.Tensor:
    """Bilinear downscaling [..., H, W] -> [..., s, s] (antialiased, as image resizers do:
    plain bilinear sampling at 4x decimation would skip three pixels in four)."""
    if frames.shape[-1] == frame_size and frames.shape[-2] == frame_size:
        return frames
    lead = frames.shape[:-2]
    flat = frames.reshape(-1, 1, *frames.shape[-2:])
    out = F.interpolate(flat, size=(frame_size, frame_size), mode="bilinear",
                        align_corners=False, antialias=True)
    return out.reshape(*lead, frame_size, frame_size).clamp(0, 1)


def moving_mnist(num_sequences: int, seed: int = 0, frames: int = 20, size: int = 64,
                 frame_size: int = 16, digits: torch.Tensor | None = None,
                 num_digits: int = 2, chunk: int = 512) -> torch.Tensor:
    """Float tensor [N, frames, frame_size, frame_size] in [0, 1], deterministic per seed.

    The standard generator: each of ``num_digits`` random digits starts at a random position
    in the size x size canvas with a random direction and moves at constant speed (one tenth
    of the free range per frame), bouncing off the borders; digits combine by max. Frames are
    then bilinearly downscaled to frame_size. ``digits`` ([K, 28, 28] uint8 or float in [0, 1])
    default to the MNIST test set embedded in the package.
    """
    if num_sequences <= 0 or frames <= 0 or frame_size <= 0:
        raise ValueError("num_sequences, frames and frame_size must be positive")
    if digits is None:
        digits = load_mnist()[0]
    digits = digits.float() / 255 if digits.dtype == torch.uint8 else digits.float()
    if digits.dim() != 3:
        raise ValueError(f"digits must be [K, height, width], got {tuple(digits.shape)}")
    k, dh, dw = digits.shape
    if dh > size or dw > size:
        raise ValueError(f"digits of {dh}x{dw} do not fit a {size}x{size} canvas")
    # one row of random numbers per sequence, so the first N sequences of a larger draw
    # equal a draw of N: (digit, row, column, direction) for every digit
    params = torch.rand(num_sequences, num_digits, 4, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed))
    limit = torch.tensor([size - dh, size - dw], dtype=torch.float64)
    rows, cols = torch.arange(dh), torch.arange(dw)
    out = []
    for start in range(0, num_sequences, chunk):
        p = params[start:start + chunk]
        n = p.shape[0]
        batch = torch.arange(n)[:, None, None]
        canvas = torch.zeros(n, frames, size, size)
        for j in range(num_digits):
            which = (p[:, j, 0] * k).long().clamp(max=k - 1)
            pos = p[:, j, 1:3] * limit
            theta = p[:, j, 3] * 2 * math.pi
            vel = torch.stack([torch.sin(theta), torch.cos(theta)], 1) * limit / 10
            for t in range(frames):
                top, left = pos.round().long().unbind(1)
                r = (top[:, None] + rows)[:, :, None]
                c = (left[:, None] + cols)[:, None, :]
                canvas[batch, t, r, c] = torch.maximum(canvas[batch, t, r, c], digits[which])
                pos = pos + vel
                over, under = pos > limit, pos < 0  # bounce: reflect position and velocity
                pos = torch.where(over, 2 * limit - pos, torch.where(under, -pos, pos))
                vel = torch.where(over | under, -vel, vel)
        out.append(downscale(canvas, frame_size))
    return torch.cat(out)


def load_official(path: str | os.PathLike, frame_size: int = 16) -> torch.Tensor:
    """The official ``mnist_test_seq.npy`` ([20, 10000, 64, 64] uint8) -> [N, 20, s, s]."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Moving MNIST file not found: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataError(f"cannot read {path} as a .npy array: {err}") from None
    if array.ndim != 4 or array.dtype != np.uint8:
        raise DataError(f"{path} must hold uint8 [frames, sequences, H, W], got "
                        f"{array.dtype} {array.shape}")
    frames = torch.from_numpy(array).permute(1, 0, 2, 3).float() / 255
    return downscale(frames, frame_size)


def split(data: torch.Tensor, sizes: tuple[int, int, int] | None = None):
    """Train / validation / test split in order; default the paper's 80 / 10 / 10 %."""
    n = data.shape[0]
    if sizes is None:
        sizes = (round(n * 0.8), round(n * 0.1), n - round(n * 0.8) - round(n * 0.1))
    if sum(sizes) > n or min(sizes) <= 0:
        raise ValueError(f"cannot split {n} sequences into {sizes}")
    a, b, c = sizes
    return data[:a], data[a:a + b], data[a + b:a + b + c]
