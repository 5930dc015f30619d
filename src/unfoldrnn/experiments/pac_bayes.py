"""``unfoldrnn certify RUN_DIR --pac-bayes``: a PAC-Bayes risk certificate of the test error
of a run's classifier, by the recipe of Perez-Ortiz et al. (2021) (``bounds.pac_bayes``):

1. the run's training split is cut, with a seeded permutation, into a prior part (a
   fraction ``prior_fraction``) and the n bound samples; the bound never sees the prior
   part, and the prior never sees the bound samples;
2. the prior: the run's model and settings trained afresh on the prior part alone (its
   feature normalisation from the prior part too), for ``prior_epochs``; P = N(w_prior,
   sigma_0^2 I);
3. the posterior Q = N(mu, diag(sigma^2)), started at P, trained with the PAC-Bayes
   objective (f-quad or f-classic) of the bounded cross-entropy, by default on the whole
   training split as PBB does (the bound holds for any Q; only the prior must not see the
   bound part); one posterior per prior sigma of a grid declared in advance, the least
   certificate reported and paid for by a union bound (delta / K);
4. the certificate from M independent (weight draw, bound example) pairs (``draw_risks``;
   sampling bound, delta'), inverted through the PAC-Bayes-kl bound (delta): with
   probability >= 1 - delta - delta' the test error of the stochastic classifier Q is at
   most the certificate. With groups (speakers), the same with a group's error rate as the
   loss and n the number of bound groups;
5. beside it, the held-out baseline: the prior network's own binomial-tail bound on the
   bound part (``bounds.heldout``), which PAC-Bayes has to beat to earn its place.

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

from ..bounds.heldout import binomial_tail_bound, kl_heldout_bound
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

PRIOR_FRACTION = 0.5  # the prior part's share of the training split (PBB's default)


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


def draw_units(n: int, groups=None) -> list[torch.Tensor]:
    """The units one weight draw is scored on: each example alone, or (``groups``) each
    group's examples together."""
    if groups is None:
        return list(torch.arange(n)[:, None])
    index = group_index(groups)
    return [torch.nonzero(index == g).flatten() for g in range(int(index.max()) + 1)]


@torch.no_grad()
def draw_risks(task, posterior, fixed, data, units: list, draws: int, p_min: float,
               seed: int) -> tuple[float, float]:
    """(0-1 error, bounded cross-entropy), each the mean over ``draws`` independent pairs
    (a weight draw w ~ Q, a unit u drawn uniformly from ``units``) of the unit's mean loss
    under w. Each term lies in [0, 1] and has expectation L_S(Q), the mean over the units of
    Q's expected loss on each: the M terms are i.i.d. given S, which is what the sampling
    bound (Langford & Caruana 2001; ``bounds.pac_bayes.sampling_bound``) asks of its M
    draws. A draw costs the forward pass of one unit, not of the whole set."""
    if not (isinstance(draws, int) and draws > 0):
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(units), (draws,), generator=gen).tolist()
    errors = losses = 0.0
    for k in picks:
        part = tuple(x[units[k]] for x in data)
        scores = _scores(task, {**posterior.sample(gen), **fixed}, part)
        errors += float((scores.argmax(1) != part[1]).float().mean())
        losses += float(bounded_cross_entropy(scores, part[1], p_min).mean())
    return errors / draws, losses / draws


def draw_seeds(seed: int, count: int) -> dict:
    """Fresh, recorded randomness for each of ``count`` grid settings: the posterior's
    weight noise, the clip-level draws, the group-level draws; and Q's test draws."""
    base = 1_000 * seed
    return {"posterior": [base + 100 + i for i in range(count)],
            "clips": [base + 200 + i for i in range(count)],
            "groups": [base + 300 + i for i in range(count)], "test": base + 400}


