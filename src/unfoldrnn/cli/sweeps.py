"""reproduce, tune: the papers' tables as sweeps of runs, and hyperparameter searches."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import ConfigError
from ..models import MODEL_NAMES
from .common import add_train_flags, command_line, config_from_args, json_or_text, set_values

SPECIAL_TABLES = ("paper000-table4", "paper003-noise", "paper002-fig4", "paper002-families",
                  "certified", "certificates", "learnability")
IN_PROCESSES = ("certificates", "learnability")  # the special tables that take --workers


def cmd_reproduce(args) -> int:
    from ..experiments import TABLES, bound_experiments, resolve, run_table
    from ..train import check_writable

    started = time.perf_counter()
    if args.seeds is not None and args.seeds < 1:  # (0 is no number of seeds either)
        raise ConfigError(f"--seeds must be a positive integer, got {args.seeds}")
    check_writable(Path(args.out))
    if args.table in SPECIAL_TABLES:
        used = [flag for flag, on in (("--collect", args.collect), ("--storage", args.storage),
                                      ("--workers", args.workers and
                                       args.table not in IN_PROCESSES),
                                      ("--values", args.values),
                                      ("--models", args.models and
                                       args.table != "learnability"),
                                      ("--tuned", args.tuned),
                                      ("--set", args.set)) if on]
        if used:
            raise ConfigError(f"{args.table} runs its own fixed set of runs in one process "
                              f"and takes no {', '.join(used)} (those are for the paper "
                              f"tables: {', '.join(TABLES)}); rerun the same command to "
                              "resume it")
        if args.data is None and args.table != "learnability":
            raise ConfigError(f"{args.table} needs --data (a Speech Commands folder; "
                              "paper002-fig4: a WikiText-2 folder)")
        from ..experiments.certificates import run_certificates
        from ..experiments.families import run_families
        from ..experiments.learnability import run_learnability

        special = {"paper000-table4": bound_experiments.run_table4,
                   "paper003-noise": bound_experiments.run_noise,
                   "certified": bound_experiments.run_certified,
                   "paper002-fig4": bound_experiments.run_fig4,
                   "paper002-families": run_families,
                   "certificates": lambda *a, **kw: run_certificates(  # cells in processes
                       *a, **kw, workers=args.workers or 1),
                   "learnability": lambda *a, **kw: run_learnability(
                       *a, **kw, workers=args.workers or 1, models=args.models)}
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
              command=command_line(args))
    folder = resolve(args.table).folder
    print(f"wrote {args.out}/{folder}/{folder}.md, .csv and .json "
          f"in {(time.perf_counter() - started) / 60:.1f} min")
    return 0



def _reproduce_overrides(args) -> tuple[dict | None, list | None]:
    """(--set and --tensorboard as config keys, the --values of the swept key)."""
    values = [json_or_text(v) for v in args.values] if args.values else None
    overrides = set_values(args, per_model=True)
    if args.tuned:
        from ..experiments import resolve
        from ..experiments.sweep import sweep_values
        from ..tune import schedule_conflicts, tuned_overrides

        spec = resolve(args.table)
        tuned = tuned_overrides(args.tuned, args.models or spec.models, spec.key,
                                values or sweep_values(spec, args.scale))
        conflicts = schedule_conflicts(tuned, overrides or {})
        if conflicts:
            raise ConfigError(f"--set {'; '.join(conflicts)}: the final runs take the "
                              "schedule their search trained with (tune with it instead)")
        overrides = {**tuned, **(overrides or {})}  # --set wins over the searches
    return overrides or None, values


def _reproduce_study(args, started: float) -> int:
    """reproduce as an Optuna study: --storage, --workers N, --collect."""
    from ..experiments import resolve, study
    from ..experiments.sweep import table_configs, write_table

    spec = resolve(args.table)
    overrides, values = _reproduce_overrides(args)
    seeds, command = args.seeds or 1, command_line(args)
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



def cmd_tune(args) -> int:
    from .. import tune

    base = config_from_args(args)
    if args.trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {args.trials}")
    space = tune.read_space(args.space) if args.space else tune.default_space(base)
    if args.worker_of_parent:  # one of run()'s workers: trials only, the parent summarises
        tune.work(base, space, Path(args.out), args.trials, args.storage, args.sampler)
        return 0
    from ..train import check_writable

    check_writable(Path(args.out))
    argv = [a for a in args.argv if a not in ("--quiet",)]
    if "--workers" in argv:  # the workers get their own --workers 1
        i = argv.index("--workers")
        del argv[i:i + 2]
    summary = tune.run(base, space, args.out, args.trials, args.storage, args.workers or 1,
                       args.sampler, command_line(args), argv, progress=not args.quiet)
    print(f"best {summary['metric']} {summary['best_value']:.4g} (trial "
          f"{summary['best_trial']} of {len(summary['trials'])}): {summary['best_params']}")
    print(f"wrote {args.out}/best.toml (unfoldrnn train --config {args.out}/best.toml) and "
          f"{args.out}/summary.json")
    return 0



def add_reproduce(sub) -> None:
    from ..experiments import ALIASES, TABLES
    from ..experiments.sweep import CPU_MINUTES

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
                       "beat (~3.5 h of training on one core); learnability: every model "
                       "with its defaults on sequential MNIST, a noisy-frequency and a "
                       "time-order task and Google-12, 3 seeds, with a logistic-regression "
                       "floor (--data: a folder with mnist/ and speech_commands/; without "
                       "it the synthetic tasks only; --workers, --models). Older names: "
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



def add_tune(sub) -> None:
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
    add_train_flags(p, with_defaults=False)
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

