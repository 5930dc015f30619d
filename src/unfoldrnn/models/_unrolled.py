"""Fused forward and hand-written backward-through-time of the l1-l1 family's recurrence.

In rows ([B, h] per step), with X_t = x_t A D / c (the input term D^T A^T x_t / c),
s_t = h_{t-1} P^T and z^(0) = s_t, each layer l = 1..d computes

    r = z^(l-1) - (z^(l-1) L) K              (the gradient step: z (I - D^T A^T A D / c))
    u = (r + X_t) Z_l^T                      (Z_l absent for l1-l1-RNN)
    z^(l) = Phi_{a_l, b_l, s_t}(u)           (paper 001 eq. 8)

and h_t = z^(d). L = (A D)^T (h x n) and K = A D / c (n x h) keep the gradient step low
rank; L = None means the identity, for n >= h/2, with K then the dense h x h D^T A^T A D / c.
Multiplying the input term by Z_l inside the step makes U_l x_t = Z_l D^T A^T x_t / c free:
one h x h GEMM per layer and step, as in a vanilla RNN.

Why by hand: autograd would accumulate every weight gradient with one rank-B update per
step (T d small GEMMs plus T d full-size additions). Here the backward loop carries only the
state gradients and stores them; weight gradients are then a few large GEMMs over all T*B
rows, as cuDNN does for torch.nn.RNN. Saved for backward: every layer output and s_t,
(d + 1) T B h numbers (10 MiB for B = 32, T = 20, d = 3, h = 1024 in float32); the backward
pass holds the per-step du and du Z_l, 2 d T B h more numbers, while it runs.

The time loops run in C++ on the CPU with compile_prox="auto" (``_recurrence.cpp``: the same
GEMMs, the prox and its derivative fused into one loop per layer step, results written in
place, no Python or torch.compile dispatch per step); elsewhere, or where the extension
cannot be built, in Python with the prox kernels of ``prox_kernels(compile_prox)``, which
keep per-step results in lists and stack them once.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..prox import prox_kernels


def _gradient_step(z: Tensor, L: Tensor | None, K: Tensor) -> Tensor:
    return torch.addmm(z, z if L is None else z @ L, K, alpha=-1.0)


def _native_loops(compiled: bool | str, X: Tensor):
    """The C++ loops for compile_prox="auto" on float32/float64 CPU tensors (None: the
    Python loops)."""
    if compiled != "auto" or X.device.type != "cpu" or X.dtype not in (torch.float32,
                                                                         torch.float64):
        return None
    from ._native import recurrence

    return recurrence()


def _python_forward(X, h0, PT, Z, L, K, a, b, compiled, ctx):
    """The forward time loop in Python: (V [d, T, B, h], S [T, B, h])."""
    prox_value, ctx.prox_backward = prox_kernels(compiled)
    T, B, h = X.shape
    d = a.shape[0]
    outputs = [[] for _ in range(d)]  # every layer's output z^(l), stacked at the end
    sides = []  # side information s_t = P h_{t-1} = z^(0)
    h_prev = h0
    for t in range(T):
        s = h_prev @ PT
        sides.append(s)
        z = s
        for layer in range(d):
            u = _gradient_step(z, L, K).add_(X[t])
            if Z is not None:
                u = u @ Z[layer].T
            z = prox_value(u, a[layer], b[layer], s)
            outputs[layer].append(z)
        h_prev = z
    V = torch.stack([torch.stack(o) for o in outputs])
    S = torch.stack(sides)
    return V, S


def _python_backward(ctx, grad_codes, PT, Z, L, K, V, S):
    """The backward time loop in Python: (GU, GY [d, T, B, h], GS [T, B, h], ga, gb [d, h],
    dLoss/dh0)."""
    d, T, B, h = V.shape
    GU = [[None] * T for _ in range(d)]  # dLoss/du
    GY = [[None] * T for _ in range(d)]  # dLoss/d(r + X_t) = du Z_l
    GR = [None] * T  # dLoss/ds_t
    ga = V.new_zeros(d, h)
    gb = V.new_zeros(d, h)
    g_next = V.new_zeros(B, h)  # dLoss/dh_t carried back from step t + 1
    for t in reversed(range(T)):
        s = S[t]
        gv = grad_codes[t] + g_next
        gs = torch.zeros_like(s)
        for layer in reversed(range(d)):
            gu, g_a, g_b, g_s = ctx.prox_backward(gv, V[layer, t], s)
            GU[layer][t] = gu
            ga[layer] += g_a.sum(0)
            gb[layer] += g_b.sum(0)
            gs += g_s
            gy = gu @ Z[layer] if Z is not None else gu
            GY[layer][t] = gy
            gK = gy @ K.T
            gz = gy - (gK if L is None else gK @ L.T)
            if layer > 0:
                gv = gz
            else:
                gs += gz
        GR[t] = gs
        g_next = gs @ PT.T
    GU = torch.stack([torch.stack(g) for g in GU])
    GY = torch.stack([torch.stack(g) for g in GY])
    GS = torch.stack(GR)
    return GU, GY, GS, ga, gb, g_next


class UnrolledL1L1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: Tensor, h0: Tensor, PT: Tensor, Z: Tensor | None, L: Tensor | None,
                K: Tensor, a: Tensor, b: Tensor, compiled: bool | str = False) -> Tensor:
        native = _native_loops(compiled, X)
        ctx.native = native
        if native is not None:
            V, S = native.recurrence_forward(X, h0, PT, Z, L, K, a, b)
        else:
            V, S = _python_forward(X, h0, PT, Z, L, K, a, b, compiled, ctx)
        ctx.save_for_backward(X, h0, PT, Z, L, K, V, S)
        return V[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_codes: Tensor):
        X, h0, PT, Z, L, K, V, S = ctx.saved_tensors
        d, T, B, h = V.shape
        if ctx.native is not None:
            GU, GY, GS, ga, gb, g_next = ctx.native.recurrence_backward(
                grad_codes, PT, Z, L, K, V, S)
        else:
            GU, GY, GS, ga, gb, g_next = _python_backward(ctx, grad_codes, PT, Z, L, K, V, S)

        # weight gradients: one GEMM over all T * B rows per matrix
        rows = T * B
        inputs = [S.view(rows, h)] + [V[layer].view(rows, h) for layer in range(d - 1)]
        gy_rows = GY.view(d, rows, h)
        g_X = GY.sum(0)
        g_Z = g_L = g_K = None
        if Z is not None and ctx.needs_input_grad[3]:
            x_rows = X.view(rows, h)
            g_Z = torch.stack([
                GU[layer].view(rows, h).T @ (_gradient_step(inputs[layer], L, K) + x_rows)
                for layer in range(d)])
        if L is None:
            g_K = -sum(inputs[layer].T @ gy_rows[layer] for layer in range(d))
        else:
            if ctx.needs_input_grad[5]:
                g_K = -sum((inputs[layer] @ L).T @ gy_rows[layer] for layer in range(d))
            if ctx.needs_input_grad[4]:
                g_L = -sum(inputs[layer].T @ (gy_rows[layer] @ K.T) for layer in range(d))
        h_prevs = torch.cat([h0.unsqueeze(0), V[d - 1, :-1]]).view(rows, h)
        g_PT = h_prevs.T @ GS.view(rows, h)
        return g_X, g_next, g_PT, g_Z, g_L, g_K, ga, gb, None
