"""Deep-unfolding RNNs: reweighted-RNN, l1-l1-RNN, Sista-RNN, and Algorithm 1 of paper 001.

Notation (papers 000 and 001): measurements x_t in R^n, codes h_t in R^h, signal
s_t = D h_t in R^n0, sensing matrix A (n x n0), dictionary D (n0 x h), correlation matrix P
(h x h; G in paper 001), d layers (= unfolded iterations).

Every layer applies one proximal-gradient step to the code, starting at time t from
h_t^(0) = P h_{t-1}^(d) (Sista-RNN: D^T F D h_{t-1}^(d)). The coupled weight matrices are
never re-formed per step: reweighted-RNN and l1-l1-RNN run in a fused recurrence with a
hand-written backward (``_unrolled.py``); Sista-RNN either forms S and K once per forward
("explicit") or applies their thin factors ("factored"), whichever costs fewer flops.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..dictionaries import dct_dictionary, uniform_dictionary
from ..prox import prox_l1l1, soft_threshold
from ._checks import check_input, check_sizes, check_state
from ._unrolled import PrecomposedL1L1, UnrolledL1L1, precompose

__all__ = ["ReweightedRNN", "L1L1RNN", "SistaRNN", "algorithm1"]

_WEIGHT_FORMS = ("auto", "explicit", "factored")
# the l1-l1 family's time loop: the step and Z_l precomposed (PrecomposedL1L1) or applied as
# factors each step (UnrolledL1L1); "auto" takes the one of fewer multiply-adds
RECURRENCES = ("auto", "precomposed", "unrolled")
# the cost model of "auto", in multiply-adds of the per-step [B, h] GEMMs, fitted to one-core
# timings of both loops at the speech, h = 256 and h = 1024 sizes (benchmarks/README.md):
GEMM_CALL = 150_000  # what one GEMM call of the time loop costs beyond its arithmetic
SQUARE_GEMM = 0.2  # the h x h x h products of the precomposition run about 5x faster
INITS = ("scaled", "paper")
# init="scaled": the prox thresholds (a, b) = (lambda1, lambda2) / c in units of the codes'
# RMS: little shrinkage to 0, a strong pull to the predicted code P h_{t-1} (docs: defaults);
# l1-l1-RNN, without the per-unit weights g_l that let reweighted-RNN shape its thresholds
# unit by unit, starts with a larger plateau at 0 (``L1L1RNN.scaled_thresholds``)
THRESHOLDS = (0.01, 0.5)
L1L1_THRESHOLDS = (0.2, 0.5)
PAPER_LAMBDAS = (0.003, 0.02)  # init="paper": (lambda1, lambda2) of paper 000 Sec. 4.1


def _positive_log(value: float, name: str) -> nn.Parameter:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return nn.Parameter(torch.tensor(math.log(value)))


class _Unfolding(nn.Module):
    """Sizes, sensing matrix A, dictionary D, initial state h0 and input checks."""

    scaled_thresholds = THRESHOLDS  # (a, b) in the codes' units under init="scaled"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 signal_size: int | None = None, *, A: Tensor | None = None,
                 D: Tensor | None = None, train_A: bool | None = None, train_D: bool = True,
                 dictionary: str = "uniform", init: str = "scaled", seed: int | None = None):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init = init
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                    signal_size=signal_size)
        n, h = input_size, hidden_size
        n0 = input_size if signal_size is None else signal_size
        self.input_size, self.hidden_size, self.num_layers, self.signal_size = n, h, num_layers, n0
        gen = torch.Generator().manual_seed(seed) if seed is not None else None

        if A is None:
            if n == n0:  # the papers' classification setting: A = I, fixed
                A, default_train = torch.eye(n), False
            else:  # Gaussian sensing matrix with E||A s||^2 = ||s||^2
                A, default_train = torch.randn(n, n0, generator=gen) / math.sqrt(n), True
        else:
            default_train = True
        self._register_matrix("A", A, (n, n0), default_train if train_A is None else train_A)

        if D is None:
            if dictionary == "dct":
                D = dct_dictionary(n0, h)
            elif dictionary == "uniform":
                D = uniform_dictionary(n0, h, generator=gen)
            else:
                raise ValueError(f"dictionary must be 'dct' or 'uniform', got {dictionary!r}")
            if init == "scaled" and isinstance(A, Tensor) and A.shape == (n, n0):
                D = D * unit_code_scale(A.float() @ D)
        self._register_matrix("D", D, (n0, h), train_D)
        h0 = torch.zeros(h) if init == "paper" else torch.randn(h, generator=gen)
        self.h0 = nn.Parameter(h0)

    @classmethod
    def initial_settings(cls, init: str) -> dict:
        """What ``init`` sets the l1 weights left at None to, as a run's config records it
        (``runs``: a run made under other defaults is not reused as this one)."""
        if init == "paper":
            return {"init": init, "lambdas": list(PAPER_LAMBDAS)}
        return {"init": init, "lambdas_over_step": list(cls.scaled_thresholds)}

    def _default_lambdas(self, lambda1: float | None, lambda2: float | None, step: float
                         ) -> tuple[float, float]:
        """The l1 weights left at None: paper 000 Sec. 4.1's (0.003, 0.02) (init="paper"),
        or ``scaled_thresholds`` * step, so that the prox thresholds lambda / c are
        ``scaled_thresholds`` in the codes' units (init="scaled")."""
        if self.init == "paper":
            default = PAPER_LAMBDAS
        else:
            default = tuple(t * step for t in self.scaled_thresholds)
        return (default[0] if lambda1 is None else lambda1,
                default[1] if lambda2 is None else lambda2)

    def _lipschitz(self) -> float:
        """||A D||_2^2, the Lipschitz constant of the fidelity's gradient: the default step
        1/c (Sista: 1/alpha) of proximal gradient, which keeps the unrolled iteration stable
        (paper 001 Sec. 1)."""
        with torch.no_grad():
            return max(float(torch.linalg.matrix_norm(self.A @ self.D, 2)) ** 2, 1e-6)

    def _register_matrix(self, name: str, value: Tensor, shape: tuple[int, int], trainable: bool):
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{name} must be a tensor of shape {shape}, got {got}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        if isinstance(value, nn.Parameter):  # shared with the caller (e.g. the task's decoder)
            self.register_parameter(name, value)
        elif trainable:
            self.register_parameter(name, nn.Parameter(value.detach().clone().float()))
        else:
            self.register_buffer(name, value.detach().clone().float())

    def _initial_state(self, x: Tensor, h0: Tensor | None) -> Tensor:
        check_input(x, self.input_size, self.D.dtype)
        B = x.shape[0]
        if h0 is None:
            return self.h0.expand(B, self.hidden_size)
        if h0.dim() == 3 and h0.shape[0] == 1:  # torch's [num_layers * dirs, B, h] layout
            h0 = h0[0]
        check_state(h0, (B, self.hidden_size))
        return h0

    @property
    def lambda1(self) -> Tensor:
        """The l1 weights, stored as logarithms (log_lambda1, log_lambda2) to stay positive."""
        return self.log_lambda1.exp()

    @property
    def lambda2(self) -> Tensor:
        return self.log_lambda2.exp()

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"num_layers={self.num_layers}, signal_size={self.signal_size}")


