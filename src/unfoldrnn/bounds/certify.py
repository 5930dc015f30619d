"""``certify``: the papers' bounds for a trained unfolding RNN and its training inputs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from .margin import (
    classification_gap,
    generalization_gap,
    head_lipschitz,
    least_ramp_bound,
    margins,
    ramp_bound_floor,
    ramp_loss,
    sample_size_to_certify,
)
from .norms import norm_1_inf, per_step_rms_bounds, sequence_rms_bound
from .strict import strict_ramp_bound
from .unfolding import (
    l1l1_step_rademacher,
    reweighted_step_rademacher,
    sista_step_rademacher,
    unfolding_rademacher,
)


@dataclass
class BoundReport:
    """Everything ``certify`` computed; ``str(report)`` is a readable table."""

    model: str
    m: int
    T: int
    n: int
    h: int
    d: int
    delta: float
    eta: float
    alphas: list[float]
    betas: list[float]
    B_x: float
    h0_norm: float
    rademacher: float | None  # T-step bound (Thm 3.3); None for Sista-RNN (no such theorem)
    gap: float | None  # eq. 14 with loss bound eta
    step_rademacher: list[float]  # per time step (paper 001 Cor. 3.1.1-3.1.3)
    rho: float | None = None
    gammas: list[float] = field(default_factory=list)
    train_ramp_loss: list[float] = field(default_factory=list)
    classification_gap: list[float] = field(default_factory=list)
    test_ramp_bound: list[float] = field(default_factory=list)
    least_bound: float | None = None  # eq. 18 at its best gamma (exact, not on the grid)
    least_gamma: float | None = None
    code_ratio: float | None = None  # median ||h_T||_2 / R_S over the training samples
    head_free_floor: float | None = None  # least eq. 18 over every linear head and gamma
    sample_size_to_certify: int | None = None  # m at which these margins would certify
    # the strict eq. 18 (bounds.strict): margin grid and norm levels fixed in advance, delta
    # split over them by a union bound -- a guarantee, where least_bound is paper 000's reading
    strict_bound: float | None = None
    strict_gamma: float | None = None
    strict_delta: float | None = None

    @property
    def lambda_0(self) -> float:
        """Lambda_0 = prod_l alpha_l, the base of the bound's T-exponential (Thm 3.3)."""
        return math.prod(self.alphas)

    def to_dict(self) -> dict:
        return {**asdict(self), "lambda_0": self.lambda_0}

    def __str__(self) -> str:
        fmt = "{:.3g}".format
        rows = [
            f"Generalization bounds for {self.model} (d={self.d}, h={self.h}, n={self.n}, "
            f"T={self.T}) on m={self.m} training sequences, delta={self.delta}",
            "  layer  alpha_l=||W_l||_1,inf  beta_l=||U_l||_1,inf",
            *(f"  {i + 1:5d}  {fmt(a):>20s}  {fmt(b):>19s}"
              for i, (a, b) in enumerate(zip(self.alphas, self.betas, strict=True))),
            f"  B_x = {fmt(self.B_x)}   ||h0||_inf = {fmt(self.h0_norm)}   "
            f"Lambda_0 = prod alpha_l = {fmt(self.lambda_0)}",
        ]
        if self.rademacher is not None:
            rows += [f"  R_S(F_d,T) <= {fmt(self.rademacher)}   (paper 000 Thm 3.3, eq. 15)",
                     f"  L_D - L_S <= {fmt(self.gap)}   (eq. 14, loss 1-Lipschitz, "
                     f"bounded by eta={fmt(self.eta)})"]
            if self.gap >= self.eta:
                rows.append(f"  -> vacuous: the gap exceeds the loss's range [0, {fmt(self.eta)}]"
                            "; the regulariser (--bound-lambda) and the classification "
                            "setting of paper 000 Sec. 4.4 make it informative")
        rows.append(f"  per-step R_S (paper 001 Cor. 3.1.x): t=1 {fmt(self.step_rademacher[0])}"
                    f" ... t={self.T} {fmt(self.step_rademacher[-1])}")
        if self.rho is not None:
            rows += [f"  classifier rho = {fmt(self.rho)}   (paper 000 Prop. 3.4)",
                     "  gamma  train ramp loss  gap (eq. 18)  bound on test ramp loss"]
            rows += [f"  {fmt(g):>5s}  {r:15.4f}  {fmt(c):>12s}  {fmt(b):>23s}"
                     + ("  (vacuous: >= 1)" if b >= 1 else "")
                     for g, r, c, b in zip(self.gammas, self.train_ramp_loss,
                                           self.classification_gap, self.test_ramp_bound,
                                           strict=True)]
        if self.strict_bound is not None:
            rows += [f"  paper 000's reading (gamma and norms chosen after training): "
                     f"{fmt(self.least_bound)} at gamma = {fmt(self.least_gamma)}; not a "
                     "guarantee",
                     f"  strict (a guarantee given the input normalisation: 16 margins and "
                     f"norm levels 2^(k/32) in a union, with the other grid looked at, "
                     f"delta' = {self.strict_delta:.3g}): {fmt(self.strict_bound)} at "
                     f"gamma = {fmt(self.strict_gamma)}"
                     + ("  (vacuous: >= 1)" if self.strict_bound >= 1 else "  (certifies)")]
        if self.head_free_floor is not None:
            rows += [f"  least over every gamma: {fmt(self.least_bound)} at gamma = "
                     f"{fmt(self.least_gamma)}" + ("  (vacuous: >= 1)"
                                                   if self.least_bound >= 1 else ""),
                     f"  no linear head on these codes brings eq. 18 below "
                     f"{fmt(self.head_free_floor)} (median ||h_T||_2 / R_S = "
                     f"{fmt(self.code_ratio)}; ramp_bound_floor)",
                     ("  these margins would not certify at any m"
                      if self.sample_size_to_certify is None else
                      f"  these margins and norms would certify from m = "
                      f"{self.sample_size_to_certify} training samples on "
                      f"(R_S ~ 1 / sqrt(m); sample_size_to_certify)")]
        return "\n".join(rows)


