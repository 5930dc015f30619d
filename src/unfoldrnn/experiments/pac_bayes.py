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

from pathlib import Path

import numpy as np
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
from ..tasks import TASKS
from ..train import (
    CHECKPOINT_VERSION,
    RunError,
    build_data,
    build_task,
    load_checkpoint,
    save_checkpoint,
)


def split_for_prior(n: int, fraction: float, seed: int, groups=None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(prior indices, bound indices): a seeded permutation of range(n), cut at fraction;
    with ``groups`` (one per example: a speaker) a seeded permutation of the groups, cut at
    fraction of them, so that the prior and bound parts share no group."""
    if not 0 < fraction < 1:
        raise ValueError(f"prior_fraction must lie in (0, 1), got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    if groups is None:
        order = torch.randperm(n, generator=generator)
        cut = int(round(fraction * n))
        return order[:cut].sort()[0], order[cut:].sort()[0]
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} examples")
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError("a grouped prior/bound split needs at least two groups")
    order = torch.randperm(len(names), generator=generator).tolist()
    cut = min(max(1, int(round(fraction * len(names)))), len(names) - 1)
    prior_groups = {names[i] for i in order[:cut]}
    in_prior = torch.tensor([g in prior_groups for g in groups])
    return torch.nonzero(in_prior).flatten(), torch.nonzero(~in_prior).flatten()


def group_index(groups) -> torch.Tensor:
    """Each example's group as an index 0..G-1 (computed once, used for every draw)."""
    return torch.from_numpy(np.unique(np.asarray(groups), return_inverse=True)[1].ravel())


def group_risk(errors: torch.Tensor, groups) -> float:
    """The mean over groups of each group's mean error: the loss of a group (a speaker's
    error rate over their clips), in [0, 1], averaged over the groups, the i.i.d. units.
    ``groups``: the examples' groups, or their ``group_index``."""
    index = groups if isinstance(groups, torch.Tensor) else group_index(groups)
    count = torch.bincount(index).double()
    per_group = torch.bincount(index, weights=errors.double()) / count
    return float(per_group.mean())


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
def _mc_risks(task, posterior, fixed, data, samples: int, p_min: float, seed: int,
              groups=None):
    """Mean over ``samples`` weight draws of the 0-1 error and the bounded cross-entropy
    (and, with ``groups``, of the group-level error ``group_risk``)."""
    labels = data[1]
    gen = torch.Generator().manual_seed(seed)
    errors, losses, grouped = [], [], []
    index = None if groups is None else group_index(groups)
    for _ in range(samples):
        scores = _scores(task, {**posterior.sample(gen), **fixed}, data)
        wrong = (scores.argmax(1) != labels).float()
        errors.append(float(wrong.mean()))
        losses.append(float(bounded_cross_entropy(scores, labels, p_min).mean()))
        if groups is not None:
            grouped.append(group_risk(wrong, index))
    means = sum(errors) / samples, sum(losses) / samples
    return means if groups is None else (*means, sum(grouped) / samples)


def pac_bayes_certificate(config, prior_fraction: float = 0.5, prior_epochs: int | None = None,
                          posterior_epochs: int = 5, sigma_prior: float = 1e-3,
                          objective: str = "f-quad", p_min: float = 1e-4,
                          delta: float = 0.025, delta_prime: float = 0.01,
                          samples: int = 1000, posterior_lr: float = 1e-2, seed: int = 0,
                          progress: bool = False, log=print, grouped: bool = True,
                          save_to: str | Path | None = None, grid: int = 1) -> dict:
    """The whole recipe for a classification config (a run's); returns the report. Where
    the training examples come in groups (a speaker's clips: ``train_groups``) and
    ``grouped``, the prior and bound parts share no group, and beside the clip-level
    certificate (its assumption: clips i.i.d.) the report holds the group-level one, whose
    loss is a group's error rate and whose n is the number of bound groups. ``save_to``:
    a file that keeps the prior (the task's weights and normalisation) and the posterior,
    so that ``verify_certificate`` rechecks the certificate without training. ``grid``: the
    number of settings declared in advance among which this one was chosen (by looking at
    certificates): a union bound over them divides delta and delta' by ``grid``."""
    if not (isinstance(grid, int) and grid >= 1):
        raise ValueError(f"grid must be a positive integer, got {grid!r}")
    delta, delta_prime = delta / grid, delta_prime / grid
    if config.task != "classification":
        raise ValueError("PAC-Bayes certificates here are for classifiers (task "
                         f"classification), not {config.task}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    train, _, test = build_data(config, progress=progress)
    groups = TASKS[config.task].train_groups(config) if grouped else None
    prior_idx, bound_idx = split_for_prior(len(train[1]), prior_fraction, seed, groups)
    bound_groups = None if groups is None else [groups[i] for i in bound_idx.tolist()]
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
    error, ce, *group_error = _mc_risks(task, posterior, fixed, bound, samples, p_min,
                                        seed + 2, bound_groups)
    # the measured test error of Q (no bound uses it): 100 draws are plenty
    test_error, _ = _mc_risks(task, posterior, fixed, test, min(samples, 100), p_min,
                              seed + 3)
    if save_to is not None:
        save_checkpoint(Path(save_to), {"version": CHECKPOINT_VERSION,
                                        "task": task.state_dict(),
                                        "posterior": posterior.state_dict()})
    with torch.no_grad():
        mean_scores = _scores(task, {**posterior.means(), **fixed}, test)
    mean_error = float((mean_scores.argmax(1) != test[1]).float().mean())
    return {
        "model": config.model, "objective": objective, "p_min": p_min,
        "sigma_prior": sigma_prior, "prior_epochs": epochs, "posterior_epochs":
            posterior_epochs, "samples": samples, "delta": delta, "delta_prime": delta_prime,
        "confidence": 1 - grid * (delta + delta_prime),  # delta: each setting's share
        "n_prior": len(prior_idx), "n_bound": n,
        "n_test": len(test[1]), "weights": posterior.size(), "kl": kl,
        "kl_per_n": kl / n,
        "empirical_error_mc": error, "empirical_error_bound": sampling_bound(
            error, samples, delta_prime),
        "certificate_error": risk_certificate(error, samples, kl, n, delta, delta_prime),
        "certificate_cross_entropy": risk_certificate(ce, samples, kl, n, delta, delta_prime),
        "stochastic_test_error": test_error, "posterior_mean_test_error": mean_error,
        "certificate_without_sampling": pac_bayes_kl_bound(error, kl, n, delta),
        "seed": seed, "grouped": groups is not None, "grid": grid,
        "prior_indices": prior_idx.tolist(), "bound_indices": bound_idx.tolist(),
        "chance_error": 1 - 1 / task.num_classes,
        "sample_unit": "clip (assumed i.i.d.)" if groups is None else
            "clip (assumed i.i.d.); group-level certificate beside it",
        **({} if groups is None else group_certificate(
            group_error[0], samples, kl, bound_groups, groups, prior_idx, delta,
            delta_prime)),
    }


def group_certificate(error: float, samples: int, kl: float, bound_groups, groups,
                      prior_idx, delta: float, delta_prime: float) -> dict:
    """The group-level certificate: PAC-Bayes-kl with n = the number of bound groups and
    the loss of a group its error rate (in [0, 1]), the groups being the i.i.d. sample."""
    n = len(set(bound_groups))
    prior_groups = {groups[i] for i in prior_idx.tolist()}
    return {"n_bound_groups": n, "n_prior_groups": len(prior_groups),
            "group_empirical_error_mc": error,
            "group_certificate_error": risk_certificate(error, samples, kl, n, delta,
                                                        delta_prime),
            "bound_groups": sorted(set(bound_groups))}


VERIFIED = ("kl", "empirical_error_mc", "certificate_error", "group_certificate_error")


def verify_certificate(config, report: dict, saved: str | Path) -> dict:
    """Recompute a certificate from its report (the split, seeds and settings) and the saved
    prior and posterior alone, without training; {key: (stored, recomputed)} of
    ``VERIFIED``. Raises RunError naming the first value that does not match."""
    state = load_checkpoint(Path(saved))
    train = build_data(config, progress=False)[0]
    task = build_task(config, train, seed=report["seed"])  # (sizes from the data)
    task.load_state_dict(state["task"])  # the prior, its normalisation included
    task.eval()
    for p in task.parameters():
        p.requires_grad_(False)
    stochastic, fixed = _split(task)
    posterior = GaussianPosterior(stochastic, report["sigma_prior"])
    posterior.load_state_dict(state["posterior"])
    bound_idx = torch.tensor(report["bound_indices"])
    bound = tuple(part[bound_idx] for part in train)
    groups = TASKS[config.task].train_groups(config) if report.get("grouped") else None
    bound_groups = None if groups is None else [groups[i] for i in bound_idx.tolist()]
    error, _, *group_error = _mc_risks(task, posterior, fixed, bound, report["samples"],
                                       report["p_min"], report["seed"] + 2, bound_groups)
    with torch.no_grad():
        kl = float(posterior.kl())
    n = len(bound_idx)
    found = {"kl": kl, "empirical_error_mc": error,
             "certificate_error": risk_certificate(error, report["samples"], kl, n,
                                                   report["delta"], report["delta_prime"])}
    if group_error:
        found["group_certificate_error"] = risk_certificate(
            group_error[0], report["samples"], kl, len(set(bound_groups)), report["delta"],
            report["delta_prime"])
    checked = {}
    for key, value in found.items():
        stored = report.get(key)
        if stored is None or abs(stored - value) > 1e-9 * max(1.0, abs(stored)):
            raise RunError(f"the certificate does not verify: {key} is {stored!r} in the "
                           f"report, {value!r} recomputed from {saved}")
        checked[key] = (stored, value)
    return checked