class _L1L1Family(_Unfolding):
    """reweighted-RNN (reweighted=True) and l1-l1-RNN (Z_l = I, g_l = 1), paper 001 eq. 8-12."""

    reweighted: bool = True

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 signal_size: int | None = None, *, c: float | None = None,
                 lambda1: float | None = None, lambda2: float | None = None,
                 compile_prox: bool | str = "auto", recurrence: str = "auto", **kw):
        super().__init__(input_size, hidden_size, num_layers, signal_size, **kw)
        if recurrence not in RECURRENCES:
            raise ValueError(f"recurrence must be one of {RECURRENCES}, got {recurrence!r}")
        self.recurrence = recurrence
        c = self._lipschitz() if c is None else c
        lambda1, lambda2 = self._default_lambdas(lambda1, lambda2, c)
        h, d = hidden_size, num_layers
        if compile_prox not in (True, False, "auto"):
            raise ValueError(f"compile_prox must be True, False or 'auto', got {compile_prox!r}")
        # "auto": C++ time loops on the CPU, compiled prox kernels on a GPU (falling back to
        # the eager Python loops); True: torch.compile the prox kernels; False: eager
        self.compile_prox = compile_prox
        self.P = nn.Parameter(torch.eye(h))
        if self.reweighted:
            self.Z = nn.Parameter(torch.eye(h).repeat(d, 1, 1))
            self.log_g = nn.Parameter(torch.zeros(d, h))
        self.log_c = _positive_log(c, "c")
        self.log_lambda1 = _positive_log(lambda1, "lambda1")
        self.log_lambda2 = _positive_log(lambda2, "lambda2")

    @property
    def c(self) -> Tensor:
        return self.log_c.exp()

    @property
    def g(self) -> Tensor:
        """Reweighting vectors g_1..g_d, [d, h] (all ones for l1-l1-RNN)."""
        if self.reweighted:
            return self.log_g.exp()
        return self.P.new_ones(self.num_layers, self.hidden_size)

    def thresholds(self) -> tuple[Tensor, Tensor]:
        """Per-layer, per-unit prox parameters a_l = lambda1 g_l / c, b_l = lambda2 g_l / c."""
        g = self.g / self.c
        return self.lambda1 * g, self.lambda2 * g

    def _gram_step(self) -> Tensor:
        """I - (1/c) D^T A^T A D, the gradient step on the fidelity term (h x h)."""
        AD = self.A @ self.D
        return torch.eye(self.hidden_size, device=AD.device) - AD.T @ AD / self.c

    def effective_weights(self) -> dict:
        """Coupled matrices of eq. 9-11 (paper 001): W_1 = Z_1 (I - D^T A^T A D / c) P,
        W_l = Z_l (I - D^T A^T A D / c), U_l = Z_l D^T A^T / c; l1-l1-RNN has Z_l = I (eq. 12)."""
        step = self._gram_step()
        U = (self.A @ self.D).T / self.c
        Ws, Us = [], []
        for layer in range(self.num_layers):
            W = step @ self.P if layer == 0 else step
            if self.reweighted:
                Ws.append(self.Z[layer] @ W)
                Us.append(self.Z[layer] @ U)
            else:
                Ws.append(W)
                Us.append(U)
        return {"W": Ws, "U": Us, "h0": self.h0}

    def _precomposed(self, T: int, B: int, n: int, low_rank: bool) -> bool:
        """Run ``PrecomposedL1L1`` ((d + 1) h^2 per row and step, plus about 3 (d + 1) h^3
        per batch to form and differentiate M_l) rather than ``UnrolledL1L1`` (d (2 h n + h^2)
        + h^2 per row and step with Z_l, d 2 h n + h^2 without; 2 h n -> h^2 when dense)?
        "auto" compares the multiply-adds, the precomposition's weighted by ``SQUARE_GEMM``
        and each GEMM call of the time loop counted as ``GEMM_CALL`` more."""
        if self.recurrence != "auto":
            return self.recurrence == "precomposed"
        h, d, rows = self.hidden_size, self.num_layers, T * B
        step = 2 * h * n if low_rank else h * h
        calls = 2 if low_rank else 1
        unrolled = rows * (d * (step + (h * h if self.reweighted else 0)) + h * h) \
            + T * (d * (calls + self.reweighted) + 1) * GEMM_CALL
        precomposed = rows * (d + 1) * h * h + SQUARE_GEMM * 3 * (d + 1) * h ** 3 \
            + T * d * GEMM_CALL
        return precomposed < unrolled

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B, T, n] -> (codes [B, T, h], h_T [B, h]); eq. 8 of paper 001 for every t."""
        h_prev = self._initial_state(x, h0)
        B, T, n = x.shape
        h = self.hidden_size
        c = self.c
        AD = self.A @ self.D  # n x h
        ADc = AD / c
        a, b = self.thresholds()
        Z = self.Z if self.reweighted else None
        if 2 * n < h:  # low-rank gradient step z - (z (AD)^T) (AD / c)
            L, K = AD.T, ADc
        else:  # dense: z - z (D^T A^T A D / c)
            L, K = None, AD.T @ ADc
        if not self._precomposed(T, B, n, L is not None):
            X = (x.transpose(0, 1) @ ADc).contiguous()  # rows D^T A^T x_t / c: [T, B, h]
            codes = UnrolledL1L1.apply(X, h_prev, self.P.T, Z, L, K, a, b, self.compile_prox)
        else:  # (d + 1) h^2 per step: the step and Z_l precomposed (``precompose``)
            x_rows = x.transpose(0, 1).reshape(T * B, n)
            X = None if Z is not None and n < h else (x_rows @ ADc).view(T, B, h)
            Y, W0, M = precompose(X, self.P.T, L, K, self.num_layers, Z, x_rows, ADc, (T, B))
            codes = PrecomposedL1L1.apply(Y.contiguous() if Z is not None else Y, h_prev, W0,
                                          M, a, b, self.compile_prox)
        codes = codes.transpose(0, 1)
        return codes, codes[:, -1]


class ReweightedRNN(_L1L1Family):
    r"""reweighted-RNN (paper 001 eq. 8-11; paper 000 eq. 3-6).

    .. math::

        h_t^{(l)} = \Phi_{\lambda_1 g_l / c,\; \lambda_2 g_l / c,\; P h_{t-1}}
        \big(W_l h_t^{(l-1)} + U_l x_t\big), \qquad h_t^{(0)} = P h_{t-1},

    with the coupled :math:`W_1 = Z_1 (I - D^T A^T A D / c) P`,
    :math:`W_l = Z_l (I - D^T A^T A D / c)`, :math:`U_l = Z_l D^T A^T / c`
    (``effective_weights``) and the prox ``unfoldrnn.prox.prox_l1l1``.
    Trainable: A (unless frozen), D, P, h0, Z_1..Z_d, g_1..g_d, c, lambda1, lambda2; the
    positive ones (c, lambda, g) are stored as logarithms. Init: Z_l = P = I, g_l = 1,
    c = ||A D||_2^2 unless given, and by ``init``: "scaled" (default) scales a generated D so
    that the codes of unit-variance inputs have unit RMS (``unit_code_scale``), sets
    (lambda1, lambda2) = THRESHOLDS * c (``scaled_thresholds``) and draws h0 from N(0, 1),
    which breaks the odd symmetry f(-x) = -f(x) of h0 = 0; "paper": (lambda1, lambda2) =
    (0.003, 0.02) and h0 = 0 as in paper 000 Sec. 4.1 (which gives c = 1 for its
    classifiers: the classification task passes it with ``preset = "paper"``).
    ``recurrence``: the time loop, "auto" (the one of fewer multiply-adds at the batch's
    size), "precomposed" or "unrolled" (the same values; ``_unrolled.py``);
    ``compile_prox``: where the loops run ("auto": C++ on the CPU).
    """

    reweighted = True


class L1L1RNN(_L1L1Family):
    """l1-l1-RNN (Le et al. 2019; paper 001 eq. 12, paper 000 eq. 7-10): reweighted-RNN with
    Z_l = I and g_l = 1, so U_l = D^T A^T / c and one shared W_2 = I - D^T A^T A D / c.
    Under init="scaled" (lambda1, lambda2) = L1L1_THRESHOLDS * c: a plateau at 0 of a fifth
    of the codes' RMS, where reweighted-RNN's g_l can shape each unit's (docs: defaults)."""

    reweighted = False
    scaled_thresholds = L1L1_THRESHOLDS