def train_posterior(task, posterior, fixed, data, epochs: int, lr: float, batch_size: int,
                    objective, n: int, delta: float, p_min: float, seed: int) -> None:
    """Adam on the posterior (in the prior's units: a step of lr moves a mean by about
    lr * sigma_0) for the PAC-Bayes objective of the bounded cross-entropy, n the number of
    bound examples; ``data`` may be the whole training split (PBB: the bound holds for any
    posterior, the prior alone must not see the bound part)."""
    opt = torch.optim.Adam(posterior.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        for features, labels, *lengths in task.batches(
                data, batch_size, torch.Generator().manual_seed(seed + epoch)):
            scores = functional_call(task, {**posterior.sample(gen), **fixed},
                                     (features, *lengths))
            risk = bounded_cross_entropy(scores, labels, p_min).mean()
            loss = objective(risk, posterior.kl(), n, delta)
            opt.zero_grad()
            loss.backward()
            opt.step()


def prior_heldout(task, fixed, prior_weights, bound, bound_index, delta: float) -> dict:
    """The held-out bounds of the prior network itself (deterministic, the posterior's
    starting point) on the bound part, which it never saw: the binomial tail over the bound
    examples, the kl bound over the bound groups (``bounds.heldout``)."""
    with torch.no_grad():
        wrong = (_scores(task, {**prior_weights, **fixed}, bound).argmax(1) != bound[1])
    k, n = int(wrong.sum()), len(wrong)
    out = {"prior_bound_error": k / n, "prior_heldout_bound": binomial_tail_bound(k, n, delta)}
    if bound_index is not None:
        risk = group_risk(wrong.float(), bound_index)
        out.update({"prior_bound_group_error": risk, "prior_heldout_group_bound":
                    kl_heldout_bound(risk, int(bound_index.max()) + 1, delta)})
    return out


def _sigmas(sigma_prior) -> tuple[float, ...]:
    sigmas = (sigma_prior,) if isinstance(sigma_prior, (int, float)) else tuple(sigma_prior)
    if not sigmas or not all(isinstance(s, (int, float)) and s > 0 for s in sigmas):
        raise ValueError(f"the prior's sigma must be positive numbers, got {sigma_prior!r}")
    return sigmas


def pac_bayes_certificate(config, prior_fraction: float = PRIOR_FRACTION,
                          prior_epochs: int | None = None,
                          posterior_epochs: int = 5, sigma_prior=1e-3,
                          objective: str = "f-quad", p_min: float = 1e-4,
                          delta: float = 0.025, delta_prime: float = 0.01,
                          samples: int = 10_000, posterior_lr: float = 1e-2, seed: int = 0,
                          progress: bool = False, log=print, grouped: bool = True,
                          save_to: str | Path | None = None, grid: int = 1,
                          posterior_data: str = "all") -> dict:
    """The whole recipe for a classification config (a run's); returns the report.

    ``sigma_prior``: one prior sigma, or a grid of them declared before the bound part is
    seen: a posterior is trained from each and the least clip-level certificate is
    reported, paid by a union bound. ``grid``: the number of other settings among which
    this one was chosen by looking at certificates. Every statement is then made at
    delta / K and delta' / K, K = grid * len(sigmas), so the reported one holds with
    probability >= 1 - delta - delta'. Where the training examples come in groups (a
    speaker's clips: ``train_groups``) and ``grouped``, the prior and bound parts share no
    group and the report adds the group-level certificate (a group's error rate is the loss,
    the groups the i.i.d. sample). ``posterior_data``: "all" trains the posterior on the
    whole training split (PBB), "bound" on the bound part only. ``samples``: the weight
    draws M of each empirical risk (``draw_risks``). ``save_to``: a file keeping the prior
    (weights and normalisation) and every posterior, so that ``verify_certificate`` rechecks
    the certificate without training."""
    if not (isinstance(grid, int) and grid >= 1):
        raise ValueError(f"grid must be a positive integer, got {grid!r}")
    sigmas = _sigmas(sigma_prior)
    if posterior_data not in ("all", "bound"):
        raise ValueError(f"posterior_data must be 'all' or 'bound', got {posterior_data!r}")
    K = grid * len(sigmas)
    delta_k, delta_prime_k = delta / K, delta_prime / K
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
    log(f"prior: {config.model} on {len(prior_idx)} examples for {epochs} epochs")
    train_prior(task, prior, epochs, config.lr, config.batch_size, config.clip, seed)
    task.eval()
    for p in task.parameters():
        p.requires_grad_(False)
    stochastic, fixed = _split(task)
    bound_index = None if groups is None else group_index(bound_groups)
    report = {"model": config.model, "objective": objective, "p_min": p_min,
              "sigma_grid": list(sigmas), "prior_epochs": epochs,
              "posterior_epochs": posterior_epochs, "posterior_lr": posterior_lr,
              "posterior_data": posterior_data, "samples": samples, "grid": grid,
              "delta": delta_k, "delta_prime": delta_prime_k, "heldout_delta": delta,
              "confidence": 1 - K * (delta_k + delta_prime_k),  # each statement's share
              "n_prior": len(prior_idx), "n_bound": n, "n_test": len(test[1]),
              "weights": sum(p.numel() for p in stochastic.values()), "seed": seed,
              "draw_seeds": draw_seeds(seed, len(sigmas)), "grouped": groups is not None,
              "prior_indices": prior_idx.tolist(), "bound_indices": bound_idx.tolist(),
              "chance_error": 1 - 1 / task.num_classes,
              "sample_unit": "clip (assumed i.i.d.)" if groups is None else
                  "clip (assumed i.i.d.); group-level certificate beside it",
              **prior_heldout(task, fixed, stochastic, bound, bound_index, delta)}
    if groups is not None:
        report.update({"n_bound_groups": int(bound_index.max()) + 1,
                       "n_prior_groups": len({groups[i] for i in prior_idx.tolist()}),
                       "bound_groups": sorted(set(bound_groups))})
    seeds = report["draw_seeds"]
    posteriors, rows = [], []
    for i, sigma in enumerate(sigmas):
        posterior = GaussianPosterior(stochastic, sigma)
        where = "the whole training split" if posterior_data == "all" else "the bound part"
        log(f"posterior sigma_0 = {sigma:g}: {posterior.size():,} Gaussian weights, "
            f"{objective} on {where} (n = {n} bound examples), {posterior_epochs} epochs")
        train_posterior(task, posterior, fixed, train if posterior_data == "all" else bound,
                        posterior_epochs, posterior_lr, config.batch_size,
                        OBJECTIVES[objective], n, delta_k, p_min, seeds["posterior"][i])
        posteriors.append(posterior)
        rows.append(_certify(task, posterior, fixed, bound, bound_index, report, i))
    best = min(range(len(sigmas)), key=lambda i: rows[i]["certificate_error"])
    report.update({**rows[best], "sigma_prior": sigmas[best], "chosen": best,
                   "grid_rows": rows})
    posterior = posteriors[best]
    # the measured test error of Q (no bound uses it)
    report["stochastic_test_error"] = draw_risks(task, posterior, fixed, test, draw_units(
        len(test[1])), min(samples, 2_000), p_min, seeds["test"])[0]
    with torch.no_grad():
        mean_scores = _scores(task, {**posterior.means(), **fixed}, test)
    report["posterior_mean_test_error"] = float((mean_scores.argmax(1) != test[1]).float()
                                                .mean())
    if save_to is not None:
        save_checkpoint(Path(save_to), {"version": CHECKPOINT_VERSION,
                                        "task": task.state_dict(),
                                        "posteriors": [q.state_dict() for q in posteriors]})
    return report


def _certify(task, posterior, fixed, bound, bound_index, report: dict, i: int) -> dict:
    """One grid setting's certificates: KL(Q || P), the clip-level draws and (grouped) the
    group-level draws, through the sampling and PAC-Bayes-kl bounds at the paid deltas."""
    samples, n = report["samples"], report["n_bound"]
    delta, delta_prime = report["delta"], report["delta_prime"]
    seeds = report["draw_seeds"]
    with torch.no_grad():
        kl = float(posterior.kl())
    error, ce = draw_risks(task, posterior, fixed, bound, draw_units(n), samples,
                           report["p_min"], seeds["clips"][i])
    row = {"sigma": posterior.sigma_prior, "kl": kl, "kl_per_n": kl / n,
           "empirical_error_mc": error,
           "empirical_error_bound": sampling_bound(error, samples, delta_prime),
           "certificate_error": risk_certificate(error, samples, kl, n, delta, delta_prime),
           "certificate_cross_entropy": risk_certificate(ce, samples, kl, n, delta,
                                                         delta_prime),
           "certificate_without_sampling": pac_bayes_kl_bound(error, kl, n, delta)}
    if bound_index is not None:
        units = draw_units(n, bound_index)
        group_error = draw_risks(task, posterior, fixed, bound, units, samples,
                                 report["p_min"], seeds["groups"][i])[0]
        row.update(group_empirical_error_mc=group_error, group_certificate_error=(
            risk_certificate(group_error, samples, kl, len(units), delta, delta_prime)))
    return row


VERIFIED = ("kl", "empirical_error_mc", "certificate_error", "group_empirical_error_mc",
            "group_certificate_error", "prior_heldout_bound", "prior_heldout_group_bound")
# how closely a recomputed value must match: float32 sums (the KL over 10^4-10^5 weights)
# come out in another order with another thread count (found: 2e-9 nats on a KL of 0.024,
# 8e-8 relative); a tampered file moves them by orders of magnitude more
VERIFY_RTOL = 1e-6


def verify_certificate(config, report: dict, saved: str | Path) -> dict:
    """Recompute a certificate from its report (the split, the seeds of its draws, the
    settings) and the saved prior and posteriors alone, without training: the chosen grid
    setting's KL, draws and certificates, and the prior's held-out bounds; the other
    settings' KL (their certificates were not chosen). Returns {key: (stored, recomputed)};
    raises RunError naming the first value that does not match to ``VERIFY_RTOL`` (relative,
    absolute below 1)."""
    state = load_checkpoint(Path(saved))
    if "posteriors" not in state or len(state["posteriors"]) != len(report["sigma_grid"]):
        raise RunError(f"{saved} does not hold the {len(report['sigma_grid'])} posteriors of "
                       "the report's sigma grid")
    train = build_data(config, progress=False)[0]
    task = build_task(config, train, seed=report["seed"])  # (sizes from the data)
    task.load_state_dict(state["task"])  # the prior, its normalisation included
    task.eval()
    for p in task.parameters():
        p.requires_grad_(False)
    stochastic, fixed = _split(task)
    bound_idx = torch.tensor(report["bound_indices"])
    bound = tuple(part[bound_idx] for part in train)
    groups = TASKS[config.task].train_groups(config) if report.get("grouped") else None
    bound_index = None if groups is None else group_index(
        [groups[i] for i in bound_idx.tolist()])
    found = prior_heldout(task, fixed, stochastic, bound, bound_index, report["heldout_delta"])
    for i, (sigma, saved_q) in enumerate(zip(report["sigma_grid"], state["posteriors"],
                                             strict=True)):
        posterior = GaussianPosterior(stochastic, sigma)
        posterior.load_state_dict(saved_q)
        if i == report["chosen"]:
            found.update(_certify(task, posterior, fixed, bound, bound_index, report, i))
        else:
            with torch.no_grad():
                found[f"grid_kl_{i}"] = float(posterior.kl())
    stored_rows = {f"grid_kl_{i}": row["kl"] for i, row in enumerate(report["grid_rows"])}
    checked = {}
    for key in (*VERIFIED, *sorted(k for k in found if k.startswith("grid_kl_"))):
        if key not in found:
            continue
        stored = stored_rows.get(key, report.get(key))
        value = found[key]
        if stored is None or abs(stored - value) > VERIFY_RTOL * max(1.0, abs(stored)):
            raise RunError(f"the certificate does not verify: {key} is {stored!r} in the "
                           f"report, {value!r} recomputed from {saved}")
        checked[key] = (stored, value)
    return checked