@torch.no_grad()
def model_norms(model: nn.Module) -> tuple[list[float], list[float]]:
    """(alphas, betas): ||W_l||_{1,inf}, ||U_l||_{1,inf} of ``model.effective_weights()``."""
    ew = model.effective_weights() if hasattr(model, "effective_weights") else {}
    if "W" not in ew or "U" not in ew:
        raise ValueError(f"{type(model).__name__} is not an unfolding RNN: it has no "
                         "effective W_l, U_l; the unfolding bounds do not apply to it")
    return ([float(norm_1_inf(W)) for W in ew["W"]], [float(norm_1_inf(U)) for U in ew["U"]])


def bound_regularizer(model: nn.Module, lambda_w: float = 1.0, lambda_u: float = 0.0) -> Tensor:
    """lambda_w sum_l ||W_l||_{1,inf} + lambda_u sum_l ||U_l||_{1,inf} of the effective
    weights, differentiable: added to the training loss it tightens eq. 15. Paper 000 Sec. 4.4
    penalises the alphas only (lambda_u = 0); the betas are the bound's other norms."""
    ew = model.effective_weights()
    penalty = lambda_w * sum(norm_1_inf(W) for W in ew["W"])
    if lambda_u:
        penalty = penalty + lambda_u * sum(norm_1_inf(U) for U in ew["U"])
    return penalty


@torch.no_grad()
def theorem_bound(model: nn.Module, inputs: Tensor) -> float:
    """Paper 000 Thm 3.3 (eq. 15) for a reweighted- or l1-l1-RNN on inputs [m, T, n]:
    norms of ``model.effective_weights()``, B_x of the inputs, ||h0||_inf of the model."""
    alphas, betas = model_norms(model)
    m, T, n = inputs.shape
    return unfolding_rademacher(alphas, betas, float(sequence_rms_bound(inputs)),
                                float(model.h0.abs().max()), n, model.hidden_size, m, T)