class SistaRNN(_Unfolding):
    r"""Sista-RNN (Wisdom et al. 2017; the baseline of papers 000 and 001): unfolded ISTA for

    .. math::

        \min_h \tfrac12 \|x_t - A D h\|_2^2 + \lambda_1 \|h\|_1
        + \tfrac{\lambda_2}{2} \|D h - F D h_{t-1}\|_2^2.

    With step 1/alpha, :math:`V = D^T A^T / \alpha`,
    :math:`S = I - D^T (A^T A + \lambda_2 I) D / \alpha` and :math:`K = D^T F D` (F is
    n0 x n0, initialised to I):

    .. math::

        h^{(1)} &= \phi_{\lambda_1/\alpha}\big(W_1 h_{t-1} + V x_t\big),
        \qquad W_1 = S K + (\lambda_2/\alpha) K, \\
        h^{(k)} &= \phi_{\lambda_1/\alpha}\big(S h^{(k-1)} + V x_t
        + (\lambda_2/\alpha) K h_{t-1}\big), \quad k > 1.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 signal_size: int | None = None, *, alpha: float | None = None,
                 lambda1: float | None = None, lambda2: float | None = None,
                 weight_form: str = "auto", **kw):
        super().__init__(input_size, hidden_size, num_layers, signal_size, **kw)
        alpha = self._lipschitz() if alpha is None else alpha
        lambda1, lambda2 = self._default_lambdas(lambda1, lambda2, alpha)
        if weight_form not in _WEIGHT_FORMS:
            raise ValueError(f"weight_form must be one of {_WEIGHT_FORMS}, got {weight_form!r}")
        self.weight_form = weight_form
        self.F = nn.Parameter(torch.eye(self.signal_size))
        self.log_alpha = _positive_log(alpha, "alpha")
        self.log_lambda1 = _positive_log(lambda1, "lambda1")
        self.log_lambda2 = _positive_log(lambda2, "lambda2")

    @property
    def alpha(self) -> Tensor:
        return self.log_alpha.exp()

    def _explicit(self, batch_steps: int, explicit_flops: float, factored_flops: float) -> bool:
        """Form S and K once (explicit) or apply their thin factors (factored)?"""
        if self.weight_form != "auto":
            return self.weight_form == "explicit"
        return explicit_flops + batch_steps * self.num_layers * self.hidden_size ** 2 \
            < batch_steps * self.num_layers * factored_flops

    def _fidelity(self) -> Tensor:
        """A^T A + lambda2 I (n0 x n0)."""
        return self.A.T @ self.A + self.lambda2 * torch.eye(self.signal_size, device=self.A.device)

    def effective_weights(self) -> dict:
        """W_1 = S K + (lambda2/alpha) K, W_k = S (k > 1), U_k = V; plus "S" and "W_prev", the
        matrix (lambda2/alpha) K acting on h_{t-1} in layers k > 1 (paper 001 Cor. 3.1.3)."""
        h = self.hidden_size
        D = self.D
        S = torch.eye(h, device=D.device) - D.T @ self._fidelity() @ D / self.alpha
        K = D.T @ self.F @ D
        W_prev = self.lambda2 / self.alpha * K
        V = (self.A @ D).T / self.alpha
        W = [S @ K + W_prev] + [S] * (self.num_layers - 1)
        return {"W": W, "U": [V] * self.num_layers, "h0": self.h0, "S": S, "W_prev": W_prev}

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B, T, n] -> (codes [B, T, h], h_T [B, h])."""
        h_prev = self._initial_state(x, h0)
        B, T, n = x.shape
        h, n0, d = self.hidden_size, self.signal_size, self.num_layers
        alpha = self.alpha
        D = self.D
        Vx = (x.transpose(0, 1).reshape(T * B, n) @ (self.A @ D / alpha)).view(T, B, h)
        thr = self.lambda1 / alpha
        side = self.lambda2 / alpha
        gram = self._fidelity()
        explicit = self._explicit(B * T, 2 * h ** 2 * n0 + h * n0 ** 2, 2 * n0 * h + n0 * n0)
        if explicit:
            ST = (torch.eye(h, device=x.device, dtype=x.dtype) - D.T @ gram @ D / alpha).T
            KT = (D.T @ self.F @ D).T
        else:
            Dg = gram @ D / alpha  # n0 x h
            FTD = self.F.T @ D  # rows: h K^T = (h D^T) F^T D
        Vx = Vx.unbind(0)
        outputs = []
        for t in range(T):
            k = h_prev @ KT if explicit else (h_prev @ D.T) @ FTD  # h_t^(0) = D^T F D h_{t-1}
            base = Vx[t] + side * k
            z = k
            for _ in range(d):
                if explicit:
                    u = torch.addmm(base, z, ST)
                else:
                    u = torch.addmm(z + base, z @ D.T, Dg, alpha=-1.0)
                z = soft_threshold(u, thr)
            outputs.append(z)
            h_prev = z
        return torch.stack(outputs, dim=1), h_prev


