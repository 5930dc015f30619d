"""Argument and input validation shared by every model (clear ValueErrors, never silent)."""

from __future__ import annotations

import torch
from torch import Tensor


def check_sizes(**sizes: int | None) -> None:
    """Raise ValueError unless every given size is a positive int (None is skipped)."""
    for name, value in sizes.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_input(x: Tensor, input_size: int, dtype: torch.dtype | None = None) -> None:
    """x must be a finite float tensor [B, T, input_size] (batch_first) of the weights'
    ``dtype``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"input must be 3-D [batch, time, features] (batch_first), got shape {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"input has {x.shape[-1]} features per step, the model expects input_size={input_size}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"input has an empty batch or time axis: shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"input must be a floating-point tensor, got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"input is {x.dtype} but the model's weights are {dtype}: convert one "
                         f"of them (x.to({dtype}) or model.to({x.dtype}))")
    if not _capturing(x) and not bool(torch.isfinite(x).all()):
        raise ValueError("input contains NaN or infinite values")


def _capturing(x: Tensor) -> bool:
    """A CUDA graph is being captured: no check may synchronise with the CPU then."""
    return x.is_cuda and torch.cuda.is_current_stream_capturing()


def check_state(h0: Tensor, expected: tuple[int, ...], name: str = "h0") -> None:
    if tuple(h0.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(h0.shape)}")
    if not _capturing(h0) and not bool(torch.isfinite(h0).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
