"""Proximal operators used as activation functions of the unfolding RNNs.

Both operators are element-wise and broadcast their parameters (per unit, per layer).

* ``soft_threshold(u, a)``: prox of a|v|, the ISTA/Sista-RNN activation.
* ``prox_l1l1(u, a, b, s)``: prox of a|v| + b|v - s| (paper 001, eq. 5-7 and
  Proposition B.1), the activation of l1-l1-RNN and reweighted-RNN.

``prox_l1l1`` is a custom ``autograd.Function`` whose backward reads the piece of the
piecewise-linear prox off its output v and s alone: it keeps no intermediate, where plain
autograd would keep half a dozen tensors of the input's size.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings

import torch
from torch import Tensor

__all__ = [
    "soft_threshold", "prox_l1l1", "prox_l1l1_reference", "prox_value", "prox_backward",
    "prox_kernels",
]


def soft_threshold(u: Tensor, a: Tensor | float) -> Tensor:
    r""":math:`\phi_a(u) = \operatorname{sign}(u) \max(|u| - a, 0)`, the prox of
    :math:`a|v|` (paper 001 eq. 6-7 with b = 0)."""
    return torch.sign(u) * torch.relu(u.abs() - a)


def prox_value(u: Tensor, a: Tensor, b: Tensor, s: Tensor) -> Tensor:
    """Forward value of Phi_{a,b,s}(u), no autograd (see ``prox_l1l1``).

    v = clamp(u - m, k1, k2) + relu(u - a - b - k2) - relu(k1 - a - b - u) with
    k1 = min(0, s), k2 = max(0, s), m = sign(s) (a - b). On the plateaus v is exactly k1 or
    k2, which is what lets ``prox_backward`` read the piece off v.
    """
    k1 = s.clamp(max=0)
    k2 = s.clamp(min=0)
    ab = a + b
    v = torch.clamp(u - torch.where(s < 0, b - a, a - b), k1, k2)
    v += (u - ab - k2).relu_()
    v -= (k1 - ab - u).relu_()
    return v


def prox_backward(grad: Tensor, v: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Element-wise partial derivatives of v = Phi_{a,b,s}(u) times ``grad``, read off the
    output v and s alone (no saved intermediates): returns (d/du, d/da, d/db, d/ds).

    v lies on one of five pieces: v = u - a - b (v > k2), v = k2 or k1 (plateaus, slope 0 in u),
    v = u - m with m = sign(s) (a - b) (k1 < v < k2) and v = u + a + b (v < k1); the plateau
    equal to s passes the gradient to s. At s = 0 both plateaus sit at 0 and d/ds jumps
    (1 on the right, 0 on the left): we take the left derivative, 0, as relu'(0) = 0.
    """
    k1 = s.clamp(max=0)
    k2 = s.clamp(min=0)
    upper = v > k2
    lower = v < k1
    grad_u = grad.masked_fill((v == k1) | (v == k2), 0)
    outer = grad * (lower.to(grad.dtype) - upper.to(grad.dtype))
    mid = grad_u.masked_fill(upper | lower, 0)
    mid = torch.where(s < 0, -mid, mid)  # d(u - m)/da = -sign(s), d/db = +sign(s)
    grad_s = grad.masked_fill((v != s) | (s == 0), 0)
    return grad_u, outer - mid, outer + mid, grad_s


_COMPILED: dict[str, object] = {}
_AUTO: dict[str, object] = {}
log = logging.getLogger("unfoldrnn")


def _compiled_kernels():
    if not _COMPILED:
        _COMPILED["value"] = torch.compile(prox_value)
        _COMPILED["backward"] = torch.compile(prox_backward)
    return _COMPILED["value"], _COMPILED["backward"]


