"""bound, certify: the papers' bounds and the PAC-Bayes certificate of a trained run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import ConfigError, TrainConfig, stored_run_config
from ..experiments.pac_bayes import PRIOR_FRACTION
from ..models import UNFOLDING_MODELS
from ..pretrained import run_folders
from ..train import RunError


def cmd_bound(args) -> int:
    """Each run's bounds -> RUN_DIR/bound.json; over several runs (seeds of one recipe) also
    the mean and sample standard deviation of the headline numbers (``--summary FILE``)."""
    reports = []
    for run_dir in args.run_dirs:
        if len(args.run_dirs) > 1:
            print(f"== {run_dir}")
        reports.append(_bound_one(args, *run_folders(run_dir)))
    if len(reports) > 1:
        summary = _bound_summary(args.run_dirs, reports)
        for key, (mean, std) in summary["mean_std"].items():
            print(f"{key}: {mean:.4g} +- {std:.2g} (mean +- std over {len(reports)} runs)")
        if args.summary:
            Path(args.summary).write_text(json.dumps(summary, indent=1))
            print(f"wrote {args.summary}")
    return 0


def _bound_summary(run_dirs, reports: list[dict]) -> dict:
    import statistics

    keys = [k for k in ("rademacher", "gap", "least_bound", "least_gamma", "strict_bound",
                        "test_accuracy",
                        "train_loss")
            if all(isinstance(r.get(k), (int, float)) for r in reports)]
    return {"runs": [str(d) for d in run_dirs],
            "mean_std": {k: (statistics.fmean(r[k] for r in reports),
                             statistics.stdev(r[k] for r in reports)) for k in keys},
            "values": {k: [r[k] for r in reports] for k in keys}}


def _bound_one(args, run_dir: Path, out_dir: Path) -> dict:
    import torch

    from ..bounds import certify
    from ..train import build_data, load_run

    config, task, _ = load_run(run_dir, args.checkpoint)
    if config.task == "language_model":
        raise RunError("bound covers reconstruction and classification runs; the papers state "
                       "no bound for a language model")
    if config.model not in UNFOLDING_MODELS:
        raise RunError(f"{config.model} is not an unfolding RNN: the bounds of papers 000/001 "
                       "do not apply to it")
    if config.task == "classification":
        return _classifier_bound(args, config, task, out_dir)
    train = build_data(config)[0]
    with torch.no_grad():
        x = task.measure(train)
        D = task.model.D
        D_norm = float(torch.linalg.matrix_norm(D, 2))
        eta = args.eta if args.eta is not None else task.loss_range()
        codes = task.model(x)[0]
        report = certify(task.model, x, delta=args.delta, eta=eta, codes=codes)
        last = (codes[:, -1] @ D.T).clamp(0, 1)
        errors = ((train[:, -1] - last).norm(dim=1) / D_norm).clamp(max=eta)
    train_loss = float(errors.mean())
    print(report)
    if report.gap is not None:
        print(f"  loss l = min(||s_T - D h_T|| / ||D||_2, eta): train {train_loss:.4f}, "
              f"bound on test {train_loss + report.gap:.3g}")
    result = {**report.to_dict(), "train_loss": train_loss, "checkpoint": args.checkpoint,
              "loss": "min(||s_T - D h_T||_2 / ||D||_2, eta)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bound.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


def _classifier_bound(args, config, task, out_dir: Path) -> dict:
    """Paper 000 Prop. 3.4 / eq. 18 over a gamma grid, with the test ramp loss beside it."""
    from ..experiments.bound_experiments import certify_classifier, monte_carlo_what_if
    from ..train import build_data

    train, _, test = build_data(config, progress=False)
    report, test_ramp, accuracy = certify_classifier(task, train, test, args.gamma,
                                                     args.delta)
    print(report)
    best = min(range(len(report.gammas)), key=lambda i: report.test_ramp_bound[i])
    print(f"  tightest on the grid: gamma={report.gammas[best]:.4g}, bound on the test ramp loss "
          f"{report.test_ramp_bound[best]:.4g} (test ramp loss measured: {test_ramp[best]:.4f})")
    extra = {"test_accuracy": accuracy}
    print(f"  test accuracy of these weights ({args.checkpoint} checkpoint): "
          f"{100 * extra['test_accuracy']:.2f}%")
    if args.monte_carlo:
        extra.update(monte_carlo_what_if(task, train, report.rho, args.delta))
        need = extra["sample_size_at_estimate"]
        print(f"  Monte-Carlo lower estimate of R_S: {extra['monte_carlo']:.3g} (the bound is "
              f"{report.rademacher / extra['monte_carlo']:.3g}x above it); were R_S that "
              f"estimate, eq. 18 would reach {extra['least_bound_at_estimate']:.3g}, and "
              + ("no bound on R_S certifies these margins at any m" if need is None else
                 f"no bound on R_S certifies these margins with fewer than {need} samples"))
    result = {**report.to_dict(), "test_ramp_loss": test_ramp,
              "best_gamma": report.gammas[best], "checkpoint": args.checkpoint, **extra}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bound.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result



def check_pac_bayes_args(args) -> None:
    """Every PAC-Bayes argument checked before any training (one line naming the first
    that is wrong)."""
    for flag, value in (("--delta", args.delta), ("--delta-prime", args.delta_prime),
                        ("--prior-fraction", args.prior_fraction), ("--p-min", args.p_min)):
        if not 0 < value < 1:
            raise ConfigError(f"{flag} must lie in (0, 1), got {value}")
    if args.delta + args.delta_prime >= 1:
        raise ConfigError(f"--delta + --delta-prime must be below 1 (the certificate's "
                          f"confidence is 1 - both), got {args.delta + args.delta_prime}")
    for flag, value in (*(("--sigma-prior", v) for v in args.sigma_prior),
                        ("--posterior-lr", args.posterior_lr)):
        if not value > 0:
            raise ConfigError(f"{flag} must be positive, got {value}")
    for flag, value in (("--samples", args.samples), ("--prior-epochs", args.prior_epochs),
                        ("--grid", args.grid)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")
    if args.posterior_epochs < 0:
        raise ConfigError(f"--posterior-epochs must be 0 or more, got {args.posterior_epochs}")


def _run_config(run_dir: Path, name: str) -> TrainConfig:
    config_path = run_dir / "config.json"  # the recipe, not the weights: the prior must be
    if not config_path.exists():  # trained without the bound samples
        raise RunError(f"{name} is not a run folder: config.json not found")
    try:
        return TrainConfig.from_dict(stored_run_config(json.loads(config_path.read_text())))
    except ValueError as err:
        raise RunError(f"{config_path} is corrupt: {err}") from None


def _verify(args, run_dir: Path, out_dir: Path, verify_certificate) -> int:
    """certify --pac-bayes --verify: the stored certificate recomputed, no training."""
    report_path, saved = out_dir / "pac_bayes.json", out_dir / "pac_bayes.pt"
    for path in (report_path, saved):
        if not path.exists():
            raise RunError(f"nothing to verify: {path} not found (certify without --verify "
                           "writes it)")
    try:
        report = json.loads(report_path.read_text())
    except ValueError as err:
        raise RunError(f"{report_path} is corrupt: {err}") from None
    checked = verify_certificate(_run_config(run_dir, args.run_dir), report, saved)
    for key, (stored, found) in checked.items():
        print(f"  {key}: {stored:.10g} stored, {found:.10g} recomputed")
    print(f"the certificate in {report_path} verifies")
    return 0


def _print_certificate(model: str, r: dict, unit: str) -> None:
    """The report in words; ``unit``: what one example is ("clip" for audio, "example")."""
    group = "speaker" if unit == "clip" else "group"
    joint = 1 - 2 * (r["delta"] + r["delta_prime"]) * r["grid"] * len(r["sigma_grid"])
    print(f"PAC-Bayes risk certificate of {model}'s stochastic classifier Q (a Gaussian "
          "around a prior network trained on a part of the training split, not the run's "
          "own weights; Perez-Ortiz et al. 2021), each line with probability >= "
          f"{r['confidence']:.3f} on its own (delta {r['delta']:.3g}, delta' "
          f"{r['delta_prime']:.3g}: the union over a grid of {r['grid']} x "
          f"{len(r['sigma_grid'])} settings):")
    print(f"  test error of Q on a new {unit} <= {r['certificate_error']:.4f}, if the {unit}s "
          f"are i.i.d. (chance error {r['chance_error']:.3f})")
    if "group_certificate_error" in r:
        print(f"  error rate of Q on a new {group}'s {unit}s <= "
              f"{r['group_certificate_error']:.4f}, the {group}s as the i.i.d. sample "
              f"(n = {r['n_bound_groups']} bound {group}s, none of them in the prior's "
              f"{r['n_prior_groups']}); both lines together: probability >= {joint:.3f}")
    print(f"  bounded cross-entropy (p_min {r['p_min']}) <= "
          f"{r['certificate_cross_entropy']:.4f}")
    print(f"  sigma_0 {r['sigma_prior']:g} (least of {r['sigma_grid']}); KL(Q || P) = "
          f"{r['kl']:.4g} over {r['weights']:,} weights; n = {r['n_bound']} bound {unit}s, "
          f"{r['n_prior']} prior {unit}s; Q's empirical error {r['empirical_error_mc']:.4f} "
          f"({r['samples']:,} weight draws)")
    held = f"  held-out baseline (delta {r['heldout_delta']}): the prior network's error on " \
           f"the bound part {r['prior_bound_error']:.4f}, bound {r['prior_heldout_bound']:.4f}"
    if "prior_heldout_group_bound" in r:
        held += f"; per {group} {r['prior_heldout_group_bound']:.4f}"
    print(held)
    print(f"  measured on the test split: Q {r['stochastic_test_error']:.4f}, posterior mean "
          f"{r['posterior_mean_test_error']:.4f}")
    if r["empirical_error_mc"] > 0.9 * r["chance_error"] > r["posterior_mean_test_error"]:
        print(f"  the weight noise of the prior (sigma {r['sigma_prior']}) alone brings "
              "the classifier to chance: a smaller --sigma-prior keeps it (recurrences "
              "compound the noise over the T steps)")


def cmd_certify(args) -> int:
    """A certificate of a trained classifier: PAC-Bayes (--pac-bayes) or the Rademacher route
    (the same as ``bound``)."""
    if not args.pac_bayes:
        return cmd_bound(argparse.Namespace(**{**vars(args), "run_dirs": [args.run_dir]}))
    from ..experiments.pac_bayes import pac_bayes_certificate, verify_certificate

    check_pac_bayes_args(args)
    run_dir, out_dir = run_folders(args.run_dir)
    if args.verify:
        return _verify(args, run_dir, out_dir, verify_certificate)
    config = _run_config(run_dir, args.run_dir)
    report = pac_bayes_certificate(
        config, prior_fraction=args.prior_fraction, prior_epochs=args.prior_epochs,
        posterior_epochs=args.posterior_epochs, sigma_prior=args.sigma_prior,
        objective=args.objective, p_min=args.p_min, delta=args.delta,
        delta_prime=args.delta_prime, samples=args.samples, seed=args.seed,
        posterior_lr=args.posterior_lr, save_to=out_dir / "pac_bayes.pt", grid=args.grid,
        posterior_data=args.posterior_data, progress=not args.quiet)
    from ..data.own import classification_source

    audio = classification_source(config.data) in ("speech", "audio")
    _print_certificate(config.model, report, "clip" if audio else "example")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "pac_bayes.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0



def add_bound(sub) -> None:
    p = sub.add_parser("bound", help="generalization bounds of a trained unfolding RNN",
                       description="Paper 000 Thm 3.3 / paper 001 Cor. 3.1.x on the run's "
                       "training set; prints the report and writes RUN_DIR/bound.json. Given "
                       "several runs (the seeds of one recipe), also their mean +- std.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--summary", metavar="FILE", help="with several runs: write the mean, "
                   "std and values of the headline numbers as JSON")
    p.add_argument("--delta", type=float, default=0.05, help="confidence 1 - delta")
    p.add_argument("--eta", type=float, help="reconstruction: loss bound (default "
                   "sqrt(n0) / ||D||_2)")
    p.add_argument("--gamma", type=float, nargs="+", help="classification: margins of the "
                   "ramp loss (default 8 values from 0.1 to 31.6)")
    p.add_argument("--monte-carlo", action="store_true", help="classification: also a "
                   "Monte-Carlo lower estimate of R_S over the same class (Frank-Wolfe; "
                   "minutes on the full training set)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="the weights to bound: the best validation epoch's (default) or "
                   "the last epoch's (strong regularisers lower the norms late)")
    p.set_defaults(func=cmd_bound)



def add_certify(sub) -> None:
    p = sub.add_parser("certify", help="a certificate of a trained classifier's test error "
                       "(--pac-bayes), or its Rademacher bounds",
                       description="With --pac-bayes: a PAC-Bayes risk certificate (Perez-Ortiz "
                       "et al. 2021) of the run's classifier: a prior trained afresh on a part "
                       "of the training split, a Gaussian posterior trained on the rest with "
                       "the PAC-Bayes objective, and the certificate of the 0-1 test error "
                       "from the PAC-Bayes-kl bound and the sampling bound; writes "
                       "RUN_DIR/pac_bayes.json. Without it: the same as unfoldrnn bound.")
    p.add_argument("run_dir")
    p.add_argument("--pac-bayes", action="store_true", help="the PAC-Bayes route")
    p.add_argument("--verify", action="store_true", help="with --pac-bayes: recompute the "
                   "stored certificate (RUN/pac_bayes.json) from its split, seeds and the "
                   "saved prior and posterior (RUN/pac_bayes.pt), without training")
    p.add_argument("--prior-fraction", type=float, default=PRIOR_FRACTION,
                   help="share of the training split that trains the prior (default "
                   f"{PRIOR_FRACTION})")
    p.add_argument("--prior-epochs", type=int, help="epochs of the prior (default: the run's)")
    p.add_argument("--posterior-epochs", type=int, default=5)
    p.add_argument("--posterior-lr", type=float, default=1e-2,
                   help="Adam's learning rate on the posterior in the prior's units (a step "
                   "moves a mean by about lr x sigma_prior; default 1e-2)")
    p.add_argument("--sigma-prior", type=float, nargs="+", default=[1e-3], metavar="SIGMA",
                   help="the prior's standard deviation, or a grid of them (a posterior from "
                   "each, the least certificate reported, delta and delta' divided by their "
                   "number; default 1e-3: a recurrence compounds weight noise over its T "
                   "steps; PBB's CNNs take 0.03)")
    p.add_argument("--posterior-data", choices=("all", "bound"), default="all",
                   help="what the posterior trains on: the whole training split (default, "
                   "as PBB: the bound holds for any posterior) or the bound part only")
    p.add_argument("--grid", type=int, default=1, metavar="K",
                   help="the number of other settings (epochs, rates ...) tried before this "
                   "one was chosen by its certificate: the union bound divides delta and "
                   "delta' by K (default 1: the settings were fixed before any certificate)")
    p.add_argument("--objective", choices=("f-quad", "f-classic"), default="f-quad")
    p.add_argument("--p-min", type=float, default=1e-4, help="bounded cross-entropy's p_min")
    p.add_argument("--delta", type=float, default=0.025, help="PAC-Bayes-kl confidence")
    p.add_argument("--delta-prime", type=float, default=0.01, help="sampling confidence")
    p.add_argument("--samples", type=int, default=10_000,
                   help="weight draws M of each empirical error, each scored on one random "
                   "bound example (or speaker): the sampling bound adds about "
                   "sqrt(2 L log(2 / delta') / M) (default 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="Rademacher route: the weights to bound")
    p.add_argument("--gamma", type=float, nargs="+", help="Rademacher route: margins")
    p.add_argument("--eta", type=float, help=argparse.SUPPRESS)
    p.add_argument("--monte-carlo", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--summary", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_certify)