@torch.no_grad()
def certify(model: nn.Module, inputs: Tensor, head: nn.Module | Tensor | None = None,
            labels: Tensor | None = None, delta: float = 0.05,
            gamma: float | list[float] | None = None, eta: float = 1.0,
            batch_size: int = 256, codes: Tensor | None = None) -> BoundReport:
    """Bounds for ``model`` (reweighted, l1l1 or sista) trained on ``inputs`` [m, T, n].

    Reads alpha_l, beta_l off ``model.effective_weights()``, B_x off the inputs and
    ||h0||_inf off the model; B_{h_{t-1}} for the per-step bounds off the model's own codes.
    With a linear ``head`` (nn.Linear or a c x h matrix Y) and ``labels`` it adds rho, and
    for each ``gamma`` the train ramp loss of y = Y h_T, the gap of eq. 18 and their sum,
    the bound on the test ramp loss (paper 000 Fig. 3). ``eta`` bounds the loss in eq. 14.
    ``codes`` ([m, T, h], the model's output on ``inputs``) saves a forward pass if known.
    """
    from ..models import L1L1RNN, ReweightedRNN, SistaRNN

    if not isinstance(model, (ReweightedRNN, L1L1RNN, SistaRNN)):
        raise ValueError(f"certify needs an unfolding RNN, got {type(model).__name__}")
    if inputs.dim() != 3 or inputs.shape[-1] != model.input_size:
        raise ValueError(f"inputs must be [m, T, {model.input_size}], got {tuple(inputs.shape)}")
    m, T, n = inputs.shape
    h, d = model.hidden_size, model.num_layers
    alphas, betas = model_norms(model)
    B_x = float(sequence_rms_bound(inputs))
    h0_norm = float(model.h0.abs().max())
    if codes is None:
        codes = torch.cat([model(chunk)[0] for chunk in inputs.split(batch_size)])
    h0 = model.h0.expand(m, 1, h)
    B_h = per_step_rms_bounds(torch.cat([h0, codes[:, :-1]], dim=1)).tolist()

    name = type(model).__name__
    if isinstance(model, SistaRNN):
        ew = model.effective_weights()
        b2 = float(norm_1_inf(ew["W_prev"]))
        a2 = alphas[1] if d > 1 else float(norm_1_inf(ew["S"]))
        steps = [sista_step_rademacher(alphas[0], a2, betas[0], b2, d, B_x, bh, n, h, m)
                 for bh in B_h]
        rademacher = gap = None
    else:
        if isinstance(model, L1L1RNN):
            a2 = alphas[1] if d > 1 else 0.0
            steps = [l1l1_step_rademacher(alphas[0], a2, betas[0], d, B_x, bh, n, h, m)
                     for bh in B_h]
        else:
            steps = [reweighted_step_rademacher(alphas, betas, B_x, bh, n, h, m) for bh in B_h]
        rademacher = theorem_bound(model, inputs)
        gap = generalization_gap(rademacher, m, delta, eta)
    report = BoundReport(name, m, T, n, h, d, delta, eta, alphas, betas, B_x, h0_norm,
                         rademacher, gap, steps)
    if head is not None:
        if labels is None:
            raise ValueError("a classification head needs the training labels")
        if isinstance(head, nn.Linear) and head.bias is not None:
            raise ValueError("the head has a bias: paper 000 Prop. 3.4 bounds the class "
                             "y = Y h_T of linear heads without one")
        Y = head.weight if isinstance(head, nn.Linear) else head
        scores = head(codes[:, -1]) if isinstance(head, nn.Module) else codes[:, -1] @ Y.T
        report.rho = float(head_lipschitz(Y))
        gammas = [gamma] if isinstance(gamma, (int, float)) else list(gamma or [])
        if not gammas:  # a sweep around the typical margin of the trained classifier
            gammas = [float(g) for g in torch.logspace(-1, 1.5, 8)]
        # Prop. 3.4 needs the T-step bound; the papers give none for Sista-RNN (gap = inf)
        complexity = rademacher if rademacher is not None else math.inf
        for g in gammas:
            train = float(ramp_loss(scores, labels, g).mean())
            cgap = classification_gap(complexity, report.rho, g, m, delta)
            report.gammas.append(g)
            report.train_ramp_loss.append(train)
            report.classification_gap.append(cgap)
            report.test_ramp_bound.append(train + cgap if math.isfinite(cgap) else math.inf)
        if rademacher is not None:
            M = margins(scores, labels)
            report.least_bound, report.least_gamma = least_ramp_bound(
                M, rademacher, report.rho, m, delta)
            code_norms = codes[:, -1].norm(dim=1)
            report.code_ratio = float(code_norms.median()) / rademacher
            report.head_free_floor = ramp_bound_floor(code_norms, rademacher, m, delta)
            report.sample_size_to_certify = sample_size_to_certify(
                M, rademacher, report.rho, m, delta)
            strict = strict_ramp_bound(scores, labels, alphas, betas, h0_norm, report.rho,
                                       B_x, n, h, T, delta)
            report.strict_bound, report.strict_gamma = strict["bound"], strict["gamma"]
            report.strict_delta = strict["delta_split"]
    return report