def compiler_missing() -> str | None:
    """Why torch.compile cannot build CPU kernels here (no C++ compiler), or None."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    if not any(shutil.which(name) for name in names):
        return "no C++ compiler found (" + ", ".join(names) + ")"
    return None


class _Auto:
    """A kernel that runs compiled when it can and falls back to eager, once, when not."""

    def __init__(self, name: str, eager):
        self.name, self.eager, self.compiled = name, eager, None

    def __call__(self, *args):
        if _AUTO.get("failed"):
            return self.eager(*args)
        if args[0].device.type == "cpu" and "compiler_checked" not in _AUTO:
            _AUTO["compiler_checked"] = True  # once per process: not a PATH scan per step
            missing = compiler_missing()
            if missing is not None:
                return self._fall_back(missing, args)
        if self.compiled is None:
            self.compiled = _compiled_kernels()[0 if self.name == "value" else 1]
        started = time.perf_counter()
        try:
            out = self.compiled(*args)
        except Exception as err:  # any backend failure: run eager, never fail the user's run
            return self._fall_back(f"{type(err).__name__}: {str(err).splitlines()[0][:160]}",
                                   args)
        seconds = time.perf_counter() - started
        if not _AUTO.get(f"logged-{self.name}") and seconds > 0.5:
            _AUTO[f"logged-{self.name}"] = True
            log.info("compiled the prox %s kernel in %.1f s (once per process)", self.name,
                     seconds)
        return out

    def _fall_back(self, reason: str, args):
        _AUTO["failed"] = True
        warnings.warn(f"compile_prox='auto': torch.compile is unavailable ({reason}); the "
                      "prox kernels run eager", RuntimeWarning, stacklevel=3)
        return self.eager(*args)


_AUTO_KERNELS = (_Auto("value", prox_value), _Auto("backward", prox_backward))


def prox_kernels(compiled: bool | str = False):
    """(prox_value, prox_backward): eager (False), fused by ``torch.compile`` (True), or
    "auto": compiled where torch.compile works on this machine, else eager with one warning.

    The compiled kernels fuse the dozen element-wise operations of each into one loop
    (about 5x faster on CPU for [32, 1024]); the first call compiles for some seconds.
    """
    if compiled == "auto":
        return _AUTO_KERNELS
    if compiled is True:
        return _compiled_kernels()
    if compiled is False:
        return prox_value, prox_backward
    raise ValueError(f"compile_prox must be True, False or 'auto', got {compiled!r}")


class _ProxL1L1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, a, b, s):
        v = prox_value(u, a, b, s)  # autograd is off inside Function.forward
        ctx.save_for_backward(v, s)
        ctx.shapes = (u.shape, a.shape, b.shape, s.shape)
        return v

    @staticmethod
    def backward(ctx, grad):
        v, s = ctx.saved_tensors
        grads = prox_backward(grad, v, s)
        return tuple(g.sum_to_size(shape) if need else None
                     for g, shape, need in zip(grads, ctx.shapes, ctx.needs_input_grad,
                                               strict=True))


def _as_tensor(x, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def prox_l1l1(u: Tensor, a, b, s) -> Tensor:
    r"""Element-wise

    .. math::

        \Phi_{a,b,s}(u) = \operatorname*{argmin}_v \; a|v| + b|v - s| + \tfrac12 (v - u)^2.

    Paper 001 eq. 5-7 (Proposition B.1 of its Appendix B): with kinks k1 = min(0, s),
    k2 = max(0, s) the prox is the five-piece function of eq. 6 (s >= 0) and its mirror
    image eq. 7 (s < 0); in closed form
    ``v = clamp(u - m, k1, k2) + relu(u - a - b - k2) - relu(k1 - a - b - u)`` with
    m = a - b for s >= 0 and m = b - a for s < 0. ``a, b >= 0`` and ``s`` broadcast
    against ``u``. With b = 0 it is the soft threshold.
    """
    a, b, s = _as_tensor(a, u), _as_tensor(b, u), _as_tensor(s, u)
    return _ProxL1L1.apply(u, a, b, s)


def prox_l1l1_reference(u: Tensor, a, b, s) -> Tensor:
    """Plain-autograd transcription of the case tables eq. 6-7 of paper 001 (for tests)."""
    a, b, s = _as_tensor(a, u), _as_tensor(b, u), _as_tensor(s, u)
    pos = torch.where(
        u > s + a + b, u - a - b,
        torch.where(u >= s + a - b, s,
                    torch.where(u > a - b, u - a + b,
                                torch.where(u >= -a - b, torch.zeros_like(u), u + a + b))))
    negv = torch.where(
        u > a + b, u - a - b,
        torch.where(u >= -a + b, torch.zeros_like(u),
                    torch.where(u > s - a + b, u + a - b,
                                torch.where(u >= s - a - b, s.expand_as(u), u + a + b))))
    return torch.where(s >= 0, pos, negv)
