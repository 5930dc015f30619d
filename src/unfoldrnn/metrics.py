"""Evaluation metrics."""

from __future__ import annotations

import torch
from torch import Tensor


def psnr(estimate: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean over frames of the per-frame PSNR 10 log10(range^2 / MSE_frame), in dB (paper 001
    Sec. 4). Inputs are [N, T, n0] (a frame is the last axis) or [N, T, H, W] (the last two).
    The MSE is floored at 1e-10 range^2, so an exact frame counts as 100 dB, not infinity."""
    if estimate.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(estimate.shape)} vs {tuple(target.shape)}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    mse = (estimate - target).square().flatten(start_dim=2 if estimate.dim() > 3 else -1)
    mse = mse.mean(dim=-1).clamp(min=1e-10 * data_range ** 2)
    return (10 * torch.log10(data_range ** 2 / mse)).mean()
