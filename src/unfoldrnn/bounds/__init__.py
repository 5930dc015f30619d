"""Generalization-error bounds: unfolding RNNs (papers 000, 001), spectral-norm bounds of
vanilla RNN / MGU / LSTM (paper 002), Fisher-Rao-norm bounds (paper 003)."""

from .certify import BoundReport, bound_regularizer, certify, model_norms, theorem_bound
from .fisher_rao import fisher_rao_bound, fisher_rao_norm, fisher_rao_rademacher, lambda_factor
from .margin import (
    classification_gap,
    confidence_term,
    generalization_gap,
    head_lipschitz,
    margins,
    ramp_loss,
)
from .montecarlo import project_rows_l1, rademacher_estimate
from .norms import (
    frobenius,
    geometric_sum,
    max_l2_norm,
    norm_1_inf,
    norm_2_1,
    per_step_rms_bounds,
    second_moment_min_eig,
    sequence_rms_bound,
    spectral_norm,
)
from .spectral import (
    gated_complexity,
    lstm_beta_theta,
    lstm_bound,
    mgu_beta_theta,
    rnn_bounds,
    rnn_complexity_bound3,
    rnn_complexity_bound4,
    rnn_complexity_thm2,
    spectral_rnn_bound,
)
from .unfolding import (
    l1l1_step_rademacher,
    lambdas,
    reweighted_step_rademacher,
    sista_step_rademacher,
    unfolding_rademacher,
)

__all__ = [
    "BoundReport",
    "bound_regularizer",
    "certify",
    "classification_gap",
    "confidence_term",
    "fisher_rao_bound",
    "fisher_rao_norm",
    "fisher_rao_rademacher",
    "frobenius",
    "gated_complexity",
    "generalization_gap",
    "geometric_sum",
    "head_lipschitz",
    "l1l1_step_rademacher",
    "lambda_factor",
    "lambdas",
    "lstm_beta_theta",
    "lstm_bound",
    "margins",
    "max_l2_norm",
    "mgu_beta_theta",
    "model_norms",
    "norm_1_inf",
    "norm_2_1",
    "per_step_rms_bounds",
    "project_rows_l1",
    "rademacher_estimate",
    "ramp_loss",
    "reweighted_step_rademacher",
    "rnn_bounds",
    "rnn_complexity_bound3",
    "rnn_complexity_bound4",
    "rnn_complexity_thm2",
    "second_moment_min_eig",
    "sequence_rms_bound",
    "sista_step_rademacher",
    "spectral_norm",
    "spectral_rnn_bound",
    "theorem_bound",
    "unfolding_rademacher",
]