def unit_code_scale(AD: Tensor) -> float:
    """The factor beta that gives the codes of init="scaled" unit RMS: with AD scaled by beta
    and c = ||beta A D||_2^2, the first code (A D)^T x / c of an input x with independent
    unit-variance entries has E ||.||^2 / h = ||A D||_F^2 / (h beta^2 ||A D||_2^4) = 1, so
    beta = ||A D||_F / (sqrt(h) ||A D||_2^2) (and then c = srank(A D) / h)."""
    AD = AD.detach().double()
    spectral = float(torch.linalg.matrix_norm(AD, 2))
    if spectral == 0.0:
        raise ValueError("A D is zero: the dictionary or sensing matrix has no energy")
    return float(AD.norm()) / (math.sqrt(AD.shape[1]) * spectral ** 2)


def algorithm1(x: Tensor, A: Tensor, D: Tensor, P: Tensor, Z: Tensor, g: Tensor, c, lambda1,
               lambda2, num_iters: int, h0: Tensor | None = None) -> Tensor:
    """Algorithm 1 of paper 001: proximal gradient for the reweighted l1-l1 problem (3).

    For t = 1..T, starting from h_t^(0) = P h_{t-1} (G in the paper), iterate
    u = (Z_l - Z_l D^T A^T A D / c) h^(l-1) + Z_l D^T A^T x_t / c,
    h^(l) = Phi_{lambda1 g_l / c, lambda2 g_l / c, P h_{t-1}}(u),   l = 1..num_iters.
    x is [B, T, n]; Z is one h x h matrix or [num_iters, h, h]; g is [h] or [num_iters, h];
    h0 defaults to zeros. Returns the codes [B, T, h]. With Z = I, g = 1 and c >= ||A D||^2
    it converges (num_iters -> inf) to the minimiser of problem (3) at every t.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be [batch, time, n], got shape {tuple(x.shape)}")
    check_sizes(num_iters=num_iters)
    B, T, _ = x.shape
    h = D.shape[1]
    Zs = Z.expand(num_iters, h, h) if Z.dim() == 2 else Z
    gs = g.expand(num_iters, h) if g.dim() == 1 else g
    if Zs.shape[0] != num_iters or gs.shape[0] != num_iters:
        raise ValueError("Z and g must be given once or once per iteration (num_iters)")
    gram = D.T @ A.T @ A @ D
    proj = D.T @ A.T
    eye = torch.eye(h, dtype=x.dtype, device=x.device)
    h_prev = torch.zeros(B, h, dtype=x.dtype, device=x.device) if h0 is None else h0
    codes = []
    for t in range(T):
        side = h_prev @ P.T
        z = side
        for i in range(num_iters):
            W = Zs[i] @ (eye - gram / c)
            U = Zs[i] @ proj / c
            z = prox_l1l1(z @ W.T + x[:, t] @ U.T, lambda1 * gs[i] / c, lambda2 * gs[i] / c, side)
        codes.append(z)
        h_prev = z
    return torch.stack(codes, dim=1)
