"""``unfoldrnn certify RUN_DIR --pac-bayes``: a PAC-Bayes risk certificate of the test error
of a run's classifier, by the recipe of Perez-Ortiz et al. (2021) (``bounds.pac_bayes``):

1. the run's training split is cut, with a seeded permutation, into a prior part (a
   fraction ``prior_fraction``) and the n bound samples; the bound never sees the prior
   part, and the prior never sees the bound samples;
2. the prior: the run's model and settings trained afresh on the prior part alone (its
   feature normalisation from the prior part too), for ``prior_epochs``; P = N(w_prior,
   sigma_0^2 I);
3. the posterior Q = N(mu, diag(sigma^2)), started at P, trained on the bound samples with
   the PAC-Bayes objective (f-quad or f-classic) of the bounded cross-entropy (Adam on the
   posterior in the prior's units, ``GaussianPosterior``);
4. the certificate from M weight draws over the bound samples (sampling bound, delta'),
   inverted through the PAC-Bayes-kl bound (delta): with probability >= 1 - delta - delta'
   the test error of the stochastic classifier Q is at most the certificate.

Scalar parameters (the unfolding models' log c, log lambda1, log lambda2, Sista's log alpha,
FastGRNN's zeta and nu, the conv RNN's temperature) stay deterministic at the prior's values:
they are part of the prior, fixed before the bound samples are seen.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from ..bounds.pac_bayes import (
    OBJECTIVES,
    GaussianPosterior,
    bounded_cross_entropy,
    pac_bayes_kl_bound,
    risk_certificate,
    sampling_bound,
)
from ..train import build_data, build_task


def split_for_prior(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(prior indices, bound indices): a seeded permutation of range(n), cut at fraction."""
    if not 0 < fraction < 1:
        raise ValueError(f"prior_fraction must lie in (0, 1), got {fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(round(fraction * n))
    return order[:cut].sort()[0], order[cut:].sort()[0]


def train_prior(task, prior, epochs: int, lr: float, batch_size: int, clip: float,
                seed: int) -> None:
    """The deterministic prior: Adam on the prior part's cross-entropy, ``epochs`` epochs."""
    opt = torch.optim.Adam(task.parameters(), lr=lr)
    for epoch in range(epochs):
        task.train()
        for batch in task.batches(prior, batch_size, torch.Generator().manual_seed(
                seed * 1_000_003 + epoch)):
            loss = task.training_loss(batch)[0]
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(task.parameters(), clip)
            opt.step()


def _split(task) -> tuple[dict, dict]:
    """(stochastic parameters, deterministic scalars) of a task, by name."""
    stochastic, fixed = {}, {}
    for name, p in task.named_parameters():
        (fixed if p.dim() == 0 else stochastic)[name] = p.detach()
    return stochastic, fixed


def _scores(task, weights: dict, split, batch: int = 512) -> torch.Tensor:
    """Class scores of every sequence of a split (features, labels[, lengths])."""
    features, _, *lengths = split
    return torch.cat([functional_call(task, weights, (features[i:i + batch],
                                                      *(x[i:i + batch] for x in lengths)))
                      for i in range(0, len(features), batch)])


@torch.no_grad()
def _mc_risks(task, posterior, fixed, data, samples: int, p_min: float, seed: int):
    """Mean over ``samples`` weight draws of the 0-1 error and the bounded cross-entropy."""
    labels = data[1]
    gen = torch.Generator().manual_seed(seed)
    errors, losses = [], []
    for _ in range(samples):
        scores = _scores(task, {**posterior.sample(gen), **fixed}, data)
        errors.append(float((scores.argmax(1) != labels).float().mean()))
        losses.append(float(bounded_cross_entropy(scores, labels, p_min).mean()))
    return sum(errors) / samples, sum(losses) / samples


def pac_bayes_certificate(config, prior_fraction: float = 0.5, prior_epochs: int | None = None,
                          posterior_epochs: int = 5, sigma_prior: float = 1e-3,
                          objective: str = "f-quad", p_min: float = 1e-4,
                          delta: float = 0.025, delta_prime: float = 0.01,
                          samples: int = 1000, posterior_lr: float = 1e-2, seed: int = 0,
                          progress: bool = False, log=print) -> dict:
    """The whole recipe for a classification config (a run's); returns the report."""
    if config.task != "classification":
        raise ValueError("PAC-Bayes certificates here are for classifiers (task "
                         f"classification), not {config.task}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    train, _, test = build_data(config, progress=progress)
    prior_idx, bound_idx = split_for_prior(len(train[1]), prior_fraction, seed)
    prior = tuple(part[prior_idx] for part in train)  # features, labels[, lengths]
    bound = tuple(part[bound_idx] for part in train)
    n = len(bound_idx)
    task = build_task(config, prior, seed=seed)  # normalisation from the prior part only
    epochs = prior_epochs if prior_epochs is not None else config.epochs
    log(f"prior: {config.model} on {len(prior_idx)} clips for {epochs} epochs")
    train_prior(task, prior, epochs, config.lr, config.batch_size, config.clip, seed)
    task.eval()
    for p in task.parameters():
        p.requires_grad_(False)
    stochastic, fixed = _split(task)
    posterior = GaussianPosterior(stochastic, sigma_prior)
    # Adam on (u, s), the posterior in the prior's units: a step of lr moves a mean by
    # lr * sigma_0, whatever sigma_0 (plain SGD on mu diverged at sigma_0 = 1e-3 here)
    opt = torch.optim.Adam(posterior.parameters(), lr=posterior_lr)
    bound_objective = OBJECTIVES[objective]
    gen = torch.Generator().manual_seed(seed + 1)
    log(f"posterior: {posterior.size():,} Gaussian weights on n = {n} clips, {objective}, "
        f"{posterior_epochs} epochs")
    for epoch in range(posterior_epochs):
        for features, labels, *lengths in task.batches(
                bound, config.batch_size, torch.Generator().manual_seed(seed + epoch)):
            scores = functional_call(task, {**posterior.sample(gen), **fixed},
                                     (features, *lengths))
            risk = bounded_cross_entropy(scores, labels, p_min).mean()
            loss = bound_objective(risk, posterior.kl(), n, delta)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        kl = float(posterior.kl())
    error, ce = _mc_risks(task, posterior, fixed, bound, samples, p_min, seed + 2)
    # the measured test error of Q (no bound uses it): 100 draws are plenty
    test_error, _ = _mc_risks(task, posterior, fixed, test, min(samples, 100), p_min,
                              seed + 3)
    with torch.no_grad():
        mean_scores = _scores(task, {**posterior.means(), **fixed}, test)
    mean_error = float((mean_scores.argmax(1) != test[1]).float().mean())
    return {
        "model": config.model, "objective": objective, "p_min": p_min,
        "sigma_prior": sigma_prior, "prior_epochs": epochs, "posterior_epochs":
            posterior_epochs, "samples": samples, "delta": delta, "delta_prime": delta_prime,
        "confidence": 1 - delta - delta_prime, "n_prior": len(prior_idx), "n_bound": n,
        "n_test": len(test[1]), "weights": posterior.size(), "kl": kl,
        "kl_per_n": kl / n,
        "empirical_error_mc": error, "empirical_error_bound": sampling_bound(
            error, samples, delta_prime),
        "certificate_error": risk_certificate(error, samples, kl, n, delta, delta_prime),
        "certificate_cross_entropy": risk_certificate(ce, samples, kl, n, delta, delta_prime),
        "stochastic_test_error": test_error, "posterior_mean_test_error": mean_error,
        "certificate_without_sampling": pac_bayes_kl_bound(error, kl, n, delta),
        "prior_indices": prior_idx.tolist(), "bound_indices": bound_idx.tolist(),
        "chance_error": 1 - 1 / task.num_classes,
    }
