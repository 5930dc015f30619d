"""Proximal operators used as activation functions of the unfolding RNNs.

Both operators are element-wise and broadcast their parameters (per unit, per layer).

* ``soft_threshold(u, a)``: prox of a|v|, the ISTA/Sista-RNN activation.
* ``prox_l1l1(u, a, b, s)``: prox of a|v| + b|v - s| (paper 001, eq. 5-7 and
  Proposition B.1), the activation of l1-l1-RNN and reweighted-RNN.

``prox_l1l1`` is a custom ``autograd.Function``: the forward pass keeps one int8 region
code per element instead of the half-dozen float intermediates that autograd would keep.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["soft_threshold", "prox_l1l1", "prox_l1l1_reference"]


def soft_threshold(u: Tensor, a: Tensor | float) -> Tensor:
    """phi_a(u) = sign(u) max(|u| - a, 0), the prox of a|v| (paper 001 eq. 6-7 with b = 0)."""
    return torch.sign(u) * torch.relu(u.abs() - a)


# Region codes of the piecewise-linear prox (k1 = min(0, s) <= k2 = max(0, s)):
#   0: v = u - a - b     (right of both kinks)
#   1: v = k2            (plateau at the upper kink)
#   2: v = u - m         (between the kinks; m = a - b if s >= 0 else b - a)
#   3: v = k1            (plateau at the lower kink)
#   4: v = u + a + b     (left of both kinks)
# Bit 3 (value 8) of the code stores s < 0, needed to know which plateau equals s.
_NEG = 8


def _prox_forward(u: Tensor, a: Tensor, b: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    neg = s < 0
    k1 = s.clamp(max=0)
    k2 = s.clamp(min=0)
    m = torch.where(neg, b - a, a - b)
    ab = a + b
    um = u - m
    v = torch.minimum(torch.maximum(um, k1), k2)
    upper = u > k2 + ab
    lower = u < k1 - ab
    v = torch.where(upper, u - ab, torch.where(lower, u + ab, v))
    code = torch.full(v.shape, 2, dtype=torch.int8, device=v.device)
    code.masked_fill_(um >= k2, 1).masked_fill_(um <= k1, 3)
    code.masked_fill_(upper, 0).masked_fill_(lower, 4)
    code += neg.to(torch.int8) * _NEG
    return v, code


class _ProxL1L1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, a, b, s):
        v, code = _prox_forward(u, a, b, s)
        ctx.save_for_backward(code)
        ctx.shapes = (u.shape, a.shape, b.shape, s.shape)
        return v

    @staticmethod
    def backward(ctx, grad):
        (code,) = ctx.saved_tensors
        shape_u, shape_a, shape_b, shape_s = ctx.shapes
        neg = code >= _NEG
        region = code - neg.to(torch.int8) * _NEG
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        grad_u = grad_a = grad_b = grad_s = None
        if ctx.needs_input_grad[0]:
            linear = (region == 0) | (region == 2) | (region == 4)
            grad_u = torch.where(linear, grad, zero).sum_to_size(shape_u)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            outer = torch.where(region == 0, -grad, torch.where(region == 4, grad, zero))
            # Middle piece: v = u - m, m = sigma (a - b), sigma = +1 (s >= 0) or -1 (s < 0).
            mid = torch.where(region == 2, torch.where(neg, grad, -grad), zero)
            if ctx.needs_input_grad[1]:
                grad_a = (outer + mid).sum_to_size(shape_a)
            if ctx.needs_input_grad[2]:
                grad_b = (outer - mid).sum_to_size(shape_b)
        if ctx.needs_input_grad[3]:
            # v = s on the plateau at s: the upper kink when s >= 0, the lower one when s < 0.
            on_s = torch.where(neg, region == 3, region == 1)
            grad_s = torch.where(on_s, grad, zero).sum_to_size(shape_s)
        return grad_u, grad_a, grad_b, grad_s


def _as_tensor(x, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def prox_l1l1(u: Tensor, a, b, s) -> Tensor:
    """Phi_{a,b,s}(u) = argmin_v a|v| + b|v - s| + (v - u)^2 / 2, element-wise.

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
