"""Command-line interface. ``unfoldrnn COMMAND --help`` explains each command.

Errors in what the user gave (a missing or corrupt file, an unknown model or config key, a
rate outside (0, 1], a run folder that holds another run) print one line and exit with 2,
before anything is written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import fields
from importlib import metadata
from pathlib import Path

from .config import TASKS, ConfigError, TrainConfig, read_config_file, task_defaults
from .data import DataError
from .models import MODEL_NAMES, PRETRAINED, UNFOLDING_MODELS
from .train import Interrupted, RunError

USER_ERRORS = (ConfigError, DataError, RunError, ValueError, FileNotFoundError)

# flags that ``train`` exposes directly; any other key goes through --set KEY=VALUE
TRAIN_FLAGS = {
    "task": (str, "reconstruction (Moving MNIST, PSNR), classification (Speech Commands, "
                  "accuracy) or language_model (WikiText-2 / PTB, perplexity)"),
    "model": (str, f"model name: {', '.join(MODEL_NAMES)}"),
    "rate": (float, "reconstruction: CS rate n/n0 in (0, 1]"),
    "classes": (str, "classification: class set google12 or google30"),
    "hidden_size": (int, "hidden units h"),
    "num_layers": (int, "layers d = unfolded iterations"),
    "epochs": (int, "training epochs"),
    "batch_size": (int, "minibatch size"),
    "lr": (float, "Adam learning rate"),
    "num_sequences": (int, "reconstruction: Moving MNIST sequences to generate"),
    "split": (str, "reconstruction: train,valid,test sequence counts, e.g. 240,30,30 "
                   "(default 80/10/10 of --num-sequences)"),
    "data": (str, "reconstruction: 'embedded', a folder with the MNIST idx files, "
                  "mnist_test_seq.npy, or your own sequences as any other .npy ([N, T, H, W] "
                  "or [N, T, n0] in [0, 1]); classification: a Speech Commands folder "
                  "(official layout, or the Google-12 test set), your own .npz (x_train, "
                  "y_train, ...), or a folder of class_name/*.wav; language_model: a "
                  "WikiText-2 or Penn Treebank folder"),
    "seed": (int, "random seed"),
    "device": (str, "'auto', 'cpu' or 'cuda'"),
    "bound_lambda": (float, "weight of the bound regulariser sum_l ||W_l||_1,inf"),
    "bound_lambda_u": (float, "weight of sum_l ||U_l||_1,inf, the bound's other norms (not "
                              "in paper 000)"),
    "lambda_search_trials": (int, "Optuna trials of the (lambda1, lambda2) search (random "
                                  "sampling; --set lambda_search_sampler=tpe, "
                                  "lambda_search_pruner=median)"),
}


def _set_values(args, per_model: bool = False) -> dict:
    """--set KEY=VALUE items (a value is JSON when it parses: numbers, lists, booleans; else
    the string) and --tensorboard, as config keys; ``per_model`` also takes MODEL:KEY=VALUE
    (reproduce: that model's runs only)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {"tensorboard": True} if args.tensorboard else {}
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        model, colon, name = key.rpartition(":")
        if colon and per_model and model not in MODEL_NAMES:
            raise ConfigError(f"--set {key}: unknown model {model!r}")
        if (name if colon and per_model else key) not in known:
            raise ConfigError(f"unknown config key {key!r}; valid keys: "
                              f"{', '.join(sorted(known))}")
        values[key] = _json_or_text(text)
    return values


def _split_counts(text: str) -> list:
    try:
        return [int(v) for v in text.replace("[", "").replace("]", "").split(",")]
    except ValueError:
        raise ConfigError(f"--split expects three counts like 240,30,30, got {text!r}") from None


def config_from_args(args) -> TrainConfig:
    """--config, then the flags, then --set; the data source stored as an absolute path."""
    from .train import resolved_data

    values = read_config_file(args.config) if args.config else {}
    for key in TRAIN_FLAGS:
        value = getattr(args, key)
        if value is not None:
            values[key] = _split_counts(value) if key == "split" else value
    values = {**values, **_set_values(args)}
    if isinstance(values.get("data"), str):
        values["data"] = resolved_data(values["data"])
    return TrainConfig.from_dict(values)


def cmd_train(args) -> int:
    from .distributed import Ranks
    from .train import fit

    config = config_from_args(args)
    metrics = fit(config, args.out, resume=args.resume, progress=not args.quiet)
    if "test" in metrics and Ranks().main:
        print(f"wrote {args.out}/metrics.json")
    return 0


def cmd_evaluate(args) -> int:
    from .tasks import confusion_matrix
    from .train import build_data, load_run

    config, task, _ = load_run(args.run_dir, args.which)
    test = build_data(config, progress=not args.quiet)[2]
    scores = task.evaluate(test)
    result = {"checkpoint": args.which, "test": scores}
    size = f"{test.numel():,} tokens" if config.task == "language_model" else \
        f"{len(test[1]) if isinstance(test, tuple) else len(test):,} sequences"
    print(f"{config.model}: test loss {scores['loss']:.4f}, {task.describe(scores)} ({size})")
    if config.task == "classification":
        counts = confusion_matrix(task.predict(test), test[1], task.num_classes)
        result["confusion"] = counts.tolist()
        result["classes"] = task.class_names
        print(_confusion_text(counts, result["classes"]))
    out = Path(args.run_dir) / "evaluation.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


def _confusion_text(counts, classes) -> str:
    width = max(6, *(len(c) for c in classes))
    lines = ["confusion matrix (rows: true class, columns: predicted)",
             " " * width + "".join(f"{c[:5]:>6s}" for c in classes)]
    lines += [f"{name:>{width}s}" + "".join(f"{int(v):6d}" for v in row)
              for name, row in zip(classes, counts, strict=True)]
    return "\n".join(lines)


def cmd_plot(args) -> int:
    """Learning curves; reconstructions or the confusion matrix; and for unfolding models
    their activations and their bounds (the run's own numbers). A language-model run gets
    its learning curves and activations (the bounds do not cover it)."""
    import torch

    from . import plots
    from .tasks import confusion_matrix
    from .tasks.reconstruction import frame_shape
    from .train import build_data, load_run

    config, task, metrics = load_run(args.run_dir, "best")
    out = Path(args.run_dir) / "plots"
    written = []
    if metrics.get("epochs"):
        written.append(plots.learning_curves(metrics["epochs"], out / "learning_curves.png",
                                             title=config.model,
                                             loss_range=task.loss_range()))
    unfolding = config.model in UNFOLDING_MODELS
    if unfolding:
        written.append(plots.activations(task.model, out / "activations.png"))
    if config.task == "language_model":
        print("wrote " + ", ".join(str(p) for p in written) + " (language_model: no "
              "reconstructions, confusion matrix or bounds)")
        return 0
    train, _, test = build_data(config, progress=False)
    if config.task == "reconstruction":
        with torch.no_grad():
            written.append(plots.reconstructions(test[0], {config.model: task(test[:1])[0]},
                                                 out / "reconstructions.png",
                                                 frame_shape(config)))
    else:
        counts = confusion_matrix(task.predict(test), test[1], task.num_classes)
        written.append(plots.confusion(counts, task.class_names, out / "confusion.png",
                                       f"{config.model}: test accuracy "
                                       f"{100 * counts.trace() / counts.sum():.2f}%"))
    if unfolding and config.model != "sista":  # the papers give Sista-RNN no T-step bound
        from .bounds import certify

        with torch.no_grad():
            inputs = task.model_inputs(train)
            if config.task == "classification":
                report = certify(task.model, inputs, head=task.head, labels=train[1])
                written.append(plots.bound_vs_gamma(report, out / "bound_vs_gamma.png"))
            else:
                report = certify(task.model, inputs, eta=task.loss_range())
        written.append(plots.bound_vs_T(out / "bound_vs_T.png", report))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_bound(args) -> int:
    """Each run's bounds -> RUN_DIR/bound.json; over several runs (seeds of one recipe) also
    the mean and sample standard deviation of the headline numbers (``--summary FILE``)."""
    reports = []
    for run_dir in args.run_dirs:
        if len(args.run_dirs) > 1:
            print(f"== {run_dir}")
        reports.append(_bound_one(args, Path(run_dir)))
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


def _bound_one(args, run_dir: Path) -> dict:
    import torch

    from .bounds import certify
    from .train import build_data, load_run

    config, task, _ = load_run(run_dir, args.checkpoint)
    if config.task == "language_model":
        raise RunError("bound covers reconstruction and classification runs; the papers state "
                       "no bound for a language model")
    if config.model not in UNFOLDING_MODELS:
        raise RunError(f"{config.model} is not an unfolding RNN: the bounds of papers 000/001 "
                       "do not apply to it")
    if config.task == "classification":
        return _classifier_bound(args, config, task, run_dir)
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
    out = run_dir / "bound.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


def _classifier_bound(args, config, task, run_dir: Path) -> dict:
    """Paper 000 Prop. 3.4 / eq. 18 over a gamma grid, with the test ramp loss beside it."""
    from .experiments.bound_experiments import certify_classifier, monte_carlo_what_if
    from .train import build_data

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
    out = run_dir / "bound.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


SPECIAL_TABLES = ("paper000-table4", "paper003-noise", "paper002-fig4", "paper002-families",
                  "certified", "certificates")


def _command_line(args) -> str:
    """The exact command this process was started with, as a user would type it."""
    return shlex.join(["unfoldrnn", *args.argv])


def cmd_reproduce(args) -> int:
    from .experiments import TABLES, bound_experiments, resolve, run_table
    from .train import check_writable

    started = time.perf_counter()
    check_writable(Path(args.out))
    if args.table in SPECIAL_TABLES:
        used = [flag for flag, on in (("--collect", args.collect), ("--storage", args.storage),
                                      ("--workers", args.workers and
                                       args.table != "certificates"),
                                      ("--values", args.values), ("--models", args.models),
                                      ("--tuned", args.tuned),
                                      ("--set", args.set)) if on]
        if used:
            raise ConfigError(f"{args.table} runs its own fixed set of runs in one process "
                              f"and takes no {', '.join(used)} (those are for the paper "
                              f"tables: {', '.join(TABLES)}); rerun the same command to "
                              "resume it")
        if args.data is None:
            raise ConfigError(f"{args.table} needs --data (a Speech Commands folder; "
                              "paper002-fig4: a WikiText-2 folder)")
        from .experiments.certificates import run_certificates
        from .experiments.families import run_families

        special = {"paper000-table4": bound_experiments.run_table4,
                   "paper003-noise": bound_experiments.run_noise,
                   "certified": bound_experiments.run_certified,
                   "paper002-fig4": bound_experiments.run_fig4,
                   "paper002-families": run_families,
                   "certificates": lambda *a, **kw: run_certificates(  # cells in processes
                       *a, **kw, workers=args.workers or 1)}
        seeds = {} if args.seeds is None else {"seeds": args.seeds}  # else the table's own
        special[args.table](args.data, args.out, args.scale, progress=not args.quiet, **seeds)
        print(f"wrote {args.out}/{args.table}/ in {(time.perf_counter() - started) / 60:.1f} "
              "min")
        return 0
    if args.collect or args.storage or args.workers:
        return _reproduce_study(args, started)
    overrides, values = _reproduce_overrides(args)
    run_table(args.table, args.scale, args.out, models=args.models, progress=not args.quiet,
              data=args.data, overrides=overrides, values=values, seeds=args.seeds or 1,
              command=_command_line(args))
    folder = resolve(args.table).folder
    print(f"wrote {args.out}/{folder}/{folder}.md, .csv and .json "
          f"in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _reproduce_overrides(args) -> tuple[dict | None, list | None]:
    """(--set and --tensorboard as config keys, the --values of the swept key)."""
    values = [_json_or_text(v) for v in args.values] if args.values else None
    overrides = _set_values(args, per_model=True)
    if args.tuned:
        from .experiments import resolve
        from .tune import tuned_overrides

        tuned = tuned_overrides(args.tuned, args.models or resolve(args.table).models)
        overrides = {**tuned, **overrides}  # --set wins over the searches
    return overrides or None, values


def _reproduce_study(args, started: float) -> int:
    """reproduce as an Optuna study: --storage, --workers N, --collect."""
    from .experiments import resolve, study
    from .experiments.sweep import table_configs, write_table

    spec = resolve(args.table)
    overrides, values = _reproduce_overrides(args)
    seeds, command = args.seeds or 1, _command_line(args)
    common = dict(models=args.models, data=args.data, overrides=overrides, values=values,
                  seeds=seeds)
    if args.collect:
        study.collect(args.table, args.scale, args.out, command=command, **common)
    else:
        storage = args.storage or study.default_storage(args.out, spec)
        if args.workers and args.workers > 1:
            argv = ["reproduce", args.table, "--scale", args.scale, "--out", args.out,
                    "--storage", storage, "--quiet", "--seeds", str(seeds)]
            argv += ["--models", *args.models] if args.models else []
            argv += ["--data", args.data] if args.data else []
            argv += ["--values", *args.values] if args.values else []
            for item in args.set or []:
                argv += ["--set", item]
            argv += ["--tuned", args.tuned] if args.tuned else []
            reused = study.prepare(args.table, args.scale, storage, out=args.out, **common)
            code = study.run_workers(argv, args.workers)
            if code:
                return code
            runs = table_configs(spec, args.scale, **common)
            write_table(spec, runs, Path(args.out) / spec.folder, args.scale, command,
                              time.perf_counter() - started, len(reused))
        elif not study.work(args.table, args.scale, args.out, storage,
                            progress=not args.quiet, command=command,
                            write=not args.worker_of_parent, **common):
            print(f"this worker is done; other workers still hold runs of {spec.name}")
            return 0
        elif args.worker_of_parent:
            return 0
    print(f"wrote {args.out}/{spec.folder}/{spec.folder}.md, .csv and .json "
          f"in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


def cmd_certify(args) -> int:
    """A certificate of a trained classifier: PAC-Bayes (--pac-bayes) or the Rademacher route
    (the same as ``bound``)."""
    if not args.pac_bayes:
        return cmd_bound(argparse.Namespace(**{**vars(args), "run_dirs": [args.run_dir]}))
    from .experiments.pac_bayes import pac_bayes_certificate

    config_path = Path(args.run_dir) / "config.json"  # the recipe, not the weights: the
    if not config_path.exists():  # prior must be trained without the bound samples
        raise RunError(f"{args.run_dir} is not a run folder: config.json not found")
    try:
        config = TrainConfig.from_dict(json.loads(config_path.read_text()))
    except ValueError as err:
        raise RunError(f"{config_path} is corrupt: {err}") from None
    report = pac_bayes_certificate(
        config, prior_fraction=args.prior_fraction, prior_epochs=args.prior_epochs,
        posterior_epochs=args.posterior_epochs, sigma_prior=args.sigma_prior,
        objective=args.objective, p_min=args.p_min, delta=args.delta,
        delta_prime=args.delta_prime, samples=args.samples, seed=args.seed,
        posterior_lr=args.posterior_lr,
        progress=not args.quiet)
    print(f"PAC-Bayes risk certificate of {config.model} (Perez-Ortiz et al. 2021), with "
          f"probability >= {report['confidence']:.3f} (delta {report['delta']}, delta' "
          f"{report['delta_prime']}):")
    print(f"  test error of the stochastic classifier <= {report['certificate_error']:.4f} "
          f"(guaranteed accuracy >= {100 * (1 - report['certificate_error']):.1f}%; chance "
          f"error {report['chance_error']:.3f})")
    print(f"  bounded cross-entropy (p_min {report['p_min']}) <= "
          f"{report['certificate_cross_entropy']:.4f}")
    print(f"  KL(Q || P) = {report['kl']:.4g} over {report['weights']:,} weights; n = "
          f"{report['n_bound']} bound clips, {report['n_prior']} prior clips; empirical error "
          f"{report['empirical_error_mc']:.4f} ({report['samples']} weight draws)")
    print(f"  measured on the test split: stochastic {report['stochastic_test_error']:.4f}, "
          f"posterior mean {report['posterior_mean_test_error']:.4f}")
    if report["empirical_error_mc"] > 0.9 * report["chance_error"] > \
            report["posterior_mean_test_error"]:
        print(f"  the weight noise of the prior (sigma {report['sigma_prior']}) alone brings "
              "the classifier to chance: a smaller --sigma-prior keeps it (recurrences "
              "compound the noise over the T steps)")
    out = Path(args.run_dir) / "pac_bayes.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


def cmd_predict(args) -> int:
    """A trained model's answer on new inputs (``unfoldrnn.predict``)."""
    from . import predict

    config, task, run_dir = predict.open_model(args.run)
    if config.task == "classification":
        rows = predict.classify(config, task, args.inputs, args.top)
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        width = max(len(r["input"]) for r in rows)
        print(f"{'input':<{width}}  class  probability  top {args.top}")
        for r in rows:
            top = ", ".join(f"{c} {p:.2f}" for c, p in r["top"])
            print(f"{r['input']:<{width}}  {r['class']}  {r['probability']:.3f}  {top}")
        return 0
    if config.task == "reconstruction":
        import numpy as np
        import torch

        from . import plots
        from .metrics import psnr
        from .tasks.reconstruction import frame_shape

        out = Path(args.out)
        # every input checked and reconstructed before anything is written
        done = [(item, *predict.reconstruct(task, item, args.measurements))
                for item in args.inputs]
        out.mkdir(parents=True, exist_ok=True)
        report = []
        for item, signals, estimates in done:
            name = Path(item).stem
            np.save(out / f"{name}.reconstructed.npy", estimates)
            flat = torch.from_numpy(estimates.reshape(*estimates.shape[:2], -1))
            entry = {"input": item, "output": str(out / f"{name}.reconstructed.npy")}
            if not args.measurements:
                entry["psnr"] = float(psnr(flat, torch.from_numpy(signals)))
                shape = estimates.shape[2:] if estimates.ndim == 4 else frame_shape(config)
                plots.reconstructions(torch.from_numpy(signals[0]), {config.model: flat[0]},
                                      out / f"{name}.png", shape)
                entry["strip"] = str(out / f"{name}.png")
            report.append(entry)
        if args.json:
            print(json.dumps(report, indent=1))
        for entry in report if not args.json else []:
            quality = f" (PSNR {entry['psnr']:.2f} dB)" if "psnr" in entry else ""
            print(f"{entry['input']} -> {entry['output']}{quality}")
        return 0
    words = predict.vocabulary(config, run_dir)
    prompt = " ".join(args.inputs).split()
    following = predict.next_words(task, words, prompt, args.words, args.sample,
                                   args.temperature, args.seed)
    if args.json:
        print(json.dumps({"prompt": prompt, "next": following}))
    else:
        print(" ".join(prompt), "->", " ".join(following))
    return 0


def cmd_tune(args) -> int:
    from . import tune

    base = config_from_args(args)
    if args.trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {args.trials}")
    space = tune.read_space(args.space) if args.space else tune.default_space(base)
    if args.worker_of_parent:  # one of run()'s workers: trials only, the parent summarises
        tune.work(base, space, Path(args.out), args.trials, args.storage, args.sampler)
        return 0
    from .train import check_writable

    check_writable(Path(args.out))
    argv = [a for a in args.argv if a not in ("--quiet",)]
    if "--workers" in argv:  # the workers get their own --workers 1
        i = argv.index("--workers")
        del argv[i:i + 2]
    summary = tune.run(base, space, args.out, args.trials, args.storage, args.workers or 1,
                       args.sampler, _command_line(args), argv, progress=not args.quiet)
    print(f"best {summary['metric']} {summary['best_value']:.4g} (trial "
          f"{summary['best_trial']} of {len(summary['trials'])}): {summary['best_params']}")
    print(f"wrote {args.out}/best.toml (unfoldrnn train --config {args.out}/best.toml) and "
          f"{args.out}/summary.json")
    return 0


# the demo's setting: compressive Moving MNIST at rate 0.2, h = 256, d = 3
DEMO = {"num_sequences": 3000, "split": (2400, 300, 300), "hidden_size": 256, "num_layers": 3,
        "lr": 1e-3, "lr_patience": 3, "rate": 0.2, "lambda_search_trials": 6}


def cmd_demo(args) -> int:
    """Train reweighted-RNN and a stacked RNN on embedded Moving MNIST, compare, plot.

    A rerun continues: finished models are reused, an interrupted one resumes."""
    import torch

    from . import plots
    from .train import build_data, fit, load_run

    out = Path(args.out)
    base = {**DEMO, "epochs": args.epochs, "seed": args.seed}
    results, estimates = {}, {}
    test = None
    for model in ("reweighted", "rnn"):
        run_dir = out / model
        print(f"training {model} ({args.epochs} epochs on 2,400 embedded Moving MNIST "
              f"sequences) -> {run_dir}")
        config = TrainConfig.from_dict({**base, "model": model})
        try:
            fit(config, run_dir, resume=(run_dir / "config.json").exists(),
                progress=not args.quiet, log=lambda *_: None,
                interrupt_hint="rerun the same demo command to continue")
        except RunError as err:
            if "holds" not in str(err):
                raise
            raise RunError(f"{out} holds a demo of other settings ({err}); give the demo "
                           "another folder with --out, or its earlier --epochs/--seed") from None
        config, task, metrics = load_run(run_dir)
        test = build_data(config, progress=False)[2][:1]
        with torch.no_grad():
            estimates[model] = task(test)[0]
        plots.learning_curves(metrics["epochs"], run_dir / "plots" / "learning_curves.png",
                              model)
        plots.reconstructions(test[0], {model: estimates[model]},
                              run_dir / "plots" / "reconstructions.png", config.frame_size,
                              title=f"{model}: test PSNR {metrics['test']['psnr']:.2f} dB")
        if model == "reweighted":
            plots.activations(task.model, run_dir / "plots" / "activations.png")
        results[model] = metrics
        print(f"  {model}: test PSNR {metrics['test']['psnr']:.2f} dB, "
              f"{metrics['parameters']:,} parameters, {metrics['train_seconds']:.0f} s")
    labels = {"reweighted": "reweighted-RNN", "rnn": "stacked RNN"}
    compare = plots.reconstructions(test[0], {labels[m]: e for m, e in estimates.items()},
                                    out / "comparison.png", config.frame_size,
                                    title="a test sequence: ground truth, reweighted-RNN, "
                                          "stacked RNN (PSNR per frame, dB)")
    (out / "report.md").write_text(_demo_report(results, labels, out, compare))
    print(f"report: {out / 'report.md'}; figures: {compare} and {out}/*/plots/*.png")
    return 0


def _demo_report(results: dict, labels: dict, out: Path, compare: Path) -> str:
    psnr = {m: r["test"]["psnr"] for m, r in results.items()}
    winner, other = sorted(psnr, key=psnr.get, reverse=True)
    lines = ["# unfoldrnn demo: compressive Moving MNIST, CS rate 0.2, h = 256, d = 3", "",
             f"**{labels[winner]} wins by {psnr[winner] - psnr[other]:.2f} dB** of test PSNR "
             f"({psnr[winner]:.2f} dB against {psnr[other]:.2f} dB for {labels[other]}).", "",
             "PSNR is the peak signal-to-noise ratio of a reconstructed frame, "
             "10 log10(1 / MSE) with pixels in [0, 1], averaged over the test frames (paper "
             "001 Sec. 4); 3 dB more is half the squared error.", "",
             "| model | test PSNR [dB] | parameters | training [s] |", "|---|---|---|---|"]
    lines += [f"| {labels[m]} | {r['test']['psnr']:.2f} | {r['parameters']:,} | "
              f"{r['train_seconds']:.0f} |" for m, r in results.items()]
    lines += ["", f"![comparison]({compare.relative_to(out)})", "",
              "Figures: " + ", ".join(
                  f"[{m}/plots/{name}]({m}/plots/{name}.png)" for m in results
                  for name in ("learning_curves", "reconstructions")) +
              ", [reweighted/plots/activations](reweighted/plots/activations.png) (the learned "
              "two-plateau activations, paper 001 Fig. 1)."]
    return "\n".join(lines) + "\n"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unfoldrnn",
        description="Deep-unfolding RNNs (reweighted-RNN, l1-l1-RNN, Sista-RNN), their RNN "
                    "baselines, the papers' tasks, and generalization bounds.",
        epilog="Each command has its own --help. Errors exit with status 2.")
    parser.add_argument("--version", action="version",
                        version=f"unfoldrnn {metadata.version('unfoldrnn')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train a model (reconstruction, classification or "
                       "language_model)",
                       description="Train into a run folder (config.json, metrics.csv/json, "
                       "checkpoints/). Settings come from --config (TOML or JSON), then the "
                       "flags, then --set KEY=VALUE; defaults are the papers' (paper 001 for "
                       "reconstruction, paper 000 for classification and language_model).",
                       epilog="config keys and defaults (None: the task's default): "
                       + ", ".join(f"{f.name}={f.default!r}" for f in fields(TrainConfig))
                       + ". Task defaults: " + "; ".join(
                           f"{t}: " + ", ".join(f"{k}={v!r}" for k, v in
                                                task_defaults(t, "reweighted").items())
                           for t in TASKS) + " (classification: lr 3e-3 for lstm and gru).")
    p.add_argument("--config", help="a TOML or JSON file of TrainConfig keys")
    for key, (kind, text) in TRAIN_FLAGS.items():
        default = TrainConfig.__dataclass_fields__[key].default
        p.add_argument("--" + key.replace("_", "-"), dest=key, type=kind,
                       help=text + ("" if "default" in text else " (default: the task's)"
                                    if default is None else f" (default {default!r})"))
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other config key, e.g. --set clip=0.5 (repeatable)")
    p.add_argument("--out", required=True, help="run folder (new, or this run's with --resume)")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    p.add_argument("--tensorboard", action="store_true",
                   help="log per-epoch scalars and figures to OUT/tensorboard (needs "
                   "pip install 'unfoldrnn[tensorboard]')")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test loss and metric (PSNR, accuracy) of a run",
                       description="Evaluate a run's checkpoint on its test split; prints the "
                       "metric (and a classifier's confusion matrix) and writes "
                       "RUN_DIR/evaluation.json.")
    p.add_argument("run_dir")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="learning curves, reconstructions or confusion matrix, "
                       "activations, bounds",
                       description="Write PNG figures into RUN_DIR/plots/.")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_plot)

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

    p = sub.add_parser("predict", help="a trained model's answer on new inputs",
                       description="Classification: WAV files, folders of them, or .npy/.npz "
                       "feature arrays -> predicted class, probability and top classes. "
                       "Reconstruction: .npy sequences [N, T, H, W] or [N, T, n0] -> their "
                       "reconstructions (.npy and a PNG strip in --out). Language model: a "
                       "prompt -> the next words. The run's own normalisation, class names and "
                       "vocabulary are used.",
                       epilog="RUN is a run folder or a shipped model: "
                       + "; ".join(f"{k}: {v}" for k, v in PRETRAINED.items()))
    p.add_argument("run", metavar="RUN", help="run folder, or a shipped model's name")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files or folders (classification, reconstruction), or the prompt's "
                   "words (language model)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--top", type=int, default=3,
                   help="classification: classes listed (default 3)")
    p.add_argument("--out", default="predictions",
                   help="reconstruction: output folder (default predictions/)")
    p.add_argument("--measurements", action="store_true",
                   help="reconstruction: the inputs are measurements x = A s [N, T, n]")
    p.add_argument("--words", type=int, default=10,
                   help="language model: words to add (default 10)")
    p.add_argument("--sample", action="store_true",
                   help="language model: draw each word (default: the most likely)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="language model with --sample: p(w)^(1/T) (default 1)")
    p.add_argument("--seed", type=int, default=0, help="language model: the draws' seed")
    p.set_defaults(func=cmd_predict)

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
    p.add_argument("--prior-fraction", type=float, default=0.5,
                   help="share of the training split that trains the prior (default 0.5)")
    p.add_argument("--prior-epochs", type=int, help="epochs of the prior (default: the run's)")
    p.add_argument("--posterior-epochs", type=int, default=5)
    p.add_argument("--posterior-lr", type=float, default=1e-2,
                   help="Adam's learning rate on the posterior in the prior's units (a step "
                   "moves a mean by about lr * sigma_prior; default 1e-2)")
    p.add_argument("--sigma-prior", type=float, default=1e-3,
                   help="the prior's standard deviation (default 1e-3: a recurrence compounds "
                   "weight noise over its T steps; PBB's CNNs take 0.03)")
    p.add_argument("--objective", choices=("f-quad", "f-classic"), default="f-quad")
    p.add_argument("--p-min", type=float, default=1e-4, help="bounded cross-entropy's p_min")
    p.add_argument("--delta", type=float, default=0.025, help="PAC-Bayes-kl confidence")
    p.add_argument("--delta-prime", type=float, default=0.01, help="sampling confidence")
    p.add_argument("--samples", type=int, default=1000,
                   help="weight draws of the empirical error (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="Rademacher route: the weights to bound")
    p.add_argument("--gamma", type=float, nargs="+", help="Rademacher route: margins")
    p.add_argument("--eta", type=float, help=argparse.SUPPRESS)
    p.add_argument("--monte-carlo", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--summary", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_certify)

    from .experiments import ALIASES, TABLES
    from .experiments.sweep import CPU_MINUTES

    p = sub.add_parser("reproduce", help="a table of the papers as a sweep of runs",
                       description="Train every model of a published table and write "
                       "OUT/<table>/<table>.md and .csv with the paper's numbers beside ours. "
                       "Finished runs are reused; interrupted ones resume.",
                       epilog="tables (CPU-scale wall time on 2 cores): " + "; ".join(
                           f"{name}: {t.source}, {t.task}, sweeps {t.key} "
                           f"(~{CPU_MINUTES[name]} min)" for name, t in TABLES.items())
                       + "; paper000-table4: paper 000 Table 4 and Fig. 3, regularised "
                       "single-layer classifiers and their bounds (~10 min); paper003-noise: "
                       "paper 003's input-noise experiment, 25 ReLU RNNs (~15 min); "
                       "paper002-fig4: paper 002 Fig. 4, four bounds of a vanilla RNN trained "
                       "on WikiText-2 (~15 min); paper002-families: paper 002 Sec. 5 / "
                       "Remark 1, a vanilla RNN, an MGU, an LSTM and the conv RNN on speech, "
                       "3 seeds, their bounds against t and the width (~40 min); certified: "
                       "the certified recipe "
                       "(configs/certified_speech.toml) and ten other regularisers and "
                       "schedules, each run's eq. 15 and eq. 18 with the floor no head can "
                       "beat (~3.5 h of training on one core). Older names: "
                       + ", ".join(f"{a} = {n}" for a, n in ALIASES.items())
                       + ". Classification tables need --data (a Speech Commands folder).")
    names = [*TABLES, *SPECIAL_TABLES, *ALIASES]
    p.add_argument("table", choices=names, metavar="TABLE", help="one of: " + ", ".join(names))
    p.add_argument("--scale", choices=("cpu", "paper"), default="cpu",
                   help="cpu: reduced setting for a laptop (documented in the table); paper: "
                   "the paper's full setting, a GPU job (default cpu)")
    p.add_argument("--out", default="reproduced", help="output folder (default reproduced/)")
    p.add_argument("--models", nargs="+", choices=MODEL_NAMES,
                   help="train only these models (default: the table's)")
    p.add_argument("--data", help="data source, as for train --data (default: the task's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--tensorboard", action="store_true",
                   help="every run logs to its own RUN_DIR/tensorboard")
    p.add_argument("--storage", help="run the table as an Optuna study in this storage "
                   "(sqlite:///path.db, postgresql://user@host/db: run the same command on "
                   "many machines); default with --workers: OUT/<table>/study.db")
    p.add_argument("--tuned", metavar="DIR",
                   help="each model's tuned settings: the best trial of DIR/<model>/"
                   "summary.json (unfoldrnn tune --out DIR/<model>); --set MODEL:KEY=VALUE "
                   "sets one model's key by hand")
    p.add_argument("--workers", type=int, help="start this many local worker processes on "
                   "the study; each run is trained by exactly one of them")
    p.add_argument("--collect", action="store_true",
                   help="write the table from the finished runs (say which are missing)")
    p.add_argument("--values", nargs="+", metavar="VALUE",
                   help="only these values of the swept key (default: the table's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a config key set in every run, e.g. --set epochs=3, or in one "
                   "model's runs, --set gru:lr=0.003 (repeatable)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="train every cell with N seeds (the config's seed, default 0, and "
                   "the N - 1 after it; each seed a run folder of its own) and print mean "
                   "+- std over them (default 1; the special tables: seeds 0..N-1, by "
                   "default their own: one for paper000-table4, certified and paper002-fig4, "
                   "3 for the families and certificates, 5 for paper003-noise)")
    p.add_argument("--worker-of-parent", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("tune", help="hyperparameter search on the validation split (Optuna)",
                       description="Search a model's training settings on the validation "
                       "split: each trial trains the base config (--config, the flags, "
                       "--set, as for train) with sampled values for --epochs epochs; Optuna's "
                       "TPE sampler proposes them and its median pruner stops trials behind "
                       "the median. Searched by default: lr (log-uniform 1e-4..1e-2), "
                       "lr_factor, lr_step (step schedule) or lr_patience (plateau), clip, "
                       "and for the unfolding models c (Sista: "
                       "alpha), lambda1, lambda2. The test split is never evaluated. Writes "
                       "OUT/best.toml (for train --config), OUT/summary.json (every trial, "
                       "the best, the parameter importances) and OUT/trials/.")
    p.add_argument("--config", help="base config (TOML or JSON), as for train")
    for key, (kind, text) in TRAIN_FLAGS.items():
        p.add_argument("--" + key.replace("_", "-"), dest=key, type=kind, help=text)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a base config key")
    p.add_argument("--trials", type=int, default=20, help="finished trials in all (default 20)")
    p.add_argument("--space", help="search space file (TOML: KEY = {low, high, log} or "
                   "{choices = [...]}; model_options.NAME for a constructor option)")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe")
    p.add_argument("--storage", help="Optuna storage URL (default sqlite:///OUT/study.db; "
                   "postgresql://... for workers on many machines)")
    p.add_argument("--workers", type=int, help="local worker processes sharing the study")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--worker-of-parent", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_tune, tensorboard=False)

    p = sub.add_parser("demo", help="the main job: two models trained and compared in minutes",
                       description=cmd_demo.__doc__)
    p.add_argument("--out", default="demo_runs", help="output folder (default demo_runs)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    sub.add_parser("models", help="list the registered model names").set_defaults(
        func=lambda args: print("\n".join(MODEL_NAMES)) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except Interrupted as err:
        print(f"unfoldrnn: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("unfoldrnn: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"unfoldrnn: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file system that refuses (read-only, full, not a folder)
        where = f"{err.filename}: " if err.filename else ""
        print(f"unfoldrnn: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
