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


def _precomposed_python_forward(Y, h0, W0, M, a, b, compiled, ctx):
    """PrecomposedL1L1's forward time loop in Python: (V [d, T, B, h], S [T, B, h])."""
    prox_value, ctx.prox_backward = prox_kernels(compiled)
    d, T, B, h = Y.shape
    outputs = [[] for _ in range(d)]
    sides = []
    h_prev = h0
    for t in range(T):
        su = h_prev @ W0
        s = su[:, :h].contiguous()
        sides.append(s)
        z = prox_value(su[:, h:] + Y[0, t], a[0], b[0], s)
        outputs[0].append(z)
        for layer in range(1, d):
            z = prox_value(torch.addmm(Y[layer, t], z, M[layer - 1]), a[layer], b[layer], s)
            outputs[layer].append(z)
        h_prev = z
    return torch.stack([torch.stack(o) for o in outputs]), torch.stack(sides)


def _precomposed_python_backward(ctx, grad_codes, W0, M, V, S):
    """The backward time loop in Python: (GU [d, T, B, h], GS [T, B, h], ga, gb [d, h],
    dLoss/dh0)."""
    d, T, B, h = V.shape
    GU = [[None] * T for _ in range(d)]
    GS = [None] * T
    ga, gb = V.new_zeros(d, h), V.new_zeros(d, h)
    g_next = V.new_zeros(B, h)
    for t in reversed(range(T)):
        gv = grad_codes[t] + g_next
        gs = torch.zeros_like(S[t])
        for layer in reversed(range(d)):
            gu, g_a, g_b, g_s = ctx.prox_backward(gv, V[layer, t], S[t])
            GU[layer][t] = gu
            ga[layer] += g_a.sum(0)
            gb[layer] += g_b.sum(0)
            gs += g_s
            if layer > 0:
                gv = gu @ M[layer - 1].T
        GS[t] = gs
        g_next = gs @ W0[:, :h].T + GU[0][t] @ W0[:, h:].T
    return torch.stack([torch.stack(g) for g in GU]), torch.stack(GS), ga, gb, g_next


class PrecomposedL1L1(torch.autograd.Function):
    """The same recurrence with the gradient step and Z_l precomposed (``precompose``):

        [s_t | u_1 - Y_1,t] = h_{t-1} W0,   W0 = [P^T | P^T M_1]   (one [h, 2h] GEMM)
        u_l = z^(l-1) M_l + Y_l,t  (l > 1),  z^(l) = Phi_{a_l, b_l, s_t}(u_l)

    with M_l = (I - L K) Z_l^T and Y_l,t = X_t Z_l^T computed before the loop (the input
    terms as one GEMM over all T * B rows): (d + 1) h^2 sequential multiply-adds per row and
    step, against d (2 h n + h^2) + h^2 in ``UnrolledL1L1``. Gradients reach Z_l, L, K and P
    through the precomposition (autograd, once per batch)."""

    @staticmethod
    def forward(ctx, Y: Tensor, h0: Tensor, W0: Tensor, M: Tensor, a: Tensor, b: Tensor,
                compiled: bool | str = False) -> Tensor:
        native = _native_loops(compiled, Y)
        ctx.native = native
        if native is not None:
            V, S = native.precomposed_forward(Y, h0, W0, M, a, b)
        else:
            V, S = _precomposed_python_forward(Y, h0, W0, M, a, b, compiled, ctx)
        ctx.save_for_backward(h0, W0, M, V, S)
        return V[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_codes: Tensor):
        h0, W0, M, V, S = ctx.saved_tensors
        d, T, B, h = V.shape
        if ctx.native is not None:
            GU, GS, ga, gb, g_next = ctx.native.precomposed_backward(grad_codes, W0, M, V, S)
        else:
            GU, GS, ga, gb, g_next = _precomposed_python_backward(ctx, grad_codes, W0, M, V, S)
        rows = T * B
        h_prevs = torch.cat([h0.unsqueeze(0), V[d - 1, :-1]]).view(rows, h)
        g_W0 = h_prevs.T @ torch.cat([GS.view(rows, h), GU[0].view(rows, h)], 1)
        g_M = torch.stack([V[layer - 1].view(rows, h).T @ GU[layer].view(rows, h)
                           for layer in range(1, d)]) if d > 1 else torch.zeros_like(M)
        return GU, g_next, g_W0, g_M, ga, gb, None


def precompose(X: Tensor | None, PT: Tensor, L: Tensor | None, K: Tensor, d: int,
               Z: Tensor | None = None, x_rows: Tensor | None = None,
               U: Tensor | None = None, shape: tuple[int, int] | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
    """(Y [d, T, B, h], W0 [h, 2h], M [d - 1, h, h]) of ``PrecomposedL1L1`` from the
    ``UnrolledL1L1`` operands: M_l = (I - L K) Z_l^T, W0 = [P^T | P^T M_1], and the input
    terms Y_l = X Z_l^T, computed as x_t (U Z_l^T) from the input rows ``x_rows``
    [T * B, n] and U = A D / c (n x h) when n < h (``shape`` = (T, B); X may then be None).
    Without Z (l1-l1-RNN) every layer shares M = I - L K and X itself, expanded (no copy)."""
    h = K.shape[1]
    step = torch.eye(h, dtype=K.dtype, device=K.device) - (K if L is None else L @ K)
    if Z is None:
        T, B, _ = X.shape
        M, Y = step.expand(d, h, h), X.expand(d, T, B, h)
    else:
        ZT = Z.transpose(1, 2)
        M = step @ ZT
        if X is None:
            T, B = shape
            Y = (x_rows @ (U @ ZT)).view(d, T, B, h)
        else:
            T, B, _ = X.shape
            Y = (X.reshape(T * B, h) @ ZT).view(d, T, B, h)
    return Y, torch.cat([PT, PT @ M[0]], 1), M[1:]
